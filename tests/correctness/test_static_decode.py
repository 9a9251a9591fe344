"""Static-cache decode modes (the GPU deployment recipe): greedy tokens equal eager's, a second
generation of the same shape replays without a recompile, and a planted new shape in the steady
window fails with the guard that broke. On tiny-llama and each ``--ragperf-decoder`` model."""

import pytest
import torch

from ragperf.compile.probe import RecompileInSteadyState, steady_state
from ragperf.models.clock import StepClock
from ragperf.models.decode_modes import names
from ragperf.models.decoders import load_decoder, random_prompts
from ragperf.models.generation import build_generator

pytestmark = pytest.mark.correctness

NEW_TOKENS = 6
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                             reason="no CUDA device: the CUDA-graph decode runs only on a GPU")
DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=[pytest.mark.gpu, NO_CUDA])]
# On CPU both static modes compile the same default-mode graph: the second one is slow-only.
CASES = [pytest.param(mode, device, id=f"{mode}-{device}",
                      marks=([pytest.mark.slow] if mode == "static-max-autotune" and device == "cpu" else [])
                      + ([pytest.mark.gpu, NO_CUDA] if device == "cuda" else []))
         for mode in names("static") for device in ("cpu", "cuda")]


@pytest.fixture(scope="module")
def generators(judged_decoder_spec):
    made = {}

    def get(mode, device):
        if (mode, device) not in made:
            decoder = load_decoder(judged_decoder_spec, device=device)
            made[mode, device] = (decoder, build_generator(decoder, mode))
        return made[mode, device]
    return get


@pytest.mark.parametrize("mode,device", CASES)
def test_static_mode_greedy_tokens_equal_eager(generators, mode, device):
    decoder, generator = generators(mode, device)
    prompt = random_prompts(decoder, 1, 7)
    eager = build_generator(decoder, "eager").generate(prompt, NEW_TOKENS).tokens
    tokens = generator.generate(prompt, NEW_TOKENS).tokens
    mismatch = (tokens != eager).any(dim=0).nonzero().flatten().tolist()
    assert not mismatch, f"{mode} diverges from eager at decode steps {mismatch}"


@pytest.mark.parametrize("mode,device", CASES)
def test_steady_decode_window_has_no_recompile(generators, mode, device):
    decoder, generator = generators(mode, device)
    prompt = random_prompts(decoder, 1, 7, seed=3)
    first = generator.generate(prompt, NEW_TOKENS)  # captures (or reuses) the decode graph
    with steady_state():
        again = generator.generate(prompt, NEW_TOKENS)
    assert torch.equal(first.tokens, again.tokens)
    assert len(again.step_s) == NEW_TOKENS - 1 and all(s > 0 for s in again.step_s)


@pytest.mark.parametrize("device", DEVICES)
def test_planted_new_shape_fails_the_steady_window_with_the_reason(generators, device):
    decoder, generator = generators("static-cudagraphs", device)
    generator.generate(random_prompts(decoder, 1, 7), NEW_TOKENS)
    with pytest.raises(RecompileInSteadyState, match=r"input_ids.*size mismatch at index 0"):
        with steady_state():
            generator.generate(random_prompts(decoder, 2, 7), NEW_TOKENS)  # batch 2: a new shape


def test_step_clock_gives_one_interval_per_step():
    clock = StepClock("cpu")
    for _ in range(4):
        clock.mark()
    intervals = clock.intervals()
    assert len(intervals) == 3 and all(i >= 0 for i in intervals)
