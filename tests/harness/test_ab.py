"""The interleaved A/B gate (ragperf.perf.ab) on synthetic, seeded per-process figures: the ABBA order, the
Hodges-Lehmann shift, the judgement with its settling re-measure, what each side's processes run, and its
proof campaign (``prove-gate --pairs``)."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragperf import cli
from ragperf.perf import ab, gate, proof

PREFIX = "embed/tiny-bert/compile"


def _figures(n, level=1.3, sd=0.01, seed=0, slowdown=0.0):
    """Per-process figures of ``n`` processes: speedup ``level`` with a lognormal spread ``sd`` between them."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        draw = rng.lognormal(0, sd)
        out.append({"speedup": level / (1 + slowdown) * draw, "speedup_se": 0.004, "median_s": 0.01 * (1 + slowdown) / draw,
                    "latency_se": 0.004, "slowdown": slowdown})
    return out


def _speedup(decisions):
    return next(d for d in decisions if d.metric == f"{PREFIX}/speedup")


@pytest.mark.parametrize("pairs", [1, 2, 3, 4, 5, 8])
def test_the_order_alternates_abba_so_a_linear_drift_cancels(pairs):
    sides = ab.order(pairs)
    assert sides.count(ab.REFERENCE) == sides.count(ab.CANDIDATE) == pairs
    assert all(sides[i] != sides[i + 1] for i in range(0, 2 * pairs, 2))  # every pair has both sides
    positions = {side: [i for i, s in enumerate(sides) if s == side] for side in (ab.REFERENCE, ab.CANDIDATE)}
    if pairs % 2 == 0:  # ABBA blocks: both sides sit at the same mean time
        assert sum(positions[ab.REFERENCE]) == sum(positions[ab.CANDIDATE])


@given(st.floats(0.5, 3.0), st.floats(0.8, 1.25), st.integers(0, 10_000))
def test_the_shift_is_the_candidates_change_at_any_level(level, factor, seed):
    reference = [f["speedup"] for f in _figures(5, level, seed=seed)]
    candidate = [v * factor for v in reference[::-1]]  # the same processes' draws, moved by `factor`
    change, se = ab.shift(reference, candidate)
    assert change == pytest.approx(factor - 1, rel=1e-9, abs=1e-12)
    assert se > 0


def test_one_odd_process_barely_moves_the_shift_where_a_mean_would_follow_it():
    reference = [1.30, 1.31, 1.29, 1.30, 1.30]
    candidate = [1.30, 1.31, 1.29, 1.30, 1.56]  # one process drew a 20% faster layout
    change, _ = ab.shift(reference, candidate)
    assert abs(change) < 0.01
    assert np.mean(candidate) / np.mean(reference) - 1 > 0.035  # the mean would have moved 4%


def test_the_se_grows_with_the_spread_between_processes_and_shrinks_with_more_of_them():
    def se(n, sd):
        return ab.shift([f["speedup"] for f in _figures(n, sd=sd, seed=1)],
                        [f["speedup"] for f in _figures(n, sd=sd, seed=2)])[1]

    assert se(5, 0.02) > 1.5 * se(5, 0.005)
    assert se(20, 0.02) < se(5, 0.02)
    assert ab.shift([1.3] * 5, [1.3] * 5, within=0.01)[1] > 0  # processes that agree still carry their jitter


@pytest.mark.parametrize(("slowdown", "status"), [(0.0, gate.PASS), (0.05, gate.FAIL)])
def test_a_planted_5_percent_fails_and_an_a_a_comparison_passes(slowdown, status):
    decisions = ab.judge(PREFIX, _figures(5, seed=3), _figures(5, seed=4, slowdown=slowdown))
    assert _speedup(decisions).status == status, _speedup(decisions).message
    assert {d.metric for d in decisions} == {f"{PREFIX}/speedup", f"{PREFIX}/median_s"}


