"""Decoders: greedy tokens of each compile mode vs eager (or a near-tie at the first mismatch),
logits parity for prefill and every decode step against fp64, KV cache vs full recomputation,
SDPA vs math attention."""

import pytest
import torch
from _lanes import LANES, require_lane
from torch.nn.attention import SDPBackend, sdpa_kernel

from ragperf.models.decode_modes import names
from ragperf.models.decoders import random_prompts
from ragperf.models.generation import build_generator, recompute_greedy
from ragperf.numerics import parity
from ragperf.numerics.verdicts import assert_parity

pytestmark = pytest.mark.correctness

NEW_TOKENS = 6
# compile-prefill-decode compiles a prefill graph besides the decode graph (~40-80 s per lane on
# this 2-core machine): slow. The default run covers eager and compile-decode in every lane.
CASES = [pytest.param(mode, lane, id=f"{mode}-{lane}",
                      marks=[pytest.mark.slow] if mode == "compile-prefill-decode" else [])
         for mode in names("paper") for lane in LANES]


@pytest.mark.parametrize("mode,lane", CASES)
def test_greedy_tokens_and_step_logits_match_eager(decoder, mode, lane, parity_tolerance, pytestconfig):
    require_lane(lane, decoder.device)
    result = parity.decode_parity(decoder, mode, lane, parity_tolerance(decoder.device, decoder.dtype, lane),
                                  random_prompts(decoder, 2, 7), NEW_TOKENS, dynamic=True,
                                  backend=pytestconfig.getoption("--ragperf-backend"))
    assert result.passed, result.message()
    assert len(result.steps) == (NEW_TOKENS if result.first_mismatch is None else result.first_mismatch + 1)


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_kv_cache_decoding_equals_full_recomputation(decoder, cache):
    prompt = random_prompts(decoder, 3, 9, seed=1)
    cached = build_generator(decoder, "eager", cache=cache).generate(prompt, 6).tokens
    recomputed = recompute_greedy(decoder, prompt, 6)
    mismatch = (cached != recomputed).any(dim=0).nonzero().flatten().tolist()
    assert not mismatch, f"{cache} KV cache diverges from full recomputation at steps {mismatch}"


def test_sdpa_matches_math_attention(decoder, parity_tolerance):
    """The fused SDPA kernel vs SDPA's math reference, both judged against fp64 prefill logits."""
    prompt = random_prompts(decoder, 2, 16, seed=2)
    reference = parity.fp64_decoder(decoder)
    with torch.inference_mode():
        fp64 = reference.model(input_ids=prompt, use_cache=False).logits
        fused = decoder.model(input_ids=prompt, use_cache=False).logits
        with sdpa_kernel([SDPBackend.MATH]):
            math_first = decoder.model(input_ids=prompt, use_cache=False).logits
            math_again = decoder.model(input_ids=prompt, use_cache=False).logits
    assert decoder.model.config._attn_implementation == "sdpa", "the decoder does not use SDPA; nothing compared"
    assert_parity(math_first, fused, fp64, parity_tolerance(decoder.device, decoder.dtype, "off"),
                  eager_again=math_again, name=f"{decoder.name} SDPA vs math attention")
