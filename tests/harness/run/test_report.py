"""The run report: JSON with the fingerprint, Markdown tables for a CI job summary, terminal text."""

from __future__ import annotations

import json

import pytest

from ragperf.jobs import report as reports

LADDER_ROW = {"variant": "compile+freeze", "eager_median_s": 0.010, "median_s": 0.006, "speedup": 1.66,
              "speedup_low": 1.6, "speedup_high": 1.7, "first_call_s": 12.0, "graphs": 1,
              "probe": {"recompile_list": [{"reason": "0/0: tensor 'L['input_ids']' size mismatch at index 0. "
                                                      "expected 16, actual 1", "kind": "0/1-specialization"}]},
              "recompile_reasons": [], "parity": {"passed": True, "status": "pass", "max_abs": 2e-6}}


def _decode_row(bs, tokens, prefill, first, per_token):
    steps = [first] + [per_token] * 3
    return {"batch_size": bs, "prefill_s": prefill, "first_decode_s": first, "rest_decode_s": 3 * per_token,
            "per_token_s": per_token, "total_s": prefill + sum(steps), "fixed_s": prefill + first - per_token,
            "step_s": steps, "tokens": tokens, "graphs": 2, "recompile_reasons": []}


@pytest.fixture
def report():
    r = reports.new_report({"suite": "all"})
    decoders = {"tiny-llama": {
        "eager": {"rows": [_decode_row(1, [[1, 2, 3, 4]], 0.1, 0.01, 0.01)]},
        "compile-decode": {"rows": [_decode_row(1, [[1, 2, 9, 9]], 0.1, 5.0, 0.005)],
                           "toolchain_warmup_s": 20.0},
        "compile-prefill-decode": {"error": "planted: ragperf.jobs.decode exited 1"}}}
    r["sections"] = {
        "embed": {"status": "ok", "seconds": 30.0, "data": {"model": "minilm", "rounds": 20, "rows": [LADDER_ROW]}},
        "compile_cost": {"status": "failed", "seconds": 1.0, "error": "RagperfError: child died"},
        "coldstart": {"status": "ok", "seconds": 2.0, "data": {"model": "minilm", "backend": "inductor", "results": {
            "compile": {"warm": {"error": "child died"}}}}},
        "coldstart_decode": {"status": "ok", "seconds": 2.0, "data": {
            "model": "tiny-llama", "kind": "decoder", "backend": "inductor", "results": {"compile-decode": {
                "cold": {"first_call_s": 12.0, "median_s": 0.004, "eager_median_s": 0.005, "speedup": 1.25,
                         "tok_s": 250.0, "fallback": None, "graphs": 2, "cache": {"fxgraph_miss": 2},
                         "parity": {"passed": True, "status": "equal", "max_abs": 1e-6}},
                "aoti": {"error": "no AOTInductor package: torch.export of the DynamicCache decode step: UserError"}}}}},
        "rag": {"status": "not available", "seconds": 0.0, "error": "no RAG module"},
        "decode": {"status": "ok", "seconds": 60.0,
                   "data": {"prompt_len": 32, "new_tokens": 4, "decoders": decoders}},
        "serve": {"status": "ok", "seconds": 90.0, "data": {"model": "minilm", "rounds": 3, "seconds": 3.0, "users": 4,
                  "rows": [{"workers": 2, "threads": 1, "variant": "compile", "rps": 96.2, "ratio": 1.11,
                            "ratio_low": 1.09, "ratio_high": 1.12, "p50_ms": 44.0, "p99_ms": 79.0, "errors": 0,
                            "requests": 1148, "recompiles": 0}]}},
    }
    r["sections"]["compile_summary"] = {"status": "ok", "seconds": None,
                                        "data": reports.compile_summary(r["sections"])}
    return r


def test_json_carries_the_machine_fingerprint_and_round_trips(tmp_path, report):
    from ragperf.perf.machine import fingerprint

    json_path, md_path = reports.write(report, tmp_path)
    loaded = json.loads(json_path.read_text())
    assert loaded["fingerprint"]["key"] == fingerprint()["key"]
    assert loaded["sections"]["compile_cost"]["status"] == "failed"
    assert md_path.read_text().startswith("# ragperf run - ")


