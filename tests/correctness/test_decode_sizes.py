"""Decode compiled ahead for several batch sizes: every size captured before timing, the timed window
has zero recompiles (and, on CUDA, zero CUDA-graph recordings), tokens equal the capture runs'; a size
not compiled ahead fails the window with the guard that broke. On tiny-llama and each ``--ragperf-decoder`` model."""

import pytest
import torch

from ragperf.coldstart.sizes import compile_ahead, parse_sizes
from ragperf.compile.probe import RecompileInSteadyState, steady_decode
from ragperf.errors import RagperfError
from ragperf.models.decoders import load_decoder, random_prompts
from ragperf.models.generation import build_generator

pytestmark = pytest.mark.correctness

PROMPT, NEW_TOKENS = 5, 4


def _ahead(device, sizes, backend, mode="static-cudagraphs", dtype=torch.float32, spec="tiny-llama"):
    decoder = load_decoder(spec, device=device, dtype=dtype)
    return decoder, compile_ahead(build_generator(decoder, mode, backend=backend), decoder, sizes,
                                  prompt_len=PROMPT, new_tokens=NEW_TOKENS)


def _check_timed(ahead):
    runs = ahead.timed(rounds=2)
    assert set(runs) == set(ahead.sizes)
    for size, generations in runs.items():
        for generation in generations:
            assert torch.equal(generation.tokens, ahead.warm_tokens[size]), f"batch {size} tokens changed"
    assert ahead.timed_probe.recompiles == 0 and ahead.timed_probe.graphs == 0, ahead.timed_probe.summary()
    assert ahead.timed_probe.cudagraphs.recordings == 0, ahead.timed_probe.summary()


def test_sizes_compiled_ahead_are_timed_without_a_recompile(pytestconfig, judged_decoder_spec):
    _, ahead = _ahead("cpu", (1, 2), pytestconfig.getoption("--ragperf-backend"), spec=judged_decoder_spec)
    assert ahead.capture.graphs == 2, ahead.capture.summary()  # one decode graph per size, both ahead
    _check_timed(ahead)


def test_a_size_not_compiled_ahead_fails_the_window(pytestconfig, judged_decoder_spec):
    decoder, ahead = _ahead("cpu", (1,), pytestconfig.getoption("--ragperf-backend"), spec=judged_decoder_spec)
    with pytest.raises(RecompileInSteadyState, match=r"size mismatch at index 0\. expected 1, actual 2"):
        with steady_decode():
            ahead.generator.generate(random_prompts(decoder, 2, PROMPT), NEW_TOKENS)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA graphs need one")
@pytest.mark.parametrize("mode", ["static-cudagraphs", "reference-cudagraphs"])
def test_decode_sizes_captured_ahead_on_gpu(ragperf_decode_sizes, mode):
    """``--ragperf-decode-sizes 1,2,4,8``: every size's CUDA graph recorded ahead, none while timed."""
    _, ahead = _ahead("cuda", ragperf_decode_sizes, "inductor", mode, torch.bfloat16)
    assert ahead.capture.cudagraphs.recordings >= len(ragperf_decode_sizes), ahead.capture.summary()
    assert ahead.capture.cudagraphs.skips == 0, ahead.capture.summary()
    _check_timed(ahead)


@pytest.mark.parametrize("text", ["", "0,1", "1,1", "1,x", "-2"])
def test_bad_decode_sizes_are_refused_in_one_line(text):
    with pytest.raises(RagperfError, match="distinct positive batch sizes"):
        parse_sizes(text, "decode sizes")


def test_decode_sizes_parse():
    assert parse_sizes("1,2,4,8", "decode sizes") == (1, 2, 4, 8)
