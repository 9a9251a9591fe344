"""Every recompile scenario under every dynamic-shape strategy, against the expected-behaviour table.

Counts live in baselines/expected/torch<minor>-transformers<minor>.csv, never in this file; a
difference in either direction fails with the row to paste. The assertions here are the claims
that hold whatever the counts: why each recompile happened, and that fallbacks are never hidden.

Each scenario runs on its own tiny model and on each model ``--ragperf-embedder`` / ``--ragperf-decoder``
names (embedder or decoder scenarios; ids end with the model). Rows are keyed by model (``name@model`` in
the scenario column); a model with no rows in the table gets the claims checked and its measured row
reported in the skip reason, until ``--ragperf-update-expected`` records its rows.
"""

import pytest

from ragperf.compile.expected import format_row
from ragperf.compile.scenarios import SCENARIOS, cases, table_scenario
from ragperf.compile.strategies import STRATEGIES
from ragperf.models import under_test
from ragperf.plugin import models_given

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every (scenario, strategy) on the scenario's own model, then on each model of the option of its kind."""
    if metafunc.definition.name != "test_scenario_matches_expected_table":
        return
    judged = {}
    for kind in ("embedder", "decoder"):
        given = models_given(metafunc.config, kind)
        judged[kind] = [] if under_test.is_default(given, kind) else under_test.models(given, kind, own=False)
    params = []
    for c in cases():
        chosen = SCENARIOS[c[0]]
        others = [m for m in judged[chosen.kind] if m != chosen.model]
        for model, label in zip([chosen.model, *others], [None, *under_test.labels(others)], strict=True):
            params.append(pytest.param(*c, model, id="-".join([*c, *([label] if label else [])]),
                                       marks=[pytest.mark.slow] if c in SLOW else []))
    metafunc.parametrize(("name", "strategy_name", "model"), params)


def test_scenario_matches_expected_table(name, strategy_name, model, scenario_models, expected_compile):
    chosen, strategy = SCENARIOS[name], STRATEGIES[strategy_name]
    if strategy.missing():
        pytest.skip(strategy.missing())
    # a steady window (after warm-up) runs under set_stance("fail_on_recompile"): any recompile fails here
    result = chosen.run(scenario_models[model, chosen.kind], strategy, backend=BACKEND, gate=chosen.warmup is not None)
    report = result.report
    print(report.summary())
    assert report.error is None, report.summary()
    key = (table_scenario(name, under_test.label(model)), strategy_name, BACKEND)
    suffix = key[0][len(name):]  # "@model" for a model other than the scenario's own
    unrecorded = bool(suffix) and expected_compile.recording is None and not any(
        k[0].endswith(suffix) for k in expected_compile.rows)
    if not unrecorded:  # first the table: a drifted row is then in the drift summary, also when a claim below fails
        expected_compile.verify(key, report)
    if report.fallbacks:  # e.g. mark_unbacked: one graph, but frames run eagerly - never shown as clean
        assert not report.clean and "NOT A CLEAN COMPILE" in report.summary()
    if result.steady is not None:
        assert result.steady.graphs == 0 and result.steady.recompiles == 0, result.steady.summary()
    if name in SEMANTICS:
        SEMANTICS[name](result)
    if unrecorded:  # the claims hold; its counts are a row the table does not have yet
        pytest.skip(f"{under_test.label(model)} has no rows in {expected_compile.path.name}; measured row "
                    f"{format_row(key, report.counts())}; record its rows: pytest tests/recompile "
                    f"--ragperf-{chosen.kind} {model} --ragperf-update-expected")
