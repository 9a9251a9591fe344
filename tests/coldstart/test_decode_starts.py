"""The decode-mode rows of the cold-start matrix on tiny-llama: the decode-step AOTInductor package, its
fallback, what torch.export says to a dynamic-cache step, and the perf metrics' wiring."""

import pytest

from ragperf.coldstart import artifacts as carried
from ragperf.coldstart import decode_package
from ragperf.coldstart.matrix import matrix, rows
from ragperf.coldstart.metrics import measurements, prefix
from ragperf.jobs.child import run_here
from ragperf.perf import gate

DECODER = "tiny-llama"


@pytest.fixture(scope="module")
def tiny_llama():
    from ragperf.models.decoders import load_decoder

    return load_decoder(DECODER)


def _in_process(args, env):
    """One start in this process (the matrix's runner seam): cheap where no Inductor cache is involved."""
    import torch

    torch._dynamo.reset()
    return run_here("coldstart", args)


def test_perf_metrics_come_from_the_matrix_and_go_through_the_gate():
    """tiny-bert, aot_eager, starts in this process: cold and warm become gated metrics, report-only
    without a baseline."""
    data = matrix("tiny-bert", ["compile"], ["cold", "warm"], rounds=2, backend="aot_eager", runner=_in_process)
    name = prefix("tiny-bert", "compile", "aot_eager")
    measured = measurements(name, [data])
    assert set(measured) == {f"{name}/cold/first_call_s", f"{name}/warm/start_speedup"}
    assert measured[f"{name}/cold/first_call_s"].kind == "latency"
    warm = measured[f"{name}/warm/start_speedup"]
    steps = data["results"]["compile"]
    assert warm.kind == "speedup" and warm.value == steps["cold"]["first_call_s"] / steps["warm"]["first_call_s"]
    assert warm.se == 1.0  # one matrix cannot tell its own noise
    assert {d.status for d in gate.gate(measured, None)} == {gate.REPORT}


def _start(first_call_s, **extra):
    return {"first_call_s": first_call_s, "fallback": None, **extra}


def test_start_paths_that_fell_back_or_failed_yield_no_metric_and_repeats_give_the_noise():
    results = [{"cold": _start(c), "warm": _start(w), "megacache": _start(1.0, fallback="Mega-Cache not used: ..."),
                "aoti": {"error": "no AOTInductor package: ..."}} for c, w in ((10.0, 2.0), (12.0, 2.0), (11.0, 2.2))]
    measured = measurements("coldstart/m/v", [{"results": {"v": r}} for r in results])
    assert set(measured) == {"coldstart/m/v/cold/first_call_s", "coldstart/m/v/warm/start_speedup"}
    warm = measured["coldstart/m/v/warm/start_speedup"]
    assert warm.value == 5.0 and 0 < warm.se < 0.1  # median of 5, 6, 5; se from their spread
    assert measured["coldstart/m/v/cold/first_call_s"].value == 11.0


@pytest.mark.slow  # registers a process-wide pytree node for DynamicCache: a fresh process, not the suite's
def test_dynamic_cache_decode_step_has_no_package_and_the_row_says_what_torch_said(private_tmp):
    data = matrix(DECODER, ["compile-decode"], ["aoti"], rounds=1, kind="decoder")
    line = data["results"]["compile-decode"]["package"]["error"]
    assert line.startswith("torch.export of the DynamicCache decode step: UserError: Constraints violated"), line
    assert "\n" not in line
    assert data["results"]["compile-decode"]["aoti"]["error"] == f"no AOTInductor package: {line}"


def test_truncated_decode_package_falls_back_to_torch_compile(tmp_path, tiny_llama):
    package = tmp_path / decode_package.DECODE_AOTI
    package.write_bytes(b"PK\x03\x04" + bytes(4096))
    carried.write_manifest(package, "aoti-decode")
    package.write_bytes(package.read_bytes()[:100])
    generator, line = decode_package.load_decode_package(package, tiny_llama, "static-cudagraphs", "aot_eager")
    assert "truncated" in line and "compiling static-cudagraphs with torch.compile instead" in line
    assert generator.mode == "static-cudagraphs" and generator.decode_fn is not tiny_llama.model


