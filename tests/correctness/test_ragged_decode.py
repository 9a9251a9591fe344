"""Batched decode of ragged prompts (left padding + attention mask): each row's greedy tokens equal its
prompt generated alone in eager (near-tie rule), eager and compiled, HF model and reference; a new mix
of lengths padded to the same length reuses the compiled decode without a recompile. On tiny-llama and
each ``--ragperf-decoder`` model (the reference modes only where the model is a Llama); the checks of
the check (learned positions, a dropped mask) on the models that show them."""

import pytest
import torch
from _models import build_generator_or_skip

from ragperf.compile.probe import CompileProbe, steady_decode
from ragperf.models.decoders import left_pad, load_decoder, ragged_prompts
from ragperf.models.generation import Generation, build_generator
from ragperf.numerics.parity import greedy_agreement

pytestmark = pytest.mark.correctness

NEW_TOKENS, PAD_TO = 6, 8
LENGTHS, OTHER_MIX = [7, 4, 2], [3, 8, 5]
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU ragged decode needs one")
MODES = ("eager", "static-cudagraphs", "reference-eager", "reference-cudagraphs")
# On CPU the compiled modes' rows are also checked by the length-mix test below: here they are slow-only.
CASES = [pytest.param(m, "cpu", marks=[pytest.mark.slow] if "cudagraphs" in m else []) for m in MODES] + [
    pytest.param(m, "cuda", marks=[pytest.mark.gpu, NO_CUDA]) for m in MODES]
COMPILED = [pytest.param(m, "cpu") for m in ("static-cudagraphs", "reference-cudagraphs")] + [
    pytest.param(m, "cuda", marks=[pytest.mark.gpu, NO_CUDA]) for m in ("static-cudagraphs", "reference-cudagraphs")]


def _row(generation: Generation, row: int) -> Generation:
    return Generation(generation.tokens[row:row + 1], 0.0, [], [step[row:row + 1] for step in generation.logits])


def _check_rows_equal_alone(decoder, generator, prompts, tolerance, pad_to=PAD_TO):
    ids, mask = left_pad(prompts, pad_to=pad_to)
    batch = generator.generate(ids, NEW_TOKENS, record_logits=True, attention_mask=mask)
    eager = build_generator(decoder, "eager")
    for row, prompt in enumerate(prompts):
        alone = eager.generate(prompt[None], NEW_TOKENS, record_logits=True)
        agree, detail = greedy_agreement(alone, _row(batch, row), tolerance)
        assert agree, f"{generator.mode}: row {row} (prompt of {len(prompt)} tokens, padded to {pad_to}) vs alone: {detail}"


@pytest.mark.parametrize("mode,device", CASES)
def test_ragged_rows_equal_their_prompts_generated_alone(mode, device, parity_tolerance, judged_decoder_spec):
    decoder = load_decoder(judged_decoder_spec, device=device)
    _check_rows_equal_alone(decoder, build_generator_or_skip(decoder, mode), ragged_prompts(decoder, LENGTHS),
                            parity_tolerance(decoder.device, decoder.dtype, "off"))


def test_absolute_positions_shift_out_the_padding(parity_tolerance):
    """GPT-2's learned positions (unlike rotary ones, which see only distances) need each row's positions
    to start at its first real token: the position ids of the ragged batch do that."""
    decoder = load_decoder("tiny-gpt2")
    _check_rows_equal_alone(decoder, build_generator(decoder, "eager", cache="static"),
                            ragged_prompts(decoder, LENGTHS), parity_tolerance(decoder.device, decoder.dtype, "off"))


def test_without_the_mask_padded_rows_diverge():
    """The check above can fail: drop the mask and the padding leaks into the padded rows."""
    decoder = load_decoder("tiny-llama")
    prompts = ragged_prompts(decoder, LENGTHS)
    ids, _ = left_pad(prompts, pad_to=PAD_TO)
    unmasked = build_generator(decoder, "eager").generate(ids, NEW_TOKENS).tokens
    alone = torch.cat([build_generator(decoder, "eager").generate(p[None], NEW_TOKENS).tokens for p in prompts])
    assert not torch.equal(unmasked, alone)


@pytest.mark.parametrize("mode,device", COMPILED)
def test_a_new_length_mix_reuses_the_compiled_decode(mode, device, parity_tolerance, judged_decoder_spec):
    decoder = load_decoder(judged_decoder_spec, device=device)
    generator = build_generator_or_skip(decoder, mode)
    tolerance = parity_tolerance(decoder.device, decoder.dtype, "off")
    with CompileProbe() as warm:
        for _ in range(2):  # compile, then (CUDA) record
            _check_rows_equal_alone(decoder, generator, ragged_prompts(decoder, LENGTHS), tolerance)
    assert warm.report.graphs == 1, warm.report.summary()
    with steady_decode():  # a different mix, the same padded shape: no recompile, no re-record
        _check_rows_equal_alone(decoder, generator, ragged_prompts(decoder, OTHER_MIX, seed=1), tolerance)