def test_markdown_has_every_section_and_the_ladder_table(report):
    md = reports.markdown(report)
    for title in reports.SECTIONS.values():
        assert f"## {title}" in md
    # each variant beside the eager it was timed against in its own process; eager's row spans processes
    assert "| compile+freeze | 6.00 | 10.00 | 1.66x | 1.60-1.70x | 12.0 | 1 | pass |" in md
    assert "| 2 x 1 | compile | 96.2 | 1.11x | 1.09-1.12x | 44 | 79 | 0 / 1148 | 0 |" in md
    assert "| eager | 10.00 | 10.00-10.00 | 1.00x |" in md
    assert "**FAILED** (1 s): RagperfError: child died" in md
    assert ("| compile-decode | empty cache | 12.0 | 250 | 1.25x | 1.00x | 11995 | PASS (equal, max abs 1e-06) |  "
            "| 0/2/0 |") in md
    assert "| no AOTInductor package: torch.export of the DynamicCache decode step: UserError |" in md
    assert "**NOT AVAILABLE** (0 s): no RAG module" in md


def test_decode_table_has_the_papers_columns_and_break_even(report):
    md = reports.markdown(report)
    assert ("| mode | batch | prefill (s) | first decode token (s) | rest of decode (s) | per-token decode (ms) "
            "| total (s) | break-even (tokens) |") in md
    # (0.1 + 5.0 - 0.005) - (0.1 + 0.01 - 0.01) fixed seconds more, 0.005 s/token saved: 999 tokens.
    assert "| compile-decode | 1 | 0.10 | 5.00 | 0.01 | 5.00 | 5.11 | 999 |" in md
    assert "FAILED: planted: ragperf.jobs.decode exited 1" in md
    assert "compile-decode 20.0 s" in md


def test_summary_reports_recompile_kinds_and_parity(report):
    rows = {r["what"]: r for r in report["sections"]["compile_summary"]["data"]["rows"]}
    assert rows["ladder compile+freeze"]["parity"].startswith("PASS vs fp64")
    assert rows["tiny-llama compile-decode bs=1"]["parity"] == "DIFFERS from eager from token 2"
    md = reports.markdown(report)
    assert "[0/1-specialization] 0/0: tensor 'L['input_ids']' size mismatch" in md


def test_terminal_text_aligns_columns_without_markdown(report):
    text = reports.text(report)
    ladder = text.split("Embedding ladder")[1].split("Compile cost")[0]
    header = next(line for line in ladder.splitlines() if line.startswith("optimization level"))
    row = next(line for line in ladder.splitlines() if line.startswith("compile+freeze "))
    assert "|" not in header + row and "**" not in text
    assert row[header.index("improvement over eager"):].startswith("1.66x")
    assert row[header.index("parity"):].strip() == "pass"


BUSY = {"cpus": 2, "readings": 5, "readable": True, "load": {"before": 4.1, "mean": 4.8, "max": 5.2, "after": 4.6},
        "steal": 0.0, "flags": ["busy: load 4.8 on 2 cores"]}
QUIET = {"cpus": 2, "readings": 5, "readable": True, "load": {"before": 0.2, "mean": 1.1, "max": 1.4, "after": 1.0},
         "steal": 0.0, "flags": []}


def test_a_section_and_a_row_measured_while_busy_are_flagged_and_the_header_says_the_run_was_not_quiet(report):
    report["sections"]["embed"]["machine"] = BUSY
    report["sections"]["embed"]["data"]["rows"] = [{**LADDER_ROW, "machine": BUSY}]
    report["sections"]["decode"]["machine"] = QUIET
    report["sections"]["decode"]["data"]["decoders"]["tiny-llama"]["compile-decode"]["machine"] = BUSY
    md = reports.markdown(report)
    assert "_machine: NOT QUIET during embed (busy) - their absolute figures unreliable; ratios measured " \
           "interleaved still hold_" in md
    assert ("**busy: load 4.8 on 2 cores - absolute figures unreliable; ratios measured interleaved still hold** "
            "(load 4.8 (max 5.2) on 2 cores, steal 0.0%)") in md
    assert "| compile+freeze | 6.00 | 10.00 | 1.66x | 1.60-1.70x | 12.0 | 1 | pass | busy |" in md
    assert "| compile-decode (busy) | 1 | 0.10 | 5.00 |" in md
    assert "Columns of two contexts: latency and first call are absolute" in md


def test_a_quiet_run_flags_nothing(report):
    for name in ("embed", "decode", "serve"):
        report["sections"][name]["machine"] = QUIET
    report["sections"]["embed"]["data"]["rows"] = [{**LADDER_ROW, "machine": QUIET}]
    md, text = reports.markdown(report), reports.text(report)
    assert "_machine: quiet throughout (load at most 1.4 on 2 cores" in md
    assert "busy" not in md and "drifting" not in md and "NOT QUIET" not in text
    assert "| compile+freeze | 6.00 | 10.00 | 1.66x | 1.60-1.70x | 12.0 | 1 | pass |" in md
