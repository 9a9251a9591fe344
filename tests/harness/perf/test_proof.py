"""The gate's proof campaigns (ragperf.perf.proof) on synthetic, seeded per-process values: the plan, the
grouping into runs of distinct processes, and the judging - A/A green, a planted change red, both metrics."""

import numpy as np
import pytest

from ragperf.perf import baselines, compile_time, processes, proof
from ragperf.perf.baselines import BaselineFile
from ragperf.perf.gate import from_figures

SPEEDUP = "embed/m/compile/speedup"
COLD = "embed/m/compile/cold_compile_s"


def test_the_plan_holds_each_kind_size_times_per_run_in_a_seeded_order():
    values = proof.plan(aa_runs=20, slowdowns=[0.05, 0.1], planted_runs=10, size=3, seed=4)
    assert (values.count(0.0), values.count(0.05), values.count(0.1)) == (60, 30, 30)
    assert values == proof.plan(20, [0.05, 0.1], 10, 3, seed=4) != proof.plan(20, [0.05, 0.1], 10, 3, seed=5)


def test_a_run_is_made_of_distinct_processes_and_no_value_is_used_twice():
    runs = [(p, {"id": (p, i)}) for p in range(4) for i in range(5)]  # 4 processes x 5 values
    grouped = proof.groups(runs, 3)
    assert len(grouped) == 6  # 20 values, 3 distinct processes per run: 2 are left over
    for group in grouped:
        assert len({v["id"][0] for v in group}) == 3
    used = [v["id"] for g in grouped for v in g]
    assert len(used) == len(set(used))
    assert proof.groups([(0, {}), (0, {}), (1, {})], 3) == []  # never a run from fewer processes


def _speedup_runs(values, slowdown, sd=0.01, seed=0):
    rng = np.random.default_rng(seed)
    return [{"speedup": 1.3 / (1 + slowdown) * rng.lognormal(0, sd), "speedup_se": 0.008, "median_s": 0.01,
             "latency_se": 0.01, "eager_median_s": 0.013, "recompiles_while_timed": 0, "slowdown": slowdown}
            for _ in range(values)]


def _baseline(name, kind, values):
    m = baselines.summarize([{"value": float(np.median(values)), "se": 0.005, "processes": list(values)}])
    return BaselineFile("k", "measured", {}, {name: baselines.metric(kind, **m)})


def _judged(runs, base, name, combine, measurements):
    grouped = proof.groups(list(enumerate(runs)), 3)
    decisions = proof.judge(name, [combine(g) for g in grouped], measurements, base, {"tolerance": None})
    return proof.row("embed/m/compile", name.rsplit("/", 1)[1], runs[0]["slowdown"], decisions,
                     base.metrics[name])


@pytest.mark.parametrize(("slowdown", "red"), [(0.0, 0), (0.05, 10)])
def test_speedup_campaign_a_a_green_and_a_planted_5_percent_red(slowdown, red):
    base = _baseline(SPEEDUP, "speedup", [r["speedup"] for r in _speedup_runs(45, 0.0, seed=1)])
    row = _judged(_speedup_runs(30, slowdown, seed=2), base, SPEEDUP, processes.combine,
                  lambda figures: from_figures("embed/m/compile", figures))
    assert (row.runs, row.red) == (10, red), row


@pytest.mark.parametrize(("slowdown", "red"), [(0.0, 0), (0.10, 10)])
def test_cold_compile_campaign_a_a_green_and_a_planted_10_percent_red(slowdown, red):
    rng = np.random.default_rng(3)
    base = _baseline(COLD, "compile", list(20.0 * rng.lognormal(0, 0.01, 30)))
    runs = [{"cold_first_call_s": 20.0 * (1 + slowdown) * rng.lognormal(0, 0.01), "cold_dynamo_s": 2.0,
             "cold_backend_s": 15.0, "slowdown": slowdown} for _ in range(30)]
    row = _judged(runs, base, COLD, lambda group: {"processes": group},
                  lambda figures: compile_time.measurements("embed/m/compile", figures))
    assert (row.runs, row.red) == (10, red), row


def test_the_compile_time_in_machine_units_is_its_own_kind_beside_the_seconds():
    figures = {"processes": [{"cold_first_call_s": 20.0 + i, "cold_dynamo_s": 2.0, "cold_backend_s": 15.0,
                              "cold_yardstick_s": 0.125, "cold_units": (20.0 + i) / 0.125} for i in range(3)]}
    measured = compile_time.measurements("embed/m/compile", figures)
    assert (measured[COLD].kind, measured[COLD].value) == ("compile", 21.0)
    units = measured["embed/m/compile/cold_compile_units"]
    assert (units.kind, units.value, units.processes) == ("compile_units", 168.0, [160.0, 168.0, 176.0])
    assert units.shown() == "168.0 units"


def test_the_table_says_when_an_a_a_campaign_misses_or_is_too_short():
    rows = [proof.Row("embed/m/compile", "speedup", "speedup", 0.0, 20, 2, 0, "1.300x (0.5%, 1.0%)", 1.29, 0.01, 0.008),
            proof.Row("embed/m/compile", "cold_compile_s", "compile", 0.0, 10, 0, 1, "20.00s (0.5%, 1.0%)", 20.1, 0.01, 0.01),
            proof.Row("embed/m/compile", "speedup", "speedup", 0.05, 10, 10, 0, "1.300x (0.5%, 1.0%)", 1.24, 0.01, 0.008)]
    table = "\n".join(proof.markdown(rows))
    assert "| embed/m/compile | speedup | 1.300x (0.5%, 1.0%) | A/A (none) | 20 | 18 (0) | 2 | 1.290x |" in table
    assert "| 5% | 10 | 0 (0) | 10 | 1.240x |" in table and "| 20.10s |" in table
    assert "speedup: A/A false alarms 2/20 (MISSES at most 1 in 20)" in table
    assert "cold_compile_s: A/A false alarms 0/10 (meets at most 1 in 20; only 10 runs" in table