def test_a_drift_both_sides_share_cancels_where_a_stored_baseline_would_cry_wolf():
    reference, candidate = _figures(5, level=1.3 * 0.95, seed=5), _figures(5, level=1.3 * 0.95, seed=6)
    assert _speedup(ab.judge(PREFIX, reference, candidate)).status == gate.PASS
    stored = {"kind": "speedup", "value": 1.3, "se": 0.003}
    measured = gate.Measurement("x", "speedup", float(np.median([f["speedup"] for f in candidate])), 0.005,
                                processes=[f["speedup"] for f in candidate])
    assert gate.judge(measured, stored).status == gate.FAIL


def test_a_suspect_is_settled_on_a_second_measure_pooled_with_the_first():
    calls = []

    def measure():
        calls.append(1)
        if len(calls) == 1:  # an unlucky first draw: the candidate 6% lower with a wide spread
            return _figures(3, seed=7, sd=0.002), _figures(3, seed=8, sd=0.002, slowdown=0.065)
        return _figures(12, seed=9, sd=0.002), _figures(12, seed=10, sd=0.002)

    final = _speedup(ab.decide(PREFIX, measure))
    assert len(calls) == 2
    assert (final.attempts, final.first.status, final.status) == (2, gate.FAIL, gate.PASS), final.message
    assert len(final.measured.processes) == 15  # judged on both measures pooled
    assert "(re-measured in 12 more pairs of processes, judged pooled; first: FAIL)" in final.message


def test_a_clear_comparison_is_measured_once_and_a_report_only_metric_never_fails():
    calls = []

    def measure():
        calls.append(1)
        return _figures(5, seed=11), _figures(5, seed=12, slowdown=0.1)  # latency +10%: no suspect

    decisions = ab.decide(PREFIX, measure, report_only={f"{PREFIX}/speedup": "measured reason"})
    assert len(calls) == 1  # the only suspect is report-only: nothing to settle
    assert _speedup(decisions).status == gate.REPORT
    assert "FAIL; report only: measured reason" in _speedup(decisions).message


def test_each_side_runs_on_its_own_interpreter_and_only_the_candidate_is_planted(monkeypatch):
    from ragperf.perf.cases import Case

    ran = []

    def run_json(module, args, python=None, **kwargs):
        ran.append((python, float(args[args.index("--slowdown") + 1])))
        return {"speedup": 1.3}

    monkeypatch.setattr("ragperf.subproc.run_json", run_json)
    reference, candidate = ab.measure(Case("embed", "tiny-bert", "compile"), 2, "/old/bin/python", slowdown=0.05)
    assert ran == [("/old/bin/python", 0.0), (sys.executable, 0.05), (sys.executable, 0.05), ("/old/bin/python", 0.0)]
    assert len(reference) == len(candidate) == 2


def test_decode_is_measured_over_more_rounds_unless_rounds_are_given():
    from ragperf.perf.cases import DEFAULT_CASES

    rounds = {c.kind: ab.with_rounds(c).rounds for c in DEFAULT_CASES}
    assert rounds == {"embed": 60, "decode": ab.ROUNDS["decode"]} and ab.ROUNDS["decode"] > 30
    assert {ab.with_rounds(c, 7).rounds for c in DEFAULT_CASES} == {7}


def test_the_interpreter_probe_reports_the_versions_of_its_environment(tmp_path):
    import torch
    import transformers

    import ragperf
    from ragperf import interpreters

    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # this environment's python
    (venv / "python").chmod(0o755)
    python = interpreters.resolve(str(tmp_path / "venv"))  # a venv folder stands for its bin/python
    assert python == str(venv / "python")
    assert interpreters.probe(python, "venv", "ragperf.perf.cases") == {
        "ragperf": ragperf.__file__, "torch": torch.__version__, "transformers": transformers.__version__,
        "schema": None}


