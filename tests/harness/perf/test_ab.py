"""The interleaved A/B gate (ragperf.perf.ab) and its lockstep pairs of processes (ragperf.perf.lockstep): the
ABBA round order, the paired Hodges-Lehmann estimate, the judgement with its settling re-measure, what each side
runs, the worker protocol and its failures, and the proof campaign (``prove-gate --pairs``)."""

import json
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragperf import cli
from ragperf.perf import ab, gate, lockstep, proof

PREFIX = "embed/tiny-bert/compile"


def _figures(n, level=1.3, sd=0.01, seed=0, slowdown=0.0):
    """Per-process figures of ``n`` processes: speedup ``level`` with a lognormal spread ``sd`` between them."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        draw = rng.lognormal(0, sd)
        out.append({"speedup": level / (1 + slowdown) * draw, "speedup_se": 0.004, "median_s": 0.01 * (1 + slowdown) / draw,
                    "latency_se": 0.004, "recompiles_while_timed": 0, "slowdown": slowdown})
    return out


def _speedup(decisions):
    return next(d for d in decisions if d.metric == f"{PREFIX}/speedup")


@pytest.mark.parametrize("rounds", [2, 4, 8, 60, 90])
def test_the_sides_take_the_rounds_in_abba_order_so_a_linear_drift_cancels(rounds):
    sequence = [side for k in range(rounds) for side in lockstep.order(k)]
    assert sequence[:4] == [ab.REFERENCE, ab.CANDIDATE, ab.CANDIDATE, ab.REFERENCE]
    positions = {side: [i for i, s in enumerate(sequence) if s == side] for side in (ab.REFERENCE, ab.CANDIDATE)}
    assert len(positions[ab.REFERENCE]) == len(positions[ab.CANDIDATE]) == rounds
    assert sum(positions[ab.REFERENCE]) == sum(positions[ab.CANDIDATE])  # both sides sit at the same mean time


@given(st.floats(0.5, 3.0), st.floats(0.8, 1.25), st.integers(0, 10_000))
def test_the_shift_is_the_candidates_change_at_any_level(level, factor, seed):
    reference = [f["speedup"] for f in _figures(5, level, seed=seed)]
    candidate = [v * factor for v in reference]  # each pair's shared draw, moved by `factor`
    change, se = ab.shift(reference, candidate, within=0.001)
    assert change == pytest.approx(factor - 1, rel=1e-9, abs=1e-12)
    assert se > 0


def test_a_draw_both_sides_of_a_pair_share_cancels_in_the_paired_estimate():
    rng = np.random.default_rng(3)
    draws = rng.lognormal(0, 0.05, 8)  # each pair a different state of the machine: levels spread 5%
    reference = list(1.3 * draws * rng.lognormal(0, 0.002, 8))
    candidate = list(1.3 / 1.05 * draws * rng.lognormal(0, 0.002, 8))  # 5% slower in every pair
    change, se = ab.shift(reference, candidate)
    assert change == pytest.approx(1 / 1.05 - 1, abs=0.003)
    assert se < 0.003  # the pairs' ratios agree; their shared 5% spread is not noise here


def test_one_odd_pair_barely_moves_the_shift_where_a_mean_would_follow_it():
    reference = [1.30, 1.31, 1.29, 1.30, 1.30]
    candidate = [1.30, 1.31, 1.29, 1.30, 1.56]  # one pair's candidate drew a 20% faster layout
    change, _ = ab.shift(reference, candidate)
    assert abs(change) < 0.01
    assert np.mean(candidate) / np.mean(reference) - 1 > 0.035  # the mean would have moved 4%


def test_the_se_grows_with_the_spread_between_pairs_and_shrinks_with_more_of_them():
    def se(n, sd):
        return ab.shift([f["speedup"] for f in _figures(n, sd=sd, seed=1)],
                        [f["speedup"] for f in _figures(n, sd=sd, seed=2)])[1]

    assert se(5, 0.02) > 1.5 * se(5, 0.005)
    assert se(20, 0.02) < se(5, 0.02)
    assert ab.shift([1.3] * 5, [1.3] * 5, within=0.01)[1] > 0  # pairs that agree still carry their jitter


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


def test_release_settles_an_improvement_before_calling_it():
    """A lucky first draw (the candidate 6% faster) is re-measured under the release rule, and pooled it is no
    longer beyond the band; the plain gate (default suspects) takes it as it came."""
    from ragperf.jobs import release

    def measure_with(calls):
        def measure():
            calls.append(1)
            if len(calls) == 1:
                return _figures(3, seed=7, sd=0.002), _figures(3, seed=8, sd=0.002, slowdown=-0.06)
            return _figures(12, seed=9, sd=0.002), _figures(12, seed=10, sd=0.002)
        return measure

    calls = []
    final = _speedup(ab.decide(PREFIX, measure_with(calls), suspect=release.suspect))
    assert len(calls) == 2 and final.attempts == 2, final.message
    assert release.family([final])[0]["status"] == "same"
    plain = []
    assert _speedup(ab.decide(PREFIX, measure_with(plain))).attempts == 1 and len(plain) == 1


def test_a_clear_comparison_is_measured_once_and_a_report_only_metric_never_fails():
    calls = []

    def measure():
        calls.append(1)
        return _figures(5, seed=11), _figures(5, seed=12, slowdown=0.1)  # latency +10%: no suspect

    decisions = ab.decide(PREFIX, measure, report_only={f"{PREFIX}/speedup": "measured reason"})
    assert len(calls) == 1  # the only suspect is report-only: nothing to settle
    assert _speedup(decisions).status == gate.REPORT
    assert "FAIL; report only: measured reason" in _speedup(decisions).message


def test_each_pair_runs_both_interpreters_and_only_the_candidate_is_planted(monkeypatch):
    from ragperf.perf.cases import Case

    ran = []

    def pair(case, reference, candidate, slowdowns, progress=None):
        ran.append((reference, candidate, slowdowns))
        return [{"slowdown": s, ab.REFERENCE: {"side": reference}, ab.CANDIDATE: {"side": candidate}} for s in slowdowns]

    monkeypatch.setattr(lockstep, "pair", pair)
    reference, candidate = ab.measure(Case("embed", "tiny-bert", "compile"), 2, "/old/bin/python", slowdown=0.05)
    assert ran == [("/old/bin/python", sys.executable, [0.05])] * 2
    assert reference == [{"side": "/old/bin/python"}] * 2 and candidate == [{"side": sys.executable}] * 2


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
    assert interpreters.probe(python, "venv", "ragperf.perf.lockstep") == {
        "ragperf": ragperf.__file__, "torch": torch.__version__, "transformers": transformers.__version__,
        "schema": lockstep.SCHEMA}


def _block(slowdown, seed, level=1.3, sd=0.01, noise=0.003):
    """A lockstep block: a pair's reference and candidate figures sharing the pair's draw ``sd``."""
    rng = np.random.default_rng(seed)
    draw = rng.lognormal(0, sd)
    ref, cand = (_figures(1, level * draw, sd=noise, seed=seed * 2 + i, slowdown=s)[0] for i, s in ((0, 0.0), (1, slowdown)))
    return {"slowdown": slowdown, ab.REFERENCE: ref, ab.CANDIDATE: cand}


def _saved_campaign(path, pairs=8, size=3):
    """A campaign as ``prove-gate --pairs SIZE --processes PAIRS --save PATH`` keeps it, of synthetic blocks."""
    values = proof.plan(aa_runs=20, slowdowns=[0.05], planted_runs=10, size=size, seed=1)
    runs = [(p, _block(s, 100 * p + i)) for p in range(pairs) for i, s in enumerate(values[p::pairs])]
    proof.save(path, {PREFIX: runs}, [proof.SPEEDUP], "some-machine")
    return path


def test_prove_gate_pairs_judges_a_saved_campaign_of_lockstep_blocks(tmp_path, capsys):
    saved = _saved_campaign(tmp_path / "campaign.json")
    code = cli.main(["baseline", "prove-gate", "--load", str(saved), "--pairs", "3"])
    out = capsys.readouterr().out
    rows = {cells[3]: cells for cells in (line.split(" | ") for line in out.splitlines() if line.startswith(f"| {PREFIX}"))}
    assert code == 0, out
    assert "interleaved A/B on some-machine; 8 lockstep pairs of processes per case, a gated run = 3 of them" in out
    assert (rows["A/A (none)"][4], rows["A/A (none)"][6]) == ("20", "0"), out
    assert (rows["5%"][4], rows["5%"][6]) == ("10", "10"), out


def test_a_run_takes_its_blocks_from_distinct_pairs(tmp_path):
    saved = proof.load(_saved_campaign(tmp_path / "campaign.json"))
    runs = saved.runs[PREFIX]
    assert saved.lockstep() and saved.processes() == 8
    for slowdown, count in ((0.0, 20), (0.05, 10)):
        grouped = proof.groups([(p, b) for p, b in runs if b["slowdown"] == slowdown], 3)
        assert len(grouped) == count
        for run in grouped:  # the three blocks of a run are three different pairs' figures
            assert len({id(b) for b in run}) == 3
            assert len({b[ab.REFERENCE]["speedup"] for b in run}) == 3


@pytest.mark.parametrize(("args", "says"), [
    (["--pairs", "9"], "spread its values over 8 pairs of processes, fewer than the 9 distinct ones a gated run of "
                       "--pairs 9 needs: give a smaller --pairs"),
    ([], "holds lockstep A/B blocks: judge it with --pairs N"),
])
def test_prove_gate_refuses_a_saved_lockstep_campaign_it_cannot_judge(tmp_path, capsys, args, says):
    saved = _saved_campaign(tmp_path / "campaign.json")
    assert cli.main(["baseline", "prove-gate", "--load", str(saved), *args]) == 2
    assert says in capsys.readouterr().err


def test_prove_gate_pairs_refuses_a_campaign_of_single_processes(tmp_path, capsys):
    single = tmp_path / "single.json"
    proof.save(single, {PREFIX: [(p, f) for p in range(6) for f in _figures(3, seed=p)]}, [proof.SPEEDUP], "m")
    assert cli.main(["baseline", "prove-gate", "--load", str(single), "--pairs", "3"]) == 2
    assert "holds values of single processes: judge it without --pairs N" in capsys.readouterr().err


def _fake_python(tmp_path, name, script):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(("script", "says"), [
    ('echo "ModuleNotFoundError: No module named ragperf.perf.lockstep" >&2; exit 3',
     "stopped - exit 3: ModuleNotFoundError: No module named ragperf.perf.lockstep"),
    ("echo '{\"schema\": \"ragperf-lockstep-0\"}'; cat > /dev/null",
     "speaks ragperf-lockstep-0, this ragperf ragperf-lockstep-1: install the same ragperf on both sides"),
    ("sleep 30", "stopped - hung: killed after its timeout (set RAGPERF_JOB_TIMEOUT_S to allow longer)"),
    ("echo 'Welcome to some other program'", "answered 'Welcome to some other program', not ragperf-lockstep-1"),
    ("echo READY; echo 'worker crashed' >&2; exit 4", "stopped - exit 4: worker crashed"),  # dies after ready
])
def test_a_side_that_fails_speaks_another_protocol_or_hangs_gets_one_line(tmp_path, monkeypatch, script, says):
    from ragperf.errors import RagperfError
    from ragperf.perf.cases import Case

    monkeypatch.setenv("RAGPERF_JOB_TIMEOUT_S", "2")
    ready = json.dumps({"schema": lockstep.SCHEMA, "threads": 1, "warmup_calls": 3})
    bad = _fake_python(tmp_path, "bad-python", script.replace("READY", f"'{ready}'"))
    idle = _fake_python(tmp_path, "idle-python", f"echo '{ready}'; cat > /dev/null")
    with pytest.raises(RagperfError) as caught:
        lockstep.pair(Case("embed", "tiny-bert", "compile"), bad, idle, [0.0])
    assert f"the reference side ({bad}" in str(caught.value) and says in str(caught.value)


def test_pin_puts_every_thread_of_both_sides_on_the_same_last_cores():
    import os
    import subprocess

    cores = sorted(os.sched_getaffinity(0))
    children = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
    try:
        chosen = lockstep.pin([c.pid for c in children], 1)
        if len(cores) == 1:
            assert chosen is None
        else:
            assert chosen == {cores[-1]}
            assert [os.sched_getaffinity(c.pid) for c in children] == [{cores[-1]}] * 2
        assert lockstep.pin([c.pid for c in children], len(cores)) is None  # every core needed: left alone
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_a_lockstep_pair_measures_each_block_with_the_candidate_planted_as_asked(monkeypatch):
    """The real worker processes on the virtual clock: an A/A block exactly even, a planted block exactly 1/1.5."""
    from ragperf.perf import clocks
    from ragperf.perf.cases import parse_case

    monkeypatch.setenv(clocks.ENV, "0.001")
    blocks = lockstep.pair(parse_case("embed:tiny-bert:compile@aot_eager", 4), sys.executable, sys.executable,
                           [0.0, 0.5])
    assert [b["slowdown"] for b in blocks] == [0.0, 0.5]
    assert [b[ab.REFERENCE]["speedup"] for b in blocks] == [pytest.approx(1.0)] * 2
    assert [b[ab.CANDIDATE]["speedup"] for b in blocks] == [pytest.approx(1.0), pytest.approx(1 / 1.5)]
    assert {b[side]["rounds"] for b in blocks for side in (ab.REFERENCE, ab.CANDIDATE)} == {4}
    assert blocks[0][ab.REFERENCE]["recompiles_while_timed"] == 0


def test_compare_against_a_reference_interpreter_fails_a_planted_slowdown(tmp_path, capsys, monkeypatch):
    """The real command: fresh processes on both interpreters (here the same one), the candidate's planted."""

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


