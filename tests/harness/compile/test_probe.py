"""Unit tests of the compile probe, the steady-state gate, strategies and shape parsing (toy functions, no models)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch._dynamo.testing import CompileCounterWithBackend

from ragperf.compile.probe import (
    COUNT_FIELDS,
    CompileProbe,
    ProbeReport,
    Recompile,
    RecompileInSteadyState,
    steady_state,
)
from ragperf.compile.scenarios import parse_shapes
from ragperf.compile.strategies import STRATEGIES, StrategyUnavailable, strategy
from ragperf.errors import RagperfError


def _toy(x):
    return torch.relu(x * 2 + 1).sum(0)


def test_probe_counts_agree_with_an_independent_counting_backend():
    counter = CompileCounterWithBackend("eager")
    compiled = torch.compile(_toy, backend=counter)
    with CompileProbe() as probe:
        for n in (4, 5, 6, 1):
            compiled(torch.ones(n, 3))
    report = probe.report
    assert report.graphs == counter.frame_count > 1
    assert report.recompiles == counter.frame_count - 1  # every graph after the first was a recompile
    assert report.frames_total == report.frames_ok and report.fallbacks == 0 and report.clean
    assert report.ops_captured > 0 and report.dynamo_s > 0
    assert all(r.reason.startswith(("0/", "1/")) for r in report.recompile_list)


def test_probe_sees_only_its_own_block():
    compiled = torch.compile(_toy, backend="eager")
    compiled(torch.ones(4, 3))
    with CompileProbe() as probe:
        compiled(torch.ones(4, 3))  # cached: nothing compiles inside the block
    assert probe.report.counts() == dict.fromkeys(COUNT_FIELDS, 0)


def test_probe_counts_graph_breaks_with_reasons():
    def broken(x):
        x = x + 1
        torch._dynamo.graph_break()
        return x * 2

    with CompileProbe() as probe:
        torch.compile(broken, backend="eager")(torch.ones(3))
    assert probe.report.graph_breaks == 1 and probe.report.graphs == 2
    assert probe.report.break_reasons and not probe.report.clean


def test_steady_state_names_the_failed_guard():
    compiled = torch.compile(_toy, backend="eager", dynamic=False)
    compiled(torch.ones(4, 3))
    with pytest.raises(RecompileInSteadyState, match=r"size mismatch at index 0\. expected 4, actual 9"):
        with steady_state():
            compiled(torch.ones(9, 3))


def test_steady_state_passes_without_recompiles_and_lets_other_errors_through():
    compiled = torch.compile(_toy, backend="eager")
    compiled(torch.ones(4, 3))
    with steady_state():
        compiled(torch.ones(4, 3))
    with pytest.raises(ValueError, match="not a recompile"), steady_state():
        raise ValueError("not a recompile")


@pytest.mark.parametrize(("reason", "kind"), [
    ("0/0: tensor 'kwargs['input_ids']' size mismatch at index 0. expected 16, actual 1", "0/1-specialization"),
    ("0/0: 2 <= kwargs['input_ids'].size()[0]  # (... due to 0/1 specialization in the framework ...)",
     "0/1-specialization"),
    ("0/0: tensor 'kwargs['input_ids']' size mismatch at index 1. expected 7, actual 13", "shape"),
    ("0/0: tensor 'kwargs['input_ids']' size mismatch at index 1. expected 7, actual 10", "shape"),
    ("0/0: kwargs['past_key_values'].layers[0].is_initialized == False  # if not self.is_initialized", "kv-cache-state"),
    ("0/0: GLOBAL_STATE changed: grad_mode ", "grad-mode"),
    ("0/0: tensor 'args[0]' dispatch key set mismatch. expected DispatchKeySet(CPU), actual ...", "dispatch-keys"),
    # transformers 5.24 traces its deprecation wrapper as a frame (seq1 under backed_size_oblivious)
    ("4/0: len(args) == 1        # func_name = f\"{args[0].__class__.__name__}\"  # transformers/utils/deprecation.py:126",
     "call-arity"),
    ("0/0: ___check_obj_id(L['self'], 1234)", "other"),
    ("0/0: len(L['self'].layers) == 2", "other"),  # a container's length is not a call's arity
])
def test_recompile_reasons_are_classified(reason, kind):
    assert Recompile(reason).kind == kind
    assert bool(Recompile(reason).hint) == (kind != "other")


def test_summary_never_calls_a_compile_with_fallbacks_clean():
    report = ProbeReport(graphs=1, frames_total=13, frames_ok=10, ops_captured=95,
                         fallback_reasons=["Failed to handle graph break gracefully"])
    assert report.fallbacks == 3 and not report.clean
    assert "NOT A CLEAN COMPILE: 3 frame(s) fell back to eager" in report.summary()
    assert "NOT A CLEAN" not in ProbeReport(graphs=1, frames_total=3, frames_ok=3).summary()


def test_strategy_names_and_aliases():
    assert strategy("dynamic=True") is STRATEGIES["dynamic"]
    assert strategy("auto").compile_kwargs() == {"dynamic": None}
    with pytest.raises(RagperfError, match="unknown dynamic-shape strategy 'static'; choose from auto"):
        strategy("static")


def test_a_strategy_this_torch_lacks_names_the_torch_version(monkeypatch):
    monkeypatch.delattr(torch._dynamo, "maybe_mark_dynamic")
    chosen = STRATEGIES["maybe_mark_dynamic"]
    assert torch.__version__ in chosen.missing()
    with pytest.raises(StrategyUnavailable, match=r"needs torch\._dynamo\.maybe_mark_dynamic, which torch "):
        chosen.prepare({"input_ids": torch.ones(2, 3)})


@pytest.mark.parametrize("name", ["mark_dynamic", "maybe_mark_dynamic", "mark_unbacked", "backed_size_oblivious"])
def test_marking_strategies_mark_batch_and_sequence(name):
    ids, mask = torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)
    STRATEGIES[name].prepare({"input_ids": ids, "attention_mask": mask})
    for t in (ids, mask):
        marked = set(getattr(t, "_dynamo_dynamic_indices", set())) | set(getattr(t, "_dynamo_unbacked_indices", set()))
        marked |= set(getattr(t, "_dynamo_weak_dynamic_indices", set()))
        assert {0, 1} <= marked, (name, vars(t))


@given(st.lists(st.tuples(st.integers(1, 4096), st.integers(1, 4096)), min_size=1, max_size=6))
def test_parse_shapes_round_trips(shapes):
    assert parse_shapes(",".join(f"{b}x{n}" for b, n in shapes)) == shapes


@pytest.mark.parametrize("text", ["", "16", "16x", "x8", "16x8,", "16*8", "0x8", "4x0", "-1x8", "16x8x2"])
def test_malformed_shapes_are_one_clear_error(text):
    with pytest.raises(RagperfError, match="write BATCHxLENGTH"):
        parse_shapes(text)