def test_the_ab_plan_adds_a_reference_per_run_and_runs_are_disjoint_distinct_processes():
    values = proof.plan(aa_runs=20, slowdowns=[0.05], planted_runs=10, size=5, seed=0, ab=True)
    assert (values.count(0.0), values.count(0.05)) == (20 * 10 + 10 * 5, 10 * 5)
    runs = [(p, {"slowdown": s, "id": (p, i)}) for p in range(12) for i, s in enumerate(values[p::12])]
    grouped = proof.ab_groups(runs, 5)
    assert {s: len(g) for s, g in grouped.items()} == {0.05: 10, 0.0: 20}
    used = []
    for slowdown, pairs in grouped.items():
        for reference, candidate in pairs:
            assert [f["slowdown"] for f in reference] == [0.0] * 5
            assert [f["slowdown"] for f in candidate] == [slowdown] * 5
            assert len({f["id"][0] for f in reference + candidate}) == 10  # 10 distinct processes
            used += [f["id"] for f in reference + candidate]
    assert len(used) == len(set(used)) == len(values)


def _saved_campaign(path, processes=8, pairs=3):
    """A campaign as ``prove-gate --pairs PAIRS --save PATH`` keeps it, of synthetic values."""
    values = proof.plan(aa_runs=20, slowdowns=[0.05], planted_runs=10, size=pairs, seed=1, ab=True)
    rng = np.random.default_rng(2)
    runs = []
    for p in range(processes):
        draw = rng.lognormal(0, 0.01)  # each process's own draw, shared by its values
        runs += [(p, {**f, "speedup": f["speedup"] * draw}) for f in (
            _figures(1, seed=100 * p + i, sd=0.005, slowdown=s)[0] for i, s in enumerate(values[p::processes]))]
    proof.save(path, {PREFIX: runs}, [proof.SPEEDUP], "some-machine")
    return path


def test_prove_gate_pairs_judges_a_saved_campaign_as_interleaved_runs(tmp_path, capsys):
    saved = _saved_campaign(tmp_path / "campaign.json")
    code = cli.main(["baseline", "prove-gate", "--load", str(saved), "--pairs", "3"])
    out = capsys.readouterr().out
    rows = {cells[3]: cells for cells in (line.split(" | ") for line in out.splitlines() if line.startswith(f"| {PREFIX}"))}
    assert code == 0, out
    assert "interleaved A/B on some-machine" in out
    assert (rows["A/A (none)"][4], rows["A/A (none)"][6]) == ("20", "0"), out
    assert (rows["5%"][4], rows["5%"][6]) == ("10", "10"), out


def test_prove_gate_pairs_refuses_a_saved_campaign_of_too_few_processes(tmp_path, capsys):
    saved = _saved_campaign(tmp_path / "campaign.json")
    assert cli.main(["baseline", "prove-gate", "--load", str(saved), "--pairs", "5"]) == 2
    assert ("spread its values over 8 processes, fewer than the 10 distinct ones a gated run of --pairs 5 needs: "
            "give a smaller --pairs") in capsys.readouterr().err


def test_compare_against_a_reference_interpreter_fails_a_planted_slowdown(tmp_path, capsys, monkeypatch):
    """The real command: fresh processes on both interpreters (here the same one), the candidate's planted."""
    import json

    from ragperf.perf import clocks

    monkeypatch.setenv(clocks.ENV, "0.001")  # virtual seconds in every child: the verdict cannot depend on load
    report = tmp_path / "gate.json"
    code = cli.main(["baseline", "compare", "--reference", sys.executable, "--cases",
                     "embed:tiny-bert:compile@aot_eager", "--pairs", "1", "--rounds", "5", "--plant-slowdown", "0.5",
                     "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"against the interleaved reference {sys.executable} (torch" in out
    decision = next(d for d in json.loads(report.read_text())["decisions"] if d["metric"].endswith("/speedup"))
    assert (decision["status"], decision["attempts"]) == (gate.FAIL, 2), decision
    assert decision["change"] == pytest.approx(1 / 1.5 - 1), decision
    assert json.loads(report.read_text())["baseline"].startswith(f"interleaved reference {sys.executable}")