def test_prove_gate_pairs_measures_lockstep_blocks(tmp_path, capsys, monkeypatch):
    """The measuring path of ``prove-gate --pairs`` on the virtual clock: one pair of processes, an A/A block and a
    planted one, each a run of its own - green and red, exactly."""
    from ragperf.perf import clocks

    monkeypatch.setenv(clocks.ENV, "0.001")
    saved = tmp_path / "campaign.json"
    code = cli.main(["baseline", "prove-gate", "--pairs", "1", "--processes", "1", "--aa-runs", "1", "--slowdowns",
                     "0.5", "--planted-runs", "1", "--rounds", "4", "--case", "embed:tiny-bert:compile@aot_eager",
                     "--save", str(saved)])
    out = capsys.readouterr().out
    rows = {cells[3]: cells for cells in (line.split(" | ") for line in out.splitlines() if line.startswith("| embed/"))}
    assert code == 0, out
    assert (rows["A/A (none)"][4], rows["A/A (none)"][6]) == ("1", "0"), out
    assert (rows["50%"][4], rows["50%"][6]) == ("1", "1"), out
    kept = proof.load(saved)
    assert kept.lockstep() and sorted(b["slowdown"] for _, b in kept.runs["embed/tiny-bert/compile@aot_eager"]) == [0.0, 0.5]
