"""The decode section on GPUs: the deployed modes and the reference run, and the report puts each
mode's tok/s beside the fastest reference's and the bandwidth roofline (datasheet and measured copy)."""

from argparse import Namespace

import pytest

from ragperf.commands import run as run_cmd
from ragperf.jobs import report as reports
from ragperf.jobs.decode import measure_mode
from ragperf.jobs.decode_rates import rate_table, reference_rates

TINY = {"prompt_len": 6, "new_tokens": 6, "backend": "aot_eager"}


def _row(batch, rate, roof=None, copy=None, recorded=0, warm=0):
    return {"batch_size": batch, "tokens_per_s": rate, "roofline_fraction": roof, "copy_fraction": copy,
            "cudagraph_recordings": recorded, "warm_cudagraph_recordings": warm, "cudagraph_skip_reasons": []}


def test_rate_table_divides_by_the_fastest_reference_at_the_same_batch():
    jobs = {"static-cudagraphs": {"rows": [_row(1, 468.0, 0.24, 0.27, recorded=2), _row(2, 800.0)]},
            "reference-cudagraphs": {"rows": [_row(1, 600.0), _row(2, 1000.0)]},
            "reference-max-autotune": {"rows": [_row(1, 730.0, 0.38, 0.42)]},
            "compile-prefill-decode": {"error": "planted"}}
    assert reference_rates(jobs) == {1: ("reference-max-autotune", 730.0), 2: ("reference-cudagraphs", 1000.0)}
    headers, rows = rate_table(jobs)
    by = {(r[0], r[1]): r for r in rows}
    assert by["static-cudagraphs", "1"][2:] == ["468.0", "64%", "24%", "27%", "2 / 0"]
    assert by["static-cudagraphs", "2"][3] == "80%"
    assert by["reference-max-autotune", "1"][3] == "100%"
    assert headers[3] == "% of reference" and len(headers) == len(rows[0])


def test_rate_table_is_absent_without_rates():
    assert rate_table({"eager": {"error": "x"}}) is None


def test_the_report_renders_the_rate_table():
    data = {"prompt_len": 128, "new_tokens": 64, "decoders": {"llama-3.2-1b": {
        "static-max-autotune": {"rows": [{**_row(1, 528.0, 0.27, 0.31), "prefill_s": 0.1, "first_decode_s": 30.0,
                                          "rest_decode_s": 0.1, "per_token_s": 1 / 528, "total_s": 30.2}]},
        "reference-max-autotune": {"rows": [{**_row(1, 730.0, 0.38, 0.42), "prefill_s": 0.1, "first_decode_s": 20.0,
                                             "rest_decode_s": 0.1, "per_token_s": 1 / 730, "total_s": 20.2}]}}}}
    text = reports.markdown({"sections": {"decode": {"status": "ok", "seconds": 1.0, "data": data}},
                             "fingerprint": {}, "options": {}, "plots": []})
    assert "% of reference" in text and "72%" in text and "42%" in text


@pytest.mark.parametrize("mode", ["static-cudagraphs", "reference-cudagraphs"])
def test_deployed_and_reference_modes_measure_on_cpu(mode):
    eager = measure_mode("tiny-llama", "eager", [1], **TINY)
    job = measure_mode("tiny-llama", mode, [1], **TINY)
    (row,) = job["rows"]
    assert row["tokens"] == eager["rows"][0]["tokens"] and row["tokens_equal"]
    assert row["tokens_per_s"] == pytest.approx(1 / row["per_token_s"])
    assert row["graphs"] == 1 and row["warm_cudagraph_recordings"] == 0
    assert "roofline_fraction" not in row and job["copy_bytes_per_s"] is None  # CPU: no GPU roofline


@pytest.mark.parametrize("device,expect_gpu_modes", [("cpu", False), ("cuda", True)])
def test_run_decode_section_picks_the_gpu_modes_on_cuda(monkeypatch, device, expect_gpu_modes):
    modes = []

    def fake_job(module, job_args, **kwargs):
        modes.append(job_args[job_args.index("--variant") + 1])
        return {"rows": []}

    monkeypatch.setattr("ragperf.subproc.run_json", fake_job)
    args = Namespace(decoder=["tiny-llama"], device=device, batch_sizes=None, new_tokens=None, backend="inductor")
    run_cmd._decode(args, "quick")
    gpu_modes = {"static-cudagraphs", "static-max-autotune", "reference-cudagraphs", "reference-max-autotune"}
    assert (gpu_modes <= set(modes)) == expect_gpu_modes and "eager" in modes
