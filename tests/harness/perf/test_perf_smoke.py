"""The perf path end to end in seconds (not marked perf, so it runs by default and cannot rot):
measurement core -> pytest-benchmark -> gate -> terminal table, on tiny-bert with backend aot_eager."""

import json

import pytest

from ragperf.perf import clocks, gate, timing

PERF_TEST = '''
import pytest
from ragperf.perf.cases import Case

@pytest.mark.perf
def test_smoke(benchmark, ragperf_perf):
    ragperf_perf.check(Case("embed", "tiny-bert", "compile", rounds=15, backend="aot_eager"), benchmark)
'''


def test_a_model_that_keeps_recompiling_is_refused():
    import torch

    calls = iter(range(1000))
    fn = torch.compile(lambda x: x + 1, backend="eager", dynamic=False)

    def new_shape_every_call():  # a fresh shape per call: Dynamo compiles until its cache limit
        return fn(torch.ones(next(calls) % 7 + 1, 3, next(calls) % 5 + 1))

    with pytest.raises(Exception, match="compil"):
        timing.warm_up({"c": new_shape_every_call}, max_calls=6)


def test_planted_slowdown_shows_in_the_ratio(monkeypatch):
    # The virtual clock (ragperf.perf.clocks) makes the ratios exact: no timing, no load dependence.
    monkeypatch.setenv(clocks.ENV, "0.002")

    def work():
        return sum(range(100))

    a = timing.compare(work, work, 20)
    b = timing.compare(work, work, 20, slowdown=0.5)
    assert a.speedup.ratio == a.speedup.low == a.speedup.high == pytest.approx(1.0)
    assert b.speedup.ratio == pytest.approx(1 / 1.5)
    assert b.candidate.median == pytest.approx(0.003) and b.eager.median == pytest.approx(0.002)
    assert a.calls_per_round == 5  # block_s 0.01 over 0.002 s calls


def test_a_planted_slowdown_really_spins_on_the_real_clock():
    """The real-clock spin is a lower bound (load can only add time): the slowed call lasts at least
    (1 + fraction) x the wrapped call as the spin measured it."""
    import time

    inner = []

    def work():
        start = time.perf_counter()
        sum(range(20000))
        inner.append(time.perf_counter() - start)

    slow = timing.slowed(work, 1.0)
    for _ in range(5):
        start = time.perf_counter()
        slow()
        assert time.perf_counter() - start >= 2 * inner[-1]


@pytest.fixture(scope="module")
def compiled_before_pytester():
    """Import everything the inner runs use before ``pytester`` snapshots ``sys.modules``: it drops every
    module imported after the snapshot when the test ends, and torch's compiler modules imported twice in
    one process break later compiles (seen as an IndexError inside Dynamo in the decoder scenarios)."""
    from ragperf.perf.cases import Case
    from ragperf.perf.machine import fingerprint

    Case("embed", "tiny-bert", "compile", rounds=3, backend="aot_eager").measure()
    fingerprint()