def test_embedder_package_is_no_decode_package(tmp_path, tiny_llama):
    package = tmp_path / decode_package.DECODE_AOTI
    package.write_bytes(b"an embedder's package")
    carried.write_manifest(package, "aoti")
    _, line = decode_package.load_decode_package(package, tiny_llama, "static-cudagraphs", "aot_eager")
    assert "is a 'aoti' artifact, not 'aoti-decode'" in line


@pytest.mark.slow
def test_decode_step_package_serves_tokens_equal_to_eager_without_compiling(private_tmp):
    """Inductor: the static-cache decode step packaged in one process, served in a fresh one: no JIT graph,
    greedy tokens equal to eager's."""
    data = matrix(DECODER, ["static-cudagraphs"], ["aoti"], rounds=3, kind="decoder")
    static = data["results"]["static-cudagraphs"]
    assert static["package"]["bytes"] > 0, static
    aoti = static["aoti"]
    assert aoti["fallback"] is None and aoti["graphs"] == 0 and sum(aoti["cache"].values()) == 0, aoti
    assert aoti["parity"]["status"] == "equal", aoti["parity"]
    assert list(private_tmp.iterdir()) == []


@pytest.mark.slow
def test_decode_mode_cold_warm_megacache_rows(private_tmp):
    data = matrix(DECODER, ["compile-decode"], ["cold", "warm", "megacache"], rounds=3, backend="aot_eager",
                  kind="decoder")
    by_path = {r["path"]: r for r in rows(data)}
    assert set(by_path) == {"cold", "warm", "megacache"}
    for row in by_path.values():
        assert row["parity"].startswith("PASS (equal"), row
        assert row["tok_s"] > 0 and row["first_call_s"] > 0
    assert "Mega-Cache not used" in by_path["megacache"]["fallback"]


@pytest.mark.slow
def test_run_suite_coldstart_has_the_decode_mode_section(tmp_path):
    """``ragperf run --suite coldstart``: the embedder matrix and the decode-mode matrix, both sections ok."""
    import json
    import subprocess
    import sys

    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "ragperf.cli", "run", "--quick", "--suite", "coldstart", "--model",
                             "tiny-bert", "--decoder", DECODER, "--backend", "aot_eager", "--out", str(out)],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    sections = json.loads((out / "report.json").read_text())["sections"]
    assert sections["coldstart"]["status"] == "ok" and sections["coldstart_decode"]["status"] == "ok"
    decode = sections["coldstart_decode"]["data"]
    assert decode["kind"] == "decoder" and set(decode["results"]) == {"compile-decode", "static-cudagraphs"}
    assert all("error" not in r for steps in decode["results"].values() for r in steps.values()), decode
    assert "Cold start of the decode modes" in (out / "report.md").read_text()


@pytest.mark.slow
def test_decode_matrix_matches_the_bypass_table(private_tmp, bypass_table):
    """Every default decode mode x start path on tiny-llama with Inductor: fails when torch changes what the
    decode modes hit, miss or bypass (regenerate: ragperf coldstart --decoder tiny-llama --update-expected)."""
    from ragperf.coldstart.bypass import counts
    from ragperf.coldstart.decode import DEFAULT_MODES

    data = matrix(DECODER, DEFAULT_MODES, rounds=2, kind="decoder")
    problems = []
    for mode, steps in data["results"].items():
        for path, result in steps.items():
            if path == "package" or "error" in result:
                continue
            try:
                bypass_table.verify((DECODER, mode, path, "inductor"), counts(result))
            except AssertionError as exc:
                problems.append(str(exc))
    assert not problems, "\n".join(problems)
    assert {p for p, r in data["results"]["static-cudagraphs"].items() if "error" not in r} >= {"aoti"}
