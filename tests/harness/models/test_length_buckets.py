"""Length buckets for a served static-cache generator (ragperf.models.generation): one cache length per bucket,
the greedy tokens of the exact-length cache. tiny-llama on CPU, compiled with the eager backend: cheap."""

from __future__ import annotations

import pytest
import torch

from ragperf.errors import RagperfError
from ragperf.models.decoders import load_decoder, random_prompts
from ragperf.models.generation import MAX_BUCKETS, bucket_for, build_generator, length_buckets

NEW_TOKENS = 6


@pytest.fixture(scope="module")
def decoder():
    return load_decoder("tiny-llama")


def test_buckets_are_doubling_lengths_ending_at_the_context():
    assert length_buckets(512) == (64, 128, 256, 512)
    assert length_buckets(2048) == (64, 128, 256, 512, 1024, 2048)
    assert length_buckets(300, smallest=100) == (100, 200, 300)
    assert length_buckets(50) == (50,)
    assert bucket_for((64, 128), 64) == 64 and bucket_for((64, 128), 65) == 128
    with pytest.raises(RagperfError, match="longest cache length"):
        bucket_for((64, 128), 129)
    with pytest.raises(RagperfError, match="recompile limit"):
        length_buckets(64 * 2 ** MAX_BUCKETS)
    assert MAX_BUCKETS < torch._dynamo.config.recompile_limit  # each bucket is one more compile of forward


@pytest.mark.parametrize("prompt_len", [1, 9, 58, 59, 70, 200, 500])
def test_a_bucketed_static_cache_gives_the_exact_length_caches_greedy_tokens(decoder, prompt_len):
    prompt = random_prompts(decoder, 1, prompt_len, seed=prompt_len)
    new_tokens = min(NEW_TOKENS, 512 - prompt_len)
    exact = build_generator(decoder, "static-cudagraphs", backend="eager")
    bucketed = build_generator(decoder, "static-cudagraphs", backend="eager")
    bucketed.cache_lengths = length_buckets(512)
    want = exact.generate(prompt, new_tokens).tokens
    assert torch.equal(bucketed.generate(prompt, new_tokens).tokens, want)
    assert torch.equal(build_generator(decoder, "eager").generate(prompt, new_tokens).tokens, want)
    assert list(bucketed._caches) == [(1, bucket_for(bucketed.cache_lengths, prompt_len + new_tokens))]
    assert list(exact._caches) == [(1, prompt_len + new_tokens)]
