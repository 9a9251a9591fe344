"""The plain-PyTorch reference Llama: it holds the HF model's weights, gives its logits and its greedy
tokens (near-tie rule) eager and compiled, and refuses configs it does not implement."""

import pytest
import torch

from ragperf.errors import RagperfError
from ragperf.models.decoders import load_decoder, random_prompts
from ragperf.models.generation import build_generator
from ragperf.models.reference_llama import LlamaShape, from_hf, rope_inv_freq
from ragperf.models.registry import MODELS
from ragperf.numerics.parity import greedy_agreement

pytestmark = pytest.mark.correctness

NEW_TOKENS = 6
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the reference's GPU modes need one")
CASES = [pytest.param("reference-eager", "cpu"),
         pytest.param("reference-cudagraphs", "cpu"),  # off CUDA: inductor's default mode
         pytest.param("reference-max-autotune", "cpu", marks=pytest.mark.slow),  # the same graph on CPU
         *[pytest.param(m, "cuda", marks=[pytest.mark.gpu, NO_CUDA])
           for m in ("reference-eager", "reference-cudagraphs", "reference-max-autotune")]]


@pytest.fixture(scope="module")
def tiny():
    made = {}

    def get(device, tied=False):
        if (device, tied) not in made:
            decoder = load_decoder("tiny-llama", device=device)
            if tied:  # the 1B shape ties its embeddings; exercise that mapping on the tiny one
                decoder.model.config.tie_word_embeddings = True
                decoder.model.tie_weights()
            made[device, tied] = decoder
        return made[device, tied]
    return get


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_reference_prefill_logits_equal_hf(tiny, tied):
    decoder = tiny("cpu", tied)
    reference = from_hf(decoder.model)
    assert (reference.output.weight is reference.tok_embeddings.weight) == tied
    prompt = random_prompts(decoder, 2, 9, seed=4)
    with torch.inference_mode():
        ours = reference(prompt, torch.arange(9), reference.new_cache(2, 16))
        theirs = decoder.model(input_ids=prompt, use_cache=False).logits[:, -1, :]
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("mode,device", CASES)
def test_reference_greedy_tokens_equal_hf_eager(tiny, mode, device, parity_tolerance):
    decoder = tiny(device)
    prompt = random_prompts(decoder, 2, 7)
    hf = build_generator(decoder, "eager").generate(prompt, NEW_TOKENS, record_logits=True)
    generator = build_generator(decoder, mode)
    generator.generate(prompt, NEW_TOKENS)  # compiles (and captures) the decode step
    ours = generator.generate(prompt, NEW_TOKENS, record_logits=True)  # replays, cache reset
    agree, detail = greedy_agreement(hf, ours, parity_tolerance(decoder.device, decoder.dtype, "off"))
    assert agree, f"{mode} vs HF eager: {detail}"


def test_llama3_rope_scaling_equals_transformers():
    import transformers
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    config = transformers.LlamaConfig(**MODELS["llama-3.2-1b"].config[1])
    theirs, scaling = ROPE_INIT_FUNCTIONS["llama3"](config)
    assert scaling == 1.0
    torch.testing.assert_close(rope_inv_freq(LlamaShape.from_config(config)), theirs, atol=0, rtol=0)


def test_reference_refuses_a_config_it_does_not_implement(tiny):
    config = tiny("cpu").model.config.__class__(**{**MODELS["tiny-llama"].config[1], "mlp_bias": True})
    with pytest.raises(RagperfError, match="mlp_bias"):
        LlamaShape.from_config(config)
