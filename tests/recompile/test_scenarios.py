"""Every recompile scenario under every dynamic-shape strategy, against the expected-behaviour table.

Counts live in baselines/expected/torch<minor>-transformers<minor>.csv, never in this file; a
difference in either direction fails with the row to paste. The assertions here are the claims
that hold whatever the counts: why each recompile happened, and that fallbacks are never hidden.
"""

import pytest

from ragperf.compile.scenarios import SCENARIOS, cases
from ragperf.compile.strategies import STRATEGIES

pytestmark = pytest.mark.recompile
BACKEND = "eager"  # Dynamo-only questions: no Inductor needed


def _explained(result, kinds):
    reasons = "\n".join(f"[{r.kind}] {r.reason}" for r in result.report.recompile_list)
    assert all(r.kind in kinds for r in result.report.recompile_list), f"unexplained recompile(s):\n{reasons}"


SEMANTICS = {
    # the blog's case: the batch-1 query recompiles only because of 0/1 specialization
    "index16-query1": lambda r: _explained(r, {"0/1-specialization"}),
    # on transformers >= 5.24 the one-token step also re-enters its deprecation wrapper with other arguments
    "seq1": lambda r: _explained(r, {"0/1-specialization", "shape", "call-arity"}),
    "odd-lengths": lambda r: _explained(r, {"shape"}),
    # inference tensors from the index pass vs normal tensors at query time
    "grad-mode": lambda r: _explained(r, {"dispatch-keys", "grad-mode"}),
    # decode after prefill, a growing KV cache, a longer prefill: nothing else may recompile a decoder
    "prefill5-decode-prefill10": lambda r: _explained(r, {"0/1-specialization", "shape", "kv-cache-state"}),
    "static-cache-two-prompts": lambda r: _explained(r, {"0/1-specialization", "shape", "kv-cache-state"}),
}


# maybe_mark_dynamic behaves like mark_dynamic on these models; beyond the blog's case it runs in the slow lane
# to keep the default run within its time budget on 2 cores
SLOW = {(name, "maybe_mark_dynamic") for name in ("odd-lengths", "seq1", "warmup-steady", "grad-mode")}


@pytest.mark.parametrize(("name", "strategy_name"), [
    pytest.param(*c, id="-".join(c), marks=[pytest.mark.slow] if c in SLOW else []) for c in cases()])
def test_scenario_matches_expected_table(name, strategy_name, scenario_models, expected_compile):
    chosen, strategy = SCENARIOS[name], STRATEGIES[strategy_name]
    if strategy.missing():
        pytest.skip(strategy.missing())
    # a steady window (after warm-up) runs under set_stance("fail_on_recompile"): any recompile fails here
    result = chosen.run(scenario_models[chosen.model], strategy, backend=BACKEND, gate=chosen.warmup is not None)
    report = result.report
    print(report.summary())
    assert report.error is None, report.summary()
    # first the table: a drifted row is then in the drift summary, also when a claim below fails
    expected_compile.verify((name, strategy_name, BACKEND), report)
    if report.fallbacks:  # e.g. mark_unbacked: one graph, but frames run eagerly - never shown as clean
        assert not report.clean and "NOT A CLEAN COMPILE" in report.summary()
    if result.steady is not None:
        assert result.steady.graphs == 0 and result.steady.recompiles == 0, result.steady.summary()
    if name in SEMANTICS:
        SEMANTICS[name](result)
