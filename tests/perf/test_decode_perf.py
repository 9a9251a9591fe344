"""Greedy decode with the decode step compiled, against eager, on the ``--ragperf-decoder`` (tiny-llama)."""

import pytest

from ragperf.perf.cases import Case

pytestmark = pytest.mark.perf


def test_compiled_decode_vs_eager(benchmark, ragperf_perf, pytestconfig, decoder_spec):
    case = Case("decode", decoder_spec, "compile-decode", rounds=30,
                device=pytestconfig.getoption("--ragperf-device"))
    benchmark.group = f"decode/{case.model}"
    decisions = ragperf_perf.check(case, benchmark)
    assert benchmark.extra_info["ragperf"]["recompiles_while_timed"] == 0
    assert {d.metric for d in decisions} == {f"{case.prefix}/speedup", f"{case.prefix}/median_s"}


# The dynamic-cache modes on both decoders; the deployed ones (static cache + CUDA graphs, the best HF
# mode, and the plain-PyTorch reference) on Llama, whose figures the GPU docs quote.
GPU_CASES = [(d, m) for d in ("gpt2", "llama-3.2-1b") for m in ("compile-decode", "compile-prefill-decode")] + [
    ("llama-3.2-1b", m) for m in ("static-cudagraphs", "static-max-autotune", "reference-cudagraphs")]


@pytest.mark.gpu
@pytest.mark.parametrize("decoder_name,mode", GPU_CASES)
def test_real_shape_bf16_decode_on_gpu(benchmark, ragperf_perf, decoder_name, mode):
    """GPT-2 124M and Llama-3.2-1B shapes (dummy weights, bf16): tokens/s and the bandwidth roofline."""
    case = Case("decode", decoder_name, mode, rounds=10, device="cuda", dtype="bfloat16", prompt_len=128,
                new_tokens=64)
    benchmark.group = f"decode/{decoder_name}@bfloat16"
    ragperf_perf.check(case, benchmark)
    figures = benchmark.extra_info["ragperf"]
    assert figures["recompiles_while_timed"] == 0
    assert figures["tokens_per_s"] > 0 and 0 < figures["roofline_fraction"] <= 1.0, figures
