"""``ragperf drift``: two saved sides compared row by row - a planted change shows as changed with old -> new,
another machine's side is compared for behaviour and parity but not speed (and says why), and bad
sides are one line, exit 2.

The saved side ``data/drift-side-tiny.json`` was measured here with
``ragperf drift $(which python) --quick --embedder tiny-bert --backend aot_eager --rounds 3 --save
tests/harness/data/drift-side-tiny.json`` (torch 2.13); the tests plant their changes in copies of it.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragperf import cli
from ragperf.jobs import drift, drift_table

SAVED = Path(__file__).resolve().parents[1] / "data" / "drift-side-tiny.json"
ROW = "tiny-bert / seq1 / auto / eager"


@pytest.fixture
def side() -> dict:
    return json.loads(SAVED.read_text())


def _run(tmp_path: Path, a: dict, b: dict, capsys) -> tuple[int, dict, str]:
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    code = cli.main(["drift", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json", str(tmp_path / "c.json"),
                     "--markdown", str(tmp_path / "c.md")])
    out = capsys.readouterr().out
    assert (tmp_path / "c.md").read_text().strip() == out.strip()  # --markdown is what stdout shows
    return code, json.loads((tmp_path / "c.json").read_text()), out


def _rows(comparison: dict, section: str) -> dict[str, dict]:
    return {r["key"]: r for r in comparison["rows"] if r["section"] == section}


def _recompile(side: dict, key: str) -> dict:
    return next(r for r in side["recompile"] if r["key"] == key)


def test_the_saved_side_has_this_ragperfs_schema_and_every_part(side):
    assert side["schema"] == drift.SCHEMA
    assert side["recompile"] and side["parity"] and side["speed"] and side["compile_time"]


def test_a_side_against_itself_is_all_same(tmp_path, side, capsys):
    code, comparison, out = _run(tmp_path, side, side, capsys)
    assert code == 0
    assert set(comparison["counts"]) == {"same"}, comparison["counts"]
    assert comparison["speed_compared"] and "speed not compared" not in out


def test_a_planted_count_change_is_that_row_changed_with_old_and_new(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    row = _recompile(new, ROW)
    old_graphs = row["counts"]["graphs"]
    row["counts"]["graphs"] += 1
    row["reasons"] = row["reasons"] + ["[guard] len(args) == 1"]
    code, comparison, out = _run(tmp_path, side, new, capsys)
    assert code == 0  # drift reports, it does not fail
    rows = _rows(comparison, "recompile")
    changed = [key for key, r in rows.items() if r["status"] != "same"]
    assert changed == [ROW]
    assert f"graphs {old_graphs} -> {old_graphs + 1}" in rows[ROW]["changes"]
    assert any("len(args) == 1" in c for c in rows[ROW]["changes"])
    line = next(line for line in out.splitlines() if line.startswith(f"| {ROW} |"))
    assert f"changed: graphs {old_graphs} -> {old_graphs + 1}" in line
    same = len(rows) - 1
    assert f"{same} of {len(rows)} rows same" in out  # the same rows are counted, not listed
    def listed_same(text: str) -> int:
        return sum(line.startswith(f"| {key} |") and line.endswith("| same |")
                   for line in text.splitlines() for key in rows)

    assert listed_same(out) == 0
    assert listed_same(drift_table.markdown(comparison, all_rows=True)) == same


def test_recompile_reasons_differing_only_in_quoted_source_lines_are_same(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    row = _recompile(new, ROW)
    row["reasons"] = [r.replace(".py:", ".py:9") + "\nUser stack trace:\n  File x.py" for r in row["reasons"]]
    assert row["reasons"] != _recompile(side, ROW)["reasons"]
    _, comparison, _ = _run(tmp_path, side, new, capsys)
    assert _rows(comparison, "recompile")[ROW]["status"] == "same"


def test_parity_verdicts_and_versions_that_differ_are_changed(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    new["parity"][0].update(verdict="fail", rmse=side["parity"][0]["rmse"] * 10)
    new["versions"]["torch"] = "2.14.1+cpu"
    _, comparison, _ = _run(tmp_path, side, new, capsys)
    parity_row = _rows(comparison, "parity")[side["parity"][0]["key"]]
    assert parity_row["status"] == "changed"
    assert "verdict pass -> fail" in parity_row["changes"] and any("RMSE" in c for c in parity_row["changes"])
    assert _rows(comparison, "versions")["torch"]["status"] == "changed"
    assert _rows(comparison, "versions")["transformers"]["status"] == "same"


def test_a_small_rmse_move_is_not_a_change(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    new["parity"][0]["rmse"] = side["parity"][0]["rmse"] * 1.5
    _, comparison, _ = _run(tmp_path, side, new, capsys)
    assert _rows(comparison, "parity")[side["parity"][0]["key"]]["status"] == "same"


def test_rows_only_on_one_side_are_new_or_gone(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    moved = new["recompile"].pop(0)
    new["recompile"].append({**moved, "key": moved["key"].replace("eager", "aot_eager")})
    _, comparison, _ = _run(tmp_path, side, new, capsys)
    rows = _rows(comparison, "recompile")
    assert rows[moved["key"]]["status"] == "gone"
    assert rows[moved["key"].replace("eager", "aot_eager")]["status"] == "new"


def test_non_overlapping_speed_intervals_are_a_change_on_one_machine(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    case = new["speed"][0]
    case.update(speedup=case["high"] * 2, low=case["high"] * 1.5, high=case["high"] * 2.5)
    _, comparison, _ = _run(tmp_path, side, new, capsys)
    assert _rows(comparison, "speed")[case["key"]]["status"] == "changed"


def test_another_machine_compares_behaviour_and_parity_but_not_speed(tmp_path, side, capsys):
    new = copy.deepcopy(side)
    new["versions"]["key"] = "aarch64-neoverse-v1-4cpu-4t-fp32-0000abcd"
    _recompile(new, ROW)["counts"]["recompiles"] += 1
    new["parity"][0]["verdict"] = "fail"
    case = new["speed"][0]
    case.update(speedup=case["high"] * 2, low=case["high"] * 1.5, high=case["high"] * 2.5)
    code, comparison, out = _run(tmp_path, side, new, capsys)
    assert code == 0 and not comparison["speed_compared"]
    assert {r["status"] for r in _rows(comparison, "speed").values()} == {"not compared"}
    assert _rows(comparison, "recompile")[ROW]["status"] == "changed"
    assert _rows(comparison, "parity")[side["parity"][0]["key"]]["status"] == "changed"
    notes = [line for line in out.splitlines() if "speed not compared" in line]
    assert len(notes) == 1 and "hardware fingerprints differ" in notes[0] and "neoverse" in notes[0]


def test_a_fresh_side_has_the_saved_sides_layout():
    """What the measurement set writes today (its cheapest part: versions only) reads as a side."""
    fresh = drift.measure("tiny-bert", "tiny-llama", parts=())
    saved = json.loads(SAVED.read_text())
    assert set(fresh) == set(saved) and set(fresh["versions"]) == set(saved["versions"])
    comparison = drift_table.compare(saved, fresh)
    assert {r["status"] for r in comparison["rows"] if r["section"] != "versions"} == {"gone"}


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
    code = cli.main(["drift", bare_python, str(SAVED)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "cannot run ragperf's measurement set" in err[0]
    assert ("torch" if pythonpath else "No module named") in err[0]


@pytest.mark.slow
def test_end_to_end_this_interpreter_on_both_sides(tmp_path):
    """Both sides measured by child processes of this interpreter (tiny models, aot_eager): all behaviour same."""
    out = tmp_path / "c.json"
    done = subprocess.run([sys.executable, "-m", "ragperf.cli", "drift", sys.executable, sys.executable, "--quick",
                           "--embedder", "tiny-bert", "--backend", "aot_eager", "--rounds", "3",
                           "--parts", "recompile,parity", "--json", str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    comparison = json.loads(out.read_text())
    statuses = {r["status"] for r in comparison["rows"] if r["section"] == "recompile"}
    assert statuses == {"same"}, [r for r in comparison["rows"] if r["status"] != "same"]
    assert "## ragperf drift" in done.stdout
