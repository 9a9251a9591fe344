"""Resolution of expected tables and drift against them: an unrecorded torch/transformers is judged by the
nearest earlier recorded table - a run that changes nothing passes and says so once, a changed row fails
with its diff and the record command, and ``--ragperf-drift=report`` lists the change and exits 0."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragperf.compile.drift import compare, resolve, summary_lines
from ragperf.compile.expected import COUNT_FIELDS, EXPECTED_DIR, ExpectedTable

REPO = Path(__file__).resolve().parents[3]
REFERENCE = "torch2.13-transformers5.23"
HEADER = "scenario,strategy,backend," + ",".join(COUNT_FIELDS) + "\n"


@pytest.fixture
def tables(tmp_path):
    for name in ("torch2.11-transformers5.17", "torch2.13-transformers5.23", "torch2.13-transformers5.24"):
        (tmp_path / f"{name}.csv").write_text(HEADER)
    (tmp_path / "notes.csv").write_text("not a table\n")
    return tmp_path


@pytest.mark.parametrize(("torch_version", "transformers_version", "reference", "exact"), [
    ("2.13.0+cpu", "5.23.0", "torch2.13-transformers5.23", True),       # recorded: its own table
    ("2.14.1", "5.23.0", "torch2.13-transformers5.23", False),          # new torch: the previous torch
    ("2.13.0", "5.25.0.dev0", "torch2.13-transformers5.24", False),     # new transformers: the previous one
    ("2.14.1", "5.30.2", "torch2.13-transformers5.24", False),          # both new: the latest earlier pair
    ("2.12.0", "5.23.0", "torch2.11-transformers5.17", False),          # never a later torch
    ("2.14.0", "5.20.0", "torch2.11-transformers5.17", False),          # never a later transformers
])
def test_resolution_is_exact_else_the_nearest_earlier_table(tables, torch_version, transformers_version,
                                                              reference, exact):
    ref = resolve(tables, torch_version, transformers_version)
    assert (ref.name, ref.exact, ref.found) == (reference, exact, True)
    assert ref.target.name == f"torch{'.'.join(torch_version.split('.')[:2])}-transformers" \
                              f"{'.'.join(transformers_version.split('.')[:2])}.csv"


def test_nothing_earlier_recorded_leaves_no_reference(tables):
    ref = resolve(tables, "2.10.0", "5.23.0")
    assert not ref.found and ref.table.rows == {} and ref.exact


def test_rows_compare_as_same_changed_or_new():
    counts = dict.fromkeys(COUNT_FIELDS, 1)
    table = ExpectedTable(Path("t.csv"), {("s", "auto", "eager"): dict(counts)})
    assert compare(table, ("s", "auto", "eager"), counts).status == "same"
    changed = compare(table, ("s", "auto", "eager"), {**counts, "frames_total": 2, "recompiles": 3}, ["[shape] x"])
    assert (changed.status, changed.changes) == ("changed", [("frames_total", 1, 2), ("recompiles", 1, 3)])
    assert "frames_total 1 -> 2, recompiles 1 -> 3" in changed.describe() and "[shape] x" in changed.describe()
    assert compare(table, ("other", "auto", "eager"), counts).status == "new"


def test_the_summary_counts_unrun_rows_of_the_reference(tables):
    ref = resolve(tables, "2.14.1", "5.23.0")
    ref.table.rows = {("a", "auto", "eager"): dict.fromkeys(COUNT_FIELDS, 1),
                      ("b", "auto", "eager"): dict.fromkeys(COUNT_FIELDS, 1)}
    outcome = compare(ref.table, ("a", "auto", "eager"), dict.fromkeys(COUNT_FIELDS, 1))
    assert summary_lines(ref, [outcome], "fail") == [
        "torch 2.14.1 + transformers 5.23.0: no table of its own; 1/1 rows equal torch2.13-transformers5.23 "
        "(1 of its rows not run)"]


# A project whose "reality" is rows.json and whose installed versions are faked to torch 2.14.1 (no table).
_CONFTEST = '''
import torch, transformers
torch.__version__, transformers.__version__ = "2.14.1", "5.23.0"
'''
_TEST = '''
import json, pytest
from ragperf.compile.probe import COUNT_FIELDS
ROWS = json.load(open("rows.json"))

@pytest.mark.parametrize("key", sorted(ROWS), ids=str)
def test_row(key, expected_compile):
    expected_compile.verify(tuple(key.split("|")), ROWS[key])
'''


def _project(tmp_path: Path) -> Path:
    """The committed tables and, as reality, the reference table's own rows."""
    shutil.copytree(REPO / EXPECTED_DIR, tmp_path / EXPECTED_DIR)
    for name in os.listdir(tmp_path / EXPECTED_DIR):
        if name.startswith(("torch2.14", "torch2.15")):  # a recording of a later torch must not exist here
            os.remove(tmp_path / EXPECTED_DIR / name)
    with open(tmp_path / EXPECTED_DIR / f"{REFERENCE}.csv") as f:
        rows = {"|".join((r["scenario"], r["strategy"], r["backend"])): {k: int(r[k]) for k in COUNT_FIELDS}
                for r in csv.DictReader(f)}
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_rows.py").write_text(_TEST)
    return tmp_path / EXPECTED_DIR / f"{REFERENCE}.csv"


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True, env=env, timeout=300)


