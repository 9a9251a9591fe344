"""The what-bypasses-what table: its machinery (shared with the recompile tables), the shipped table's
coverage, and the cold-start section's arithmetic and rendering. No compiling here."""

import math
from pathlib import Path

import pytest

from ragperf.coldstart.bypass import COUNT_FIELDS, KEY_FIELDS, REGENERATE, BypassTable
from ragperf.coldstart.matrix import COMPILED_RUNGS, break_even
from ragperf.coldstart.report import blocks
from ragperf.coldstart.start import PATHS
from ragperf.compile.expected import EXPECTED_DIR, ExpectationMismatch
from ragperf.errors import RagperfError

REPO = Path(__file__).resolve().parents[2]
ROW = {"graphs": 1, "fxgraph_hit": 1, "fxgraph_miss": 0, "fxgraph_bypass": 0, "autograd_hit": 1,
       "autograd_miss": 0, "autograd_bypass": 0, "megacache_entries": 2, "fallback": 0}
KEY = ("tiny-bert", "compile", "megacache", "inductor")


def test_round_trip_and_two_sided_check(tmp_path):
    table = BypassTable.load(tmp_path)
    assert table.path.name.startswith("coldstart-torch")
    table.record(KEY, ROW)
    table.save()
    again = BypassTable.load(tmp_path)
    assert again.rows == {KEY: ROW}
    assert again.path.read_text().splitlines()[0] == ",".join(KEY_FIELDS + COUNT_FIELDS)
    again.check(KEY, ROW)
    for field, value in (("fxgraph_hit", 0), ("fxgraph_bypass", 1), ("fallback", 1)):
        with pytest.raises(ExpectationMismatch, match=field) as info:
            again.check(KEY, {**ROW, field: value})
        assert REGENERATE in str(info.value) and "Row to paste" in str(info.value)


def test_a_recompile_table_is_not_a_bypass_table(tmp_path):
    (tmp_path / "t.csv").write_text("scenario,strategy,backend,graphs\n")
    with pytest.raises(RagperfError, match="header must be model,variant,start_path"):
        BypassTable.load(tmp_path, "t.csv")


def test_shipped_table_covers_every_rung_and_start_path_of_tiny_bert():
    table = BypassTable.load(REPO / EXPECTED_DIR)
    assert table.path.exists(), f"no {table.path.name}: regenerate it with {REGENERATE}"
    missing = [(v, p) for v in COMPILED_RUNGS for p in PATHS if ("tiny-bert", v, p, "inductor") not in table.rows]
    assert not missing, f"rows missing from {table.path}: {missing}; regenerate with {REGENERATE}"


def test_break_even_counts_calls_until_the_start_has_paid_for_itself():
    assert break_even({"eager_median_s": 0.010, "median_s": 0.005, "first_call_s": 1.010}) == pytest.approx(200)
    assert math.isinf(break_even({"eager_median_s": 0.010, "median_s": 0.012, "first_call_s": 0.1}))


def test_section_renders_every_start_and_says_fallbacks():
    def start(first, fallback=None):
        return {"first_call_s": first, "median_s": 0.004, "eager_median_s": 0.008, "speedup": 2.0, "graphs": 1,
                "cache": {"fxgraph_hit": 1}, "fallback": fallback, "parity": {"passed": True, "status": "pass",
                                                                             "max_abs": 1e-7}}
    steps = {"cold": {**start(20.0), "cache_dir_bytes": 2_000_000, "megacache_bytes": 300_000},
             "warm": start(4.0), "megacache": start(12.0, "Mega-Cache not used: truncated"),
             "package": {"package_s": 25.0, "bytes": 5_800_000}, "aoti": {**start(0.2), "graphs": 0}}
    data = {"model": "m", "backend": "inductor", "results": {"compile": steps}}
    _, (_, headers, table) = blocks(data)
    assert [r[1] for r in table] == ["empty cache", "warm local cache", "Mega-Cache, fresh dir", "AOTInductor package"]
    assert table[2][-1] == "Mega-Cache not used: truncated"
    assert table[3][-1] == "package built in 25.0 s" and table[3][8] == "5.8 MB"
    assert table[1][headers.index("break-even (calls)")] == "998"  # (4.0 - 0.008) / (0.008 - 0.004)


def test_coldstart_command_refuses_a_bad_model_in_one_line(capsys, tmp_path):
    from ragperf.cli import main

    assert main(["coldstart", "--model", str(tmp_path / "no-such-model")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ragperf: error:"), err