def test_plugin_records_then_gates_and_fails_a_planted_regression(compiled_before_pytester, pytester, monkeypatch):
    # Under pytest-xdist the inner in-process run would inherit PYTEST_XDIST_WORKER, and pytest-benchmark
    # disables itself whenever that is set; the inner run is not an xdist worker.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    # Every timed call costs exactly 1 ms of virtual time (ragperf.perf.clocks), here and in the
    # fresh-process re-measure (it inherits the environment): the verdicts cannot depend on load.
    monkeypatch.setenv(clocks.ENV, "0.001")
    pytester.makepyfile(test_perf_smoke_user=PERF_TEST)
    store = pytester.path / "store"
    common = ["-p", "no:cacheprovider", "-m", "perf", "--ragperf-processes=1", f"--ragperf-baselines={store}"]

    (pytester.path / "empty").mkdir()
    alone = pytester.runpytest_inprocess(*common[:-1], f"--ragperf-baselines={pytester.path / 'empty'}")
    alone.assert_outcomes(passed=1)
    alone.stdout.fnmatch_lines(["*REPORT ONLY: no baseline matches*", "*verdict: REPORT*"])

    # recorded over two processes: this one (through pytest-benchmark) and one fresh child
    recorded = pytester.runpytest_inprocess(*common, "--ragperf-processes=2", "--ragperf-update-baselines",
                                            "--benchmark-json=rec.json")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["*ragperf perf gate*", "*recorded 2 metrics*",
                                   "*embed/tiny-bert/compile@aot_eager/speedup*"])
    assert len(list(store.glob("*.json"))) == 1
    bench = json.loads((pytester.path / "rec.json").read_text())["benchmarks"][0]
    figures = bench["extra_info"]["ragperf"]  # the measurement core's figures, through pytest-benchmark
    assert figures["recompiles_while_timed"] == 0 and figures["graphs"] >= 1 and figures["warmup_calls"] >= 3
    assert figures["rounds"] == 15 == bench["stats"]["rounds"]
    assert figures["speedup_low"] <= figures["speedup"] <= figures["speedup_high"]
    assert figures["first_call_s"] > figures["median_s"] > 0 and figures["p90_s"] >= figures["median_s"]
    assert figures["speedup"] == pytest.approx(1.0) and figures["median_s"] == pytest.approx(0.001)
    assert bench["extra_info"]["fingerprint"] == store_key(store)
    assert len(figures["processes"]) == 2 and figures["speedup"] == pytest.approx(
        sum(p["speedup"] for p in figures["processes"]) / 2)  # the median of two
    stored = json.loads(next(store.glob("*.json")).read_text())
    assert stored["schema_version"] == 2
    assert stored["metrics"]["embed/tiny-bert/compile@aot_eager/speedup"]["history"][0]["processes"] == [
        p["speedup"] for p in figures["processes"]]

    # a 3x slower compiled path: red, and the fresh-process re-measure confirms it
    failed = pytester.runpytest_inprocess(*common, "--ragperf-plant-slowdown=2.0", "--ragperf-perf-report=r.json")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*perf gate: embed/tiny-bert/compile@aot_eager/speedup: speedup *(95% CI *"
                                 "below baseline*", "*verdict: FAIL*"])
    failed.stdout.fnmatch_lines(["*versions: baseline torch *; this run torch * (same versions: no software upgrade judged)"])
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["verdict"] == gate.FAIL
    speedup = next(d for d in report["decisions"] if d["metric"].endswith("/speedup"))
    assert speedup["status"] == gate.FAIL and speedup["attempts"] == 2
    assert speedup["measured"] == pytest.approx(1 / 3)  # the fresh process's figure: 1 ms vs 3 ms, exactly


def store_key(store):
    return json.loads(next(store.glob("*.json")).read_text())["key"]


def test_plugin_gates_against_an_interleaved_reference(compiled_before_pytester, pytester, monkeypatch):
    """``--ragperf-reference``: the case in lockstep pairs with the reference's interpreter (here this one), the
    planted candidate red after its settling pair, no stored baseline needed."""
    import sys

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setenv(clocks.ENV, "0.001")  # exact virtual seconds in both sides' processes
    pytester.makepyfile(test_perf_smoke_user=PERF_TEST.replace(  # the figures a perf test reads, even when red
        "    ragperf_perf.check(", "    try:\n        ragperf_perf.check(") + "    finally:\n        print('FIGURES', "
        "benchmark.extra_info['ragperf']['recompiles_while_timed'], len(benchmark.extra_info['ragperf']['ab']['candidate']))\n")
    (pytester.path / "empty").mkdir()
    failed = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-m", "perf", f"--ragperf-reference={sys.executable}",
                                          "--ragperf-pairs=1", "--ragperf-plant-slowdown=0.5",
                                          f"--ragperf-baselines={pytester.path / 'empty'}", "--ragperf-perf-report=ab.json")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*perf gate: embed/tiny-bert/compile@aot_eager/speedup: speedup * below baseline * "
                                 f"(A/B {sys.executable})*",
                                 f"*A/B: the ladder and decode against the interleaved reference {sys.executable} "
                                 "(torch *), 1 lockstep pairs of processes per case*", "*verdict: FAIL*"])
    failed.stdout.no_fnmatch_line("*Benchmark fixture was not used*")
    failed.stdout.fnmatch_lines(["FIGURES 0 2"])  # no recompile while timed; both pairs' candidate figures
    decisions = {d["metric"]: d for d in json.loads((pytester.path / "ab.json").read_text())["decisions"]}
    speedup = decisions["embed/tiny-bert/compile@aot_eager/speedup"]
    assert (speedup["status"], speedup["attempts"]) == (gate.FAIL, 2)  # settled on a second pair
    assert speedup["change"] == pytest.approx(1 / 1.5 - 1)  # exact on the virtual clock
