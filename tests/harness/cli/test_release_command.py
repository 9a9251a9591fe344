"""``ragperf release``: OLD against NEW, one report, one exit status.

Untimed rows are judged on saved sides with planted changes: a behaviour or numerics regression is named with
old -> new and exits 1, an improvement is reported and exits 0, noise-sized moves are not calls. Timed rows are
judged by the gate's rule and Holm's correction over the family (unit tests on synthetic decisions, and the
real command on the virtual clock). Many runners' reports merge into one page. Bad sides are one line, exit 2.

The saved side ``data/drift-side-tiny.json`` was measured with the previous side format (torch 2.13,
``--quick --embedder tiny-bert --backend aot_eager``); ``ragperf release`` still reads it, and the tests plant
their changes in copies of it.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragperf import cli
from ragperf.commands import release as release_command
from ragperf.errors import RagperfError
from ragperf.jobs import release, release_report, release_side
from ragperf.perf import gate

SAVED = Path(__file__).resolve().parents[1] / "data" / "drift-side-tiny.json"
ROW = "tiny-bert / seq1 / auto / eager"


@pytest.fixture
def side() -> dict:
    return json.loads(SAVED.read_text())


def _run(tmp_path: Path, a: dict, b: dict, capsys, *extra: str) -> tuple[int, dict, str]:
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    code = cli.main(["release", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json", str(tmp_path / "r.json"),
                     "--markdown", str(tmp_path / "r.md"), *extra])
    out = capsys.readouterr().out
    assert (tmp_path / "r.md").read_text().strip() == out.strip()  # --markdown is what stdout shows
    return code, json.loads((tmp_path / "r.json").read_text()), out


def _rows(report: dict, section: str) -> dict[str, dict]:
    return {r["key"]: r for r in report["rows"] if r["section"] == section}


def _recompile(side: dict, key: str) -> dict:
    return next(r for r in side["recompile"] if r["key"] == key)


def test_a_side_saved_before_the_release_format_is_still_read(side):
    assert side["schema"] in release_side.READABLE and side["schema"] != release_side.SCHEMA
    assert side["recompile"] and side["parity"]


def test_a_side_against_itself_is_all_same_and_says_why_nothing_was_timed(tmp_path, side, capsys):
    code, report, out = _run(tmp_path, side, side, capsys)
    assert code == 0 and report["verdict"] == "same"
    assert set(report["counts"]) == {"same"}, report["counts"]
    notes = [line for line in out.splitlines() if "timed rows not compared" in line]
    assert len(notes) == 1 and "OLD and NEW are saved" in notes[0]


def test_more_graphs_is_a_regression_named_with_old_and_new_and_exits_1(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    row = _recompile(new, ROW)
    old_graphs = row["counts"]["graphs"]
    row["counts"]["graphs"] += 1
    row["reasons"] = row["reasons"] + ["[guard] len(args) == 1"]
    code, report, out = _run(tmp_path, side, new, capsys)
    assert code == 1 and report["verdict"] == "regression"
    rows = _rows(report, "recompile")
    assert [key for key, r in rows.items() if r["status"] != "same"] == [ROW]
    assert rows[ROW]["status"] == "regression"
    assert f"graphs {old_graphs} -> {old_graphs + 1}" in rows[ROW]["changes"]
    assert any("len(args) == 1" in c for c in rows[ROW]["changes"])
    assert "REGRESSION (exit 1)" in out.splitlines()[0]
    line = next(line for line in out.splitlines() if line.startswith(f"| {ROW} |"))
    assert f"regression: graphs {old_graphs} -> {old_graphs + 1}" in line
    assert f"{len(rows) - 1} of {len(rows)} rows same" in out  # the same rows are counted, not listed


def test_fewer_graphs_is_an_improvement_reported_with_exit_0(tmp_path, side, capsys):
    old = copy.deepcopy(side)
    _recompile(old, ROW)["counts"]["graphs"] += 1
    code, report, out = _run(tmp_path, old, side, capsys)
    assert code == 0 and report["verdict"] == "improvement"
    assert _rows(report, "recompile")[ROW]["status"] == "improvement"
    assert "improvements listed" in out.splitlines()[0]


@pytest.mark.parametrize(("factor", "status"), [(0.994, "changed"), (0.5, "regression"), (1.5, "improvement")])
def test_ops_captured_falling_a_few_is_changed_and_halving_is_a_regression(tmp_path, side, capsys, factor, status):
    new = copy.deepcopy(side)
    counts = _recompile(new, ROW)["counts"]
    counts["ops_captured"] = max(round(counts["ops_captured"] * factor), 0)
    if counts["ops_captured"] == _recompile(side, ROW)["counts"]["ops_captured"]:
        counts["ops_captured"] -= 1
    code, report, _ = _run(tmp_path, side, new, capsys)
    assert _rows(report, "recompile")[ROW]["status"] == status
    assert code == (1 if status == "regression" else 0)


@pytest.mark.parametrize(("ok", "total", "status"), [(1, 1, "changed"), (0, 1, "regression"), (1, 0, "improvement")])
def test_a_frame_more_is_changed_and_a_frame_that_fails_is_a_regression(tmp_path, side, capsys, ok, total, status):
    """One frame more, compiled, is how the code is split (transformers 5.24 added one under mark_unbacked);
    a frame more that Dynamo could not compile is a fallback to eager."""
    new = copy.deepcopy(side)
    counts = _recompile(new, ROW)["counts"]
    counts["frames_ok"] += ok
    counts["frames_total"] += total
    _, report, _ = _run(tmp_path, side, new, capsys)
    assert _rows(report, "recompile")[ROW]["status"] == status


def test_the_report_keeps_both_sides_so_it_can_be_judged_again(tmp_path, side, capsys):
    _, report, _ = _run(tmp_path, side, side, capsys)
    assert report["sides"]["old"] == side and report["sides"]["new"] == side


def test_recompile_reasons_differing_only_in_quoted_source_lines_are_same(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    row = _recompile(new, ROW)
    row["reasons"] = [r.replace(".py:", ".py:9") + "\nUser stack trace:\n  File x.py" for r in row["reasons"]]
    assert row["reasons"] != _recompile(side, ROW)["reasons"]
    _, report, _ = _run(tmp_path, side, new, capsys)
    assert _rows(report, "recompile")[ROW]["status"] == "same"


@pytest.mark.parametrize(("verdict", "rmse_factor", "status"), [
    ("fail", 1.0, "regression"), ("pass", 10.0, "regression"), ("pass", 0.1, "improvement"), ("pass", 1.5, "same")])
def test_parity_is_judged_by_verdict_and_by_rmse_beyond_the_factor(tmp_path, side, capsys, verdict, rmse_factor,
                                                                    status):
    new = copy.deepcopy(side)
    new["parity"][0].update(verdict=verdict, rmse=side["parity"][0]["rmse"] * rmse_factor)
    code, report, _ = _run(tmp_path, side, new, capsys)
    assert _rows(report, "parity")[side["parity"][0]["key"]]["status"] == status
    assert code == (1 if status == "regression" else 0)


def test_rows_only_on_one_side_are_new_or_gone(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    moved = new["recompile"].pop(0)
    new["recompile"].append({**moved, "key": moved["key"].replace("eager", "aot_eager")})
    _, report, _ = _run(tmp_path, side, new, capsys)
    rows = _rows(report, "recompile")
    assert rows[moved["key"]]["status"] == "gone"
    assert rows[moved["key"].replace("eager", "aot_eager")]["status"] == "new"


def test_versions_that_differ_are_changed_never_a_regression(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    new["versions"]["torch"] = "2.15.0+cpu"
    code, report, _ = _run(tmp_path, side, new, capsys)
    assert code == 0 and _rows(report, "versions")["torch"]["status"] == "changed"


def _decision(metric: str, kind: str, change: float, se: float, status: str | None = None) -> gate.Decision:
    """A judged A/B figure: NEW changed by ``change`` (NEW/OLD - 1) with relative se ``se``."""
    measured = gate.Measurement(metric, kind, 1 + change, se, processes=[1.0, 1.0, 1.0])
    decision = gate.judge(measured, {"kind": kind, "value": 1.0, "se": 0.0})
    return decision if status is None else gate.Decision(metric, status, measured, decision.baseline, change,
                                                         decision.bound)


def test_holm_holds_the_family_where_each_test_alone_would_not():
    assert release.holm([0.001, 0.02, 0.04, 0.9]) == [True, False, False, False]  # 0.02 > 0.05/3
    assert release.holm([0.01, 0.012, 0.016]) == [True, True, True]  # 0.01 <= .05/3, 0.012 <= .05/2, 0.016 <= .05
    assert release.holm([0.03] * 12) == [False] * 12


def test_a_planted_slowdown_is_a_regression_and_a_a_noise_is_same():
    planted = _decision("embed/minilm/compile/speedup", "speedup", -0.05, 0.005)
    noise = [_decision(f"embed/minilm/v{i}/speedup", "speedup", c, 0.006) for i, c in enumerate((0.004, -0.008, 0.0))]
    rows = {r["key"]: r for r in release.family([planted, *noise])}
    assert planted.status == gate.FAIL and rows[planted.metric]["status"] == "regression"
    assert {rows[d.metric]["status"] for d in noise} == {"same"}


def test_a_noisy_call_among_many_metrics_is_not_significant_for_the_family():
    """One FAIL past the band but noisy, among 12 metrics: alone p ~ 0.01, for the family not a call."""
    noisy = _decision("embed/minilm/compile/speedup", "speedup", -0.035, 0.015, status=gate.FAIL)
    others = [_decision(f"m{i}/speedup", "speedup", 0.0, 0.005) for i in range(11)]
    row = next(r for r in release.family([noisy, *others]) if r["key"] == noisy.metric)
    assert 0.005 < row["p_worse"] < 0.05
    assert row["status"] == "not significant"


def test_a_planted_five_percent_measured_at_four_is_a_regression_among_many_metrics():
    """A 5% slowdown measured at a 4.0% speedup loss (se 0.5%), beyond the 3% band: a call for the family."""
    planted = _decision("embed/minilm/compile/speedup", "speedup", -0.040, 0.005)
    others = [_decision(f"m{i}/speedup", "speedup", 0.0, 0.005) for i in range(11)]
    row = next(r for r in release.family([planted, *others]) if r["key"] == planted.metric)
    assert planted.status == gate.FAIL and row["status"] == "regression"


def test_a_significant_change_inside_the_band_is_same():
    inside = [_decision("decode/x/speedup", "speedup", 0.02, 0.002), _decision("m/speedup", "speedup", -0.02, 0.002)]
    assert {r["status"] for r in release.family(inside)} == {"same"}


def test_an_improvement_beyond_the_band_is_reported_as_such():
    faster = _decision("decode/tiny-llama/compile-decode/speedup", "speedup", 0.18, 0.01)
    row = release.family([faster])[0]
    assert row["status"] == "improvement" and row["p_better"] < 1e-6


def test_compile_time_and_memory_regressions_are_judged_higher_is_worse():
    slower = _decision("embed/minilm/compile/cold_compile_s", "compile", 0.10, 0.01)
    smaller = _decision("embed/minilm/compile+freeze/memory_ratio", "memory", -0.2, 0.01)
    rows = {r["key"]: r for r in release.family([slower, smaller])}
    assert rows[slower.metric]["status"] == "regression"
    assert rows[smaller.metric]["status"] == "improvement"


def test_the_memory_rows_of_both_sides_become_decisions():
    old = [{"key": "embed/minilm/compile+freeze/memory_ratio", "ratios": [0.80, 0.81, 0.80]}]
    new = [{"key": "embed/minilm/compile+freeze/memory_ratio", "ratios": [0.96, 0.97, 0.96]}]
    (decision,) = release.memory_decisions(old, new)
    assert decision.measured.kind == "memory" and decision.change == pytest.approx(0.2, abs=0.01)
    assert decision.status == gate.FAIL
    assert release.memory_decisions(old, [{**new[0], "key": "other"}]) == []


def test_warm_start_with_fewer_cache_hits_is_a_regression():
    warm = {"old": {"cache": {"fxgraph_hit": 3, "fxgraph_miss": 0}}, "new": {"cache": {"fxgraph_hit": 0,
                                                                                      "fxgraph_miss": 3}}}
    rows = {r["key"]: r for r in release_report.warm_rows(warm)}
    assert rows["fxgraph hit"]["status"] == "regression" and rows["fxgraph miss"]["status"] == "regression"
    assert rows["autograd hit"]["status"] == "same"


def _report(side: dict, machine: str, status: str = "same") -> dict:
    b = copy.deepcopy(side)
    b["versions"]["key"] = machine
    timed = release.family([_decision("embed/minilm/compile/speedup", "speedup",
                                      -0.08 if status == "regression" else 0.0, 0.005)])
    return release_report.build(side, b, ("OLD", "NEW"), timed)


def test_reports_of_many_runners_merge_into_one_page_with_a_section_per_machine(tmp_path, side, capsys):
    x86, gpu = _report(side, "x86_64-amd-epyc"), _report(side, "x86_64-nvidia-h100", "regression")
    paths = []
    for name, report in (("x86", x86), ("gpu", gpu)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(report))
    code = cli.main(["release", "--merge", *map(str, paths), "--markdown", str(tmp_path / "page.md"),
                     "--json", str(tmp_path / "page.json")])
    page = (tmp_path / "page.md").read_text()
    assert code == 1 and page.startswith("# ragperf release, 2 machines: REGRESSION")
    assert page.count("## ragperf release: OLD -> NEW") == 2
    assert "`x86_64-amd-epyc`: same" in page and "`x86_64-nvidia-h100`: regression" in page
    assert json.loads((tmp_path / "page.json").read_text())["verdict"] == "regression"
    capsys.readouterr()


def test_shards_of_one_machine_merge_into_one_section(side):
    one, two = _report(side, "x86_64-amd-epyc"), _report(side, "x86_64-amd-epyc")
    one["shard"], two["shard"] = [0, 2], [1, 2]
    text, merged = release_report.merge([one, two])
    assert len(merged["machines"]) == 1 and text.count("## ragperf release: OLD -> NEW") == 1


def test_the_forest_plot_is_drawn(tmp_path, side):
    report = _report(side, "x86_64-amd-epyc", "regression")
    path = release_report.forest(report, tmp_path / "forest.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("env", "expected"), [({}, (0, 1)), ({"SHARD_INDEX": "1", "SHARD_COUNT": "3"}, (1, 3)),
                                               ({"JOB_COMPLETION_INDEX": "2", "SHARD_COUNT": "4"}, (2, 4))])
def test_a_runner_takes_its_shard_from_the_environment(monkeypatch, env, expected):
    for name in ("SHARD_INDEX", "SHARD_COUNT", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert release_command.shard() == expected


@pytest.mark.parametrize("env", [{"SHARD_INDEX": "3", "SHARD_COUNT": "2"}, {"SHARD_INDEX": "0"},
                                 {"SHARD_INDEX": "x", "SHARD_COUNT": "2"}, {"SHARD_INDEX": "0", "SHARD_COUNT": "999"}])
def test_a_bad_shard_is_one_line_before_anything_runs(monkeypatch, env):
    for name in ("SHARD_INDEX", "SHARD_COUNT", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RagperfError, match="SHARD_INDEX"):
        release_command.shard()


def test_a_fresh_side_reads_as_a_side_and_the_saved_rows_show_as_gone(side):
    fresh = release_side.measure("tiny-bert", "tiny-llama", parts=())
    assert fresh["schema"] == release_side.SCHEMA and set(fresh) >= {"versions", "recompile", "parity", "memory"}
    rows = release_report.untimed_rows(side, fresh)
    assert {r["status"] for r in rows if r["section"] != "versions"} == {"gone"}


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A real interpreter with neither torch nor (without PYTHONPATH) ragperf: a venv of nothing."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return str(folder)


@pytest.mark.parametrize("pythonpath", [True, False], ids=["no-torch", "no-ragperf"])
def test_an_interpreter_that_cannot_run_ragperf_is_one_line(bare_python, monkeypatch, capsys, pythonpath):
    if not pythonpath:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    code = cli.main(["release", bare_python, str(SAVED)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "cannot run ragperf's measurement set" in err[0]
    assert ("torch" if pythonpath else "No module named") in err[0]


def test_the_speed_part_fails_a_planted_slowdown_naming_that_case_alone(tmp_path, capsys, monkeypatch):
    """The real command, both sides live (here one interpreter), on the virtual clock: the planted case is called
    a regression, exactly 1/1.5, after its settling pair, and the exit status is 1."""
    from ragperf.perf import clocks

    monkeypatch.setenv(clocks.ENV, "0.001")  # virtual seconds in every child: the verdict cannot depend on load
    monkeypatch.setitem(release.QUICK, "modes", ())  # the embedder's rung alone: decode's 90 rounds cost minutes
    case = "embed/tiny-bert/compile@aot_eager"
    code = cli.main(["release", sys.executable, sys.executable, "--quick", "--parts", "speed", "--embedder",
                     "tiny-bert", "--backend", "aot_eager", "--pairs", "1", "--rounds", "5",
                     "--plant-slowdown", f"{case}=0.5", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 1 and report["verdict"] == "regression", out
    called = {r["key"]: r for r in report["rows"] if r["section"] == "timed"}
    assert set(called) == {f"{case}/speedup", f"{case}/median_s"}
    assert called[f"{case}/speedup"]["status"] == "regression"
    assert called[f"{case}/speedup"]["change"] == pytest.approx(1 / 1.5 - 1)
    assert called[f"{case}/speedup"]["attempts"] == 2  # settled on one more pair before it was called


@pytest.mark.slow
def test_end_to_end_this_interpreter_on_both_sides(tmp_path):
    """Both sides measured by child processes of this interpreter (tiny models, aot_eager): all behaviour same."""
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "ragperf.cli", "release", sys.executable, sys.executable, "--quick",
                           "--embedder", "tiny-bert", "--backend", "aot_eager", "--parts", "recompile,parity",
                           "--json", str(out)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    statuses = {r["status"] for r in report["rows"] if r["section"] == "recompile"}
    assert statuses == {"same"}, [r for r in report["rows"] if r["status"] != "same"]
    assert "an A/A run" in done.stderr and "## ragperf release" in done.stdout


def test_a_warning_and_an_improvement_are_re_measured_a_pass_and_a_report_are_not():
    """Beyond the band inside the noise (WARN), or beyond it the better way: the release re-measures before
    calling; a clear PASS or a report-only metric is taken as measured."""
    warned = _decision("embed/minilm/compile+freeze/speedup", "speedup", -0.034, 0.024)
    better = _decision("embed/minilm/compile/speedup", "speedup", 0.05, 0.013)
    clear = _decision("decode/tiny-llama/compile-decode/speedup", "speedup", 0.004, 0.006)
    assert warned.status == gate.WARN and release.suspect(warned)
    assert better.status == gate.PASS and release.suspect(better)
    assert not release.suspect(clear)
    reported = _decision("x/median_s", "latency", 0.3, 0.01, status=gate.REPORT)
    assert not release.suspect(reported)


def test_a_ctrl_c_during_the_timed_parts_stops_the_untimed_sides_instead_of_waiting_for_them(monkeypatch):
    """Only the main thread gets Ctrl-C; the untimed sides' jobs are waited on in threads and must be told to stop."""
    from ragperf.subproc import Cancelled

    told = []

    def measure(python, child_args, cores, cancel=None):
        told.append(cancel.wait(timeout=60))  # a side's job nobody stops runs on for minutes
        raise Cancelled("stopped")

    def speed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(release_command, "_side", lambda spec: ("python", sys.executable))
    monkeypatch.setattr(release_command, "_measure", measure)
    monkeypatch.setattr(release, "speed", speed)
    assert cli.main(["release", "old", "new", "--embedder", "tiny-bert", "--quick"]) == 130
    assert told == [True, True]