def test_an_unrecorded_version_that_changes_nothing_passes_and_says_so_once(tmp_path):
    reference = _project(tmp_path)
    n = len(reference.read_text().splitlines()) - 1
    result = _pytest(tmp_path)
    assert result.returncode == 0, result.stdout
    line = f"torch 2.14.1 + transformers 5.23.0: no table of its own; {n}/{n} rows equal {REFERENCE}"
    assert result.stdout.count(line) == 1, result.stdout
    assert not (tmp_path / EXPECTED_DIR / "torch2.14-transformers5.23.csv").exists()  # judging records nothing


def _edit_one_count(reference: Path) -> None:
    text = reference.read_text()
    old = "seq1,backed_size_oblivious,eager,4,16,"
    assert old in text, "the reference table no longer has the row this test edits"
    reference.write_text(text.replace(old, "seq1,backed_size_oblivious,eager,4,15,"))


def test_one_edited_count_in_the_reference_fails_exactly_that_test_with_diff_and_record_command(tmp_path):
    reference = _project(tmp_path)
    n = len(reference.read_text().splitlines()) - 1
    _edit_one_count(reference)
    result = _pytest(tmp_path)
    assert result.returncode == 1 and f"1 failed, {n - 1} passed" in result.stdout, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "seq1|backed_size_oblivious|eager" in failed[0], failed
    assert "seq1 / backed_size_oblivious / eager: changed: frames_total 15 -> 16" in result.stdout
    assert "ragperf expected --update   (writes " in result.stdout
    assert "torch2.14-transformers5.23.csv" in result.stdout  # the table the command records
    assert f"{n - 1}/{n} rows equal {REFERENCE}" in result.stdout


def test_report_mode_lists_the_change_and_exits_0_also_across_xdist_workers(tmp_path):
    reference = _project(tmp_path)
    n = len(reference.read_text().splitlines()) - 1
    _edit_one_count(reference)
    result = _pytest(tmp_path, "--ragperf-drift=report", "-p", "xdist", "-n", "2")
    assert result.returncode == 0, result.stdout
    assert f"{n} passed" in result.stdout
    assert result.stdout.count(f"no table of its own; {n - 1}/{n} rows equal {REFERENCE}") == 1, result.stdout
    assert "1 row(s) differ, reported, not failed (--ragperf-drift=report)" in result.stdout
    assert "seq1 / backed_size_oblivious / eager: changed: frames_total 15 -> 16" in result.stdout


def test_an_unknown_drift_mode_is_one_usage_error_at_start_up(tmp_path):
    _project(tmp_path)
    result = _pytest(tmp_path, "--ragperf-drift=warn")
    assert result.returncode == 4
    assert "--ragperf-drift: invalid choice: 'warn' (choose from 'fail', 'report')" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
