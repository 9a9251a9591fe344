"""Metric kinds are objects (ragperf.perf.metrics): a new kind is one registered object, and the gate judges it,
the summary shows it, baselines store and load it and the proof campaigns' tables show it - no other change."""

import pytest

from ragperf.errors import RagperfError
from ragperf.perf import baselines, fleet, gate, metrics, proof
from ragperf.perf.metrics import HIGHER, MetricKind
from ragperf.perf.plugin import report_json

TOKENS = MetricKind("tokens_per_s", HIGHER, tolerance=0.04, z=2.0, formatter=lambda v: f"{v:.0f} tok/s",
                    about="compiled decode tokens per second")
NAME = "decode/d/compile-decode/tokens_per_s"


@pytest.fixture
def tokens():
    kind = metrics.register(TOKENS)
    yield kind
    del metrics.KINDS[kind.name]


def _tokens(value: float, se: float = 0.002) -> gate.Measurement:
    return gate.Measurement(NAME, "tokens_per_s", value, se)


def test_an_unregistered_kind_is_refused_in_one_line():
    with pytest.raises(RagperfError, match="unknown metric kind 'tokens_per_s'; choose from speedup, latency"):
        baselines.metric("tokens_per_s", 1000.0, 0.002)
    with pytest.raises(RagperfError, match="unknown metric kind"):
        _tokens(1000.0).shown()


def test_a_new_kind_is_judged_shown_stored_and_proven(tokens, tmp_path):
    fp = {"key": "k", "arch": "x86_64"}
    path = baselines.record(fp, {NAME: baselines.metric("tokens_per_s", 1000.0, 0.002, processes=[998.0, 1000.0,
                                                                                                    1002.0])}, tmp_path)
    base = baselines.load(path)  # stored and validated by its registered name
    assert base.metrics[NAME]["kind"] == "tokens_per_s" and base.metrics[NAME]["value"] == 1000.0

    assert gate.gate({NAME: _tokens(975.0)}, base)[0].status == gate.PASS  # a 2.5% drop: inside its 4%
    slower = gate.gate({NAME: _tokens(900.0)}, base)
    assert slower[0].status == gate.FAIL
    assert f"{NAME}: tokens_per_s 900 tok/s is 10.0% below baseline 1000 tok/s" in slower[0].message
    assert "max(tolerance 4.0%, 2 x noise" in slower[0].message
    assert gate.gate({NAME: _tokens(1100.0)}, base)[0].status == gate.PASS  # higher is better
    table = gate.table(slower)
    assert "900 tok/s" in table and "1000 tok/s" in table and "-10.0%" in table and "-4.0%" in table

    report = tmp_path / "gate.json"  # a gate report with the kind loads back for `ragperf baseline summary`
    report.write_text(__import__("json").dumps(report_json(slower, fp, base)))
    assert fleet.load_report(report).decisions[0].measured.shown() == "900 tok/s"

    decisions = proof.judge(NAME, [{"tokens": 900.0}] * 3, lambda figures: {NAME: _tokens(figures["tokens"])},
                            base, {"tolerance": None})
    row = proof.row("decode/d/compile-decode", "tokens_per_s", 0.1, decisions, base.metrics[NAME])
    assert (row.kind, row.runs, row.red) == ("tokens_per_s", 3, 3)
    assert "| 1000 tok/s (" in proof.markdown([row])[2] and "| 900 tok/s |" in proof.markdown([row])[2]


def test_a_kind_name_means_one_kind(tokens):
    assert metrics.register(TOKENS) is TOKENS and metrics.kind("tokens_per_s") is TOKENS
    with pytest.raises(RagperfError, match="'speedup' is already registered as another kind"):
        metrics.register(MetricKind("speedup", HIGHER, 0.01, 1.0, str, "another speedup"))
    with pytest.raises(RagperfError, match="better must be"):
        MetricKind("odd", "sideways", 0.01, 1.0, str, "no direction")


@pytest.mark.parametrize("name", ["speedup", "latency", "compile", "compile_units", "memory"])
def test_every_built_in_kind_passes_a_small_change_and_fails_a_large_regression(name):
    kind = metrics.kind(name)
    worse = 1.3 if kind.better == metrics.LOWER else 1 / 1.3
    base = baselines.metric(name, 2.0, 0.001)
    assert gate.judge(gate.Measurement("x", name, 2.0 * 1.01, 0.001), base).status == gate.PASS
    failed = gate.judge(gate.Measurement("x", name, 2.0 * worse, 0.001), base)
    assert failed.status == gate.FAIL and kind.shown(2.0 * worse) in failed.message


@pytest.mark.parametrize(("name", "tolerance"), [("speedup", 0.05), ("compile", 0.05), ("compile_units", 0.05),
                                                 ("memory", 0.10)])
def test_each_kind_applies_its_own_tolerance_unless_stored_or_given(name, tolerance):
    kind = metrics.kind(name)
    sign = 1 if kind.better == metrics.LOWER else -1
    just_inside = gate.Measurement("x", name, 2.0 * (1 + sign * (tolerance - 0.005)), 0.001)
    just_beyond = gate.Measurement("x", name, 2.0 * (1 + sign * (tolerance + 0.005)), 0.001)
    base = baselines.metric(name, 2.0, 0.001)
    assert gate.judge(just_inside, base).status == gate.PASS
    assert gate.judge(just_beyond, base).status == gate.FAIL
    assert gate.judge(just_beyond, {**base, "tolerance": tolerance + 0.01}).status == gate.PASS  # stored wins
    assert gate.judge(just_beyond, base, tolerance=tolerance + 0.01).status == gate.PASS  # given wins
