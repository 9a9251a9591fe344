"""Timing without per-step host syncs: between the first decode step and the last, the decode loop
(slots, argmax, clock marks) and the compiled decode step never synchronize the host with the GPU
(``torch.cuda.set_sync_debug_mode("error")`` raises on any sync)."""

import pytest
import torch
from _models import build_generator_or_skip

from ragperf.models.decoders import load_decoder, random_prompts
from ragperf.models.generation import greedy_loop

pytestmark = [pytest.mark.correctness, pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: host syncs are a GPU matter")]

NEW_TOKENS = 8


def _sync_checked(decode, steps: int):
    """``decode`` with sync errors on from its first call until its last returns."""
    calls = {"n": 0}

    def checked(*args, **kwargs):
        calls["n"] += 1
        torch.cuda.set_sync_debug_mode("error")
        out = decode(*args, **kwargs)
        if calls["n"] == steps:
            torch.cuda.set_sync_debug_mode("default")
        return out
    return checked, calls


def test_the_decode_loop_itself_never_syncs():
    def logits(ids, *_):
        return torch.randn(ids.shape[0], 50, device="cuda")

    decode, calls = _sync_checked(logits, NEW_TOKENS - 1)
    prompt = torch.ones(2, 5, dtype=torch.long, device="cuda")
    try:
        with torch.inference_mode():
            greedy_loop(logits, decode, prompt, NEW_TOKENS, torch.device("cuda"),
                        attention_mask=torch.ones(2, 5, dtype=torch.long))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert calls["n"] == NEW_TOKENS - 1


@pytest.mark.parametrize("mode", ["static-cudagraphs", "reference-cudagraphs"])
def test_captured_decode_steps_never_sync(mode, judged_decoder_spec):
    decoder = load_decoder(judged_decoder_spec, device="cuda", dtype=torch.bfloat16)
    generator = build_generator_or_skip(decoder, mode)
    prompt = random_prompts(decoder, 1, 7)
    for _ in range(2):  # compile, record
        generator.generate(prompt, NEW_TOKENS)
    generator.decode_fn, calls = _sync_checked(generator.decode_fn, NEW_TOKENS - 1)
    try:
        generator.generate(prompt, NEW_TOKENS)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert calls["n"] == NEW_TOKENS - 1
