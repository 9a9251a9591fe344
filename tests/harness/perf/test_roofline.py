"""Bytes-per-token arithmetic of the decode roofline, checked against hand counts."""

import pytest
import torch

from ragperf.models.decoders import load_decoder
from ragperf.perf.roofline import decode_bytes_per_token, decode_roofline, kv_cache_bytes, peak_bandwidth


def test_kv_cache_bytes_count_grouped_query_heads():
    llama = load_decoder("tiny-llama")  # 2 layers, 2 kv heads of dim 16, fp32
    assert kv_cache_bytes(llama, batch=3, positions=10) == 2 * 2 * 3 * 2 * 16 * 10 * 4


def test_gpt2_has_as_many_kv_heads_as_heads():
    gpt2 = load_decoder("tiny-gpt2")  # 2 layers, 4 heads of dim 16
    assert kv_cache_bytes(gpt2, batch=1, positions=8) == 2 * 2 * 1 * 4 * 16 * 8 * 4


def test_bytes_per_token_is_weights_plus_kv_at_the_mean_position():
    llama = load_decoder("tiny-llama", dtype=torch.bfloat16)
    weights = sum(p.numel() for p in llama.model.parameters()) * 2
    assert llama.weight_bytes() == weights
    expected = weights + kv_cache_bytes(llama, 1, 5 + 10)
    assert decode_bytes_per_token(llama, batch=1, prompt_len=5, new_tokens=20) == expected


def test_fraction_of_peak():
    llama = load_decoder("tiny-llama")
    line = decode_roofline(llama, 1, 5, 20, seconds_per_token=1e-3, peak_bytes_per_s=1e9)
    assert line.fraction == pytest.approx(line.bytes_per_token / 1e-3 / 1e9)


def test_peak_bandwidth_is_known_for_the_lent_gpus_and_unknown_otherwise():
    assert peak_bandwidth("NVIDIA H100 80GB HBM3") == 3.35e12
    assert peak_bandwidth("NVIDIA H200") == 4.8e12
    assert peak_bandwidth("Some Future Board") is None
