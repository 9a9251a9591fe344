"""Unit tests of the expected-behaviour tables: naming, parsing, two-sided comparison, regeneration."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragperf.compile.expected import (
    COLUMNS,
    EXPECTED_DIR,
    REGENERATE,
    ExpectationMismatch,
    ExpectedTable,
    parse,
    table_name,
)
from ragperf.compile.probe import COUNT_FIELDS
from ragperf.errors import RagperfError

REPO = Path(__file__).resolve().parents[3]
COUNTS = {"graphs": 2, "frames_total": 4, "frames_ok": 4, "fallbacks": 0, "ops_captured": 158,
          "graph_breaks": 0, "recompiles": 1}


def test_table_name_is_torch_minor_and_transformers_minor():
    assert table_name("2.13.0+cpu", "5.23.0") == "torch2.13-transformers5.23.csv"
    assert table_name("2.7.1", "4.46.3") == "torch2.7-transformers4.46.csv"


def test_round_trip(tmp_path):
    table = ExpectedTable(tmp_path / "t.csv")
    table.record(("s", "auto", "eager"), COUNTS)
    table.save()
    assert ExpectedTable.load(tmp_path, "t.csv").rows == {("s", "auto", "eager"): COUNTS}
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == ",".join(COLUMNS)


@pytest.mark.parametrize("field", COUNT_FIELDS)
@pytest.mark.parametrize("step", [1, -1])
def test_a_count_off_by_one_fails_in_either_direction(field, step, tmp_path):
    table = ExpectedTable(tmp_path / "t.csv", {("s", "auto", "eager"): COUNTS})
    table.check(("s", "auto", "eager"), COUNTS)
    changed = {**COUNTS, field: COUNTS[field] + step}
    with pytest.raises(ExpectationMismatch) as info:
        table.check(("s", "auto", "eager"), changed)
    message = str(info.value)
    assert f"{field} expected {COUNTS[field]}, got {changed[field]}" in message
    assert ("improvement" in message) == (step < 0)
    assert "s,auto,eager," + ",".join(str(changed[f]) for f in COUNT_FIELDS) in message  # the row to paste
    assert REGENERATE in message


def test_a_missing_row_says_how_to_add_it(tmp_path):
    with pytest.raises(ExpectationMismatch, match=r"no expected row \(no table t.csv"):
        ExpectedTable(tmp_path / "t.csv").check(("s", "auto", "eager"), COUNTS)


def test_changing_one_committed_count_fails_exactly_the_matching_row():
    """Against the committed table itself: bump each count of each row; only that row's check fails."""
    table = ExpectedTable.load(REPO / EXPECTED_DIR)
    assert table.rows, f"no committed table {table.path}: generate it with {REGENERATE}"
    reality = {key: dict(counts) for key, counts in table.rows.items()}
    for key in table.rows:
        for field in COUNT_FIELDS:
            edited = ExpectedTable(table.path, {k: dict(v) for k, v in table.rows.items()})
            edited.rows[key][field] += 1
            failing = [k for k in reality if edited.mismatch(k, reality[k])]
            assert failing == [key], (key, field, failing)


@pytest.mark.parametrize(("text", "message"), [
    ("scenario,strategy\n", "header must be"),
    (",".join(COLUMNS) + "\ns,auto,eager,2,4,4,0,lots,0,1\n", ":2: counts must be integers"),
])
def test_malformed_tables_are_one_clear_error(text, message):
    with pytest.raises(RagperfError, match=message):
        parse(text)


_PLUGIN_TEST = '''
import pytest
ROWS = {"a": 2, "b": 3}

@pytest.mark.parametrize("name", sorted(ROWS))
def test_row(name, expected_compile):
    counts = dict(graphs=ROWS[name], frames_total=4, frames_ok=4, fallbacks=0, ops_captured=9, graph_breaks=0,
                  recompiles=1)
    expected_compile.verify((name, "auto", "eager"), counts)
'''


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(folder)],
                          cwd=folder, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow  # ~45 s on 2 cores (two pytest runs); one edited count failing exactly its test is in the
# default run through tests/harness/compile/test_drift.py, the merge of regenerated rows through test_expected_concurrency
def test_plugin_fails_exactly_the_edited_row_and_regenerates(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_rows.py").write_text(_PLUGIN_TEST)
    path = tmp_path / EXPECTED_DIR / table_name()
    assert _pytest(tmp_path, "--ragperf-update-expected").returncode == 0
    assert "a,auto,eager,2,4,4,0,9,0,1" in path.read_text()
    path.write_text(path.read_text().replace("b,auto,eager,3,", "b,auto,eager,4,"))
    result = _pytest(tmp_path)
    assert result.returncode == 1 and "1 failed, 1 passed" in result.stdout, result.stdout
    assert "test_row[b]" in result.stdout and "graphs 4 -> 3" in result.stdout
    assert "b,auto,eager,3,4,4,0,9,0,1" in result.stdout  # the row to paste