def test_a_saved_campaign_loads_back_as_measured(tmp_path):
    def figures(speedup):  # what the gate reads of one process's timing
        return {"speedup": speedup, "speedup_se": 0.01, "speedup_low": speedup - 0.02, "speedup_high": speedup + 0.02,
                "median_s": 0.01, "latency_se": 0.01, "recompiles_while_timed": 0, "slowdown": 0.0}

    runs = {"embed/m/compile": [(p, figures(1.3 + p / 100)) for p in range(3)],
            "decode/d/compile-decode@aot_eager": [(p % 2, figures(2.0)) for p in range(4)]}
    proof.save(tmp_path / "c.json", runs, ["speedup"], "key")
    saved = proof.load(tmp_path / "c.json", ["speedup"])
    assert (saved.runs, saved.metrics, saved.fingerprint) == (runs, ["speedup"], "key")
    assert (saved.cases(), saved.processes()) == ("embed:m:compile,decode:d:compile-decode@aot_eager", 3)
    assert not list(tmp_path.glob("*.tmp"))


def test_load_judges_every_saved_case_against_the_baseline_of_the_machine_it_was_measured_on(tmp_path, capsys):
    """``prove-gate --load FILE`` alone re-judges the whole campaign - its cases, metric and process count -
    against the stored baseline of the fingerprint in the file, on any machine."""
    from ragperf import cli

    names = {"embed/tiny-bert/compile": 0.0, "embed/tiny-bert/compile+freeze": 0.05}
    metrics = {f"{case}/speedup": baselines.metric("speedup", **baselines.summarize(
        [{"value": 1.3, "se": 0.005, "processes": [1.29, 1.30, 1.31, 1.30, 1.30, 1.31]}])) for case in names}
    baselines.save(BaselineFile("another-machine", "measured", {"arch": "riscv64"}, metrics),
                   tmp_path / "base" / "another-machine.json")
    runs = {case: [(j % 6, r) for j, r in enumerate(_speedup_runs(18, slowdown, seed=i))]
            for i, (case, slowdown) in enumerate(names.items())}
    proof.save(tmp_path / "c.json", runs, ["speedup"], "another-machine")
    assert cli.main(["baseline", "prove-gate", "--load", str(tmp_path / "c.json"), "--dir", str(tmp_path / "base")]) == 0
    out = capsys.readouterr().out
    assert "6 fresh processes per case" in out
    assert "| embed/tiny-bert/compile | speedup |" in out and "| A/A (none) | 6 | 6 (0) | 0 |" in out
    assert "| embed/tiny-bert/compile+freeze | speedup |" in out and "| 5% | 6 | 0 (0) | 6 |" in out
    (tmp_path / "empty").mkdir()
    assert cli.main(["baseline", "prove-gate", "--load", str(tmp_path / "c.json"), "--dir", str(tmp_path / "empty")]) == 2
    assert "was measured on another-machine" in capsys.readouterr().err


def test_campaigns_of_one_machine_are_judged_as_one_with_their_processes_kept_apart(tmp_path):
    """Two saves, each with processes 0-2: pooled they are six processes - the second file's process 0 is not
    the first file's, so a gated run never counts two of its values as coming from distinct processes wrongly."""
    from ragperf.errors import RagperfError

    def figures(speedup):  # what one timed process writes
        return {"speedup": speedup, "speedup_se": 0.004, "median_s": 0.01, "latency_se": 0.004,
                "recompiles_while_timed": 0, "slowdown": 0.0}

    first = {"embed/m/compile": [(p, figures(1.3)) for p in (0, 1, 2) for _ in range(3)]}
    second = {"embed/m/compile": [(p, figures(1.2)) for p in (0, 1, 2)]}
    proof.save(tmp_path / "a.json", first, ["speedup"], "key")
    proof.save(tmp_path / "b.json", second, ["speedup"], "key")
    merged = proof.load_many([tmp_path / "a.json", tmp_path / "b.json"], ["speedup"])
    values = merged.runs["embed/m/compile"]
    assert len(values) == 12 and merged.processes() == 6
    assert {p for p, f in values if f["speedup"] == 1.2} == {3, 4, 5}
    proof.save(tmp_path / "c.json", second, ["speedup"], "another-machine")
    with pytest.raises(RagperfError, match="only campaigns of one machine and the same metrics"):
        proof.load_many([tmp_path / "a.json", tmp_path / "c.json"], ["speedup"])


@pytest.mark.parametrize(("text", "metrics", "says"), [
    ("{ truncated", ["speedup"], "is not a saved ragperf prove-gate campaign"),
    ('{"schema": "ragperf-perf-baseline", "schema_version": 2}', ["speedup"], "is not a saved ragperf prove-gate"),
    ('{"schema": "ragperf-prove-campaign", "schema_version": 1, "metrics": ["speedup"], "runs": {}}',
     ["cold_compile_s"], "holds speedup values; it cannot prove cold_compile_s"),
])
def test_a_file_that_is_not_a_saved_campaign_of_these_metrics_is_one_clear_error(tmp_path, text, metrics, says):
    from ragperf.errors import RagperfError

    (tmp_path / "c.json").write_text(text)
    with pytest.raises(RagperfError, match=says):
        proof.load(tmp_path / "c.json", metrics)
