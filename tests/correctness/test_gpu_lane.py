"""The CUDA lane: bf16 weights and the GPU-only compile modes, through the same fp64-anchored verdicts."""

import pytest
import torch
from torch._dynamo.utils import counters

from ragperf.models import embedders
from ragperf.models.decode_modes import names
from ragperf.models.decoders import load_decoder, random_prompts
from ragperf.models.ladder import GPU_VARIANTS, build_variant, variants_for
from ragperf.numerics import parity

pytestmark = [pytest.mark.gpu, pytest.mark.correctness]


@pytest.fixture(scope="module")
def bf16_embedder(embedder_spec):
    return embedders.load_embedder(embedder_spec, device="cuda", dtype=torch.bfloat16)


@pytest.mark.parametrize("variant", variants_for("cuda"))
def test_bf16_embedder_variant_matches_eager(bf16_embedder, variant, parity_tolerance):
    verdict = parity.embedder_parity(bf16_embedder, variant, "off",
                                     parity_tolerance(bf16_embedder.device, torch.bfloat16, "off"))
    assert verdict.passed, verdict.message()


@pytest.mark.parametrize("variant", list(GPU_VARIANTS))
def test_gpu_variants_run_without_cudagraph_skips(load_embedder, variant, parity_tolerance):
    embedder = load_embedder("tiny-bert")
    model = build_variant(embedder, variant)
    for texts in (["one short text"] * 4, ["another batch of texts, a little longer"] * 4):
        for _ in range(3):
            model.encode(texts)
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    verdict = parity.embedder_parity(embedder, variant, "off", parity_tolerance(embedder.device, torch.float32, "off"))
    assert verdict.passed, verdict.message()


@pytest.mark.parametrize("mode", names("paper", compiled=True))
def test_bf16_greedy_decode_matches_eager_or_diverges_at_a_near_tie(mode, parity_tolerance):
    decoder = load_decoder("tiny-llama", device="cuda", dtype=torch.bfloat16)
    result = parity.decode_parity(decoder, mode, "off", parity_tolerance(decoder.device, torch.bfloat16, "off"),
                                  random_prompts(decoder, 2, 8), 16)
    assert result.passed, result.message()
