"""Every ladder variant of an embedder vs eager, in fp32 and each BF16 lane, judged against fp64;
and the embedding itself vs the canonical ``SentenceTransformer.encode``."""

import pytest
import torch
from _lanes import LANES, require_lane

from ragperf.models.ladder import LADDER, build_variant
from ragperf.numerics import parity

pytestmark = pytest.mark.correctness

# tiny-bert runs the whole ladder x lane matrix by default except the middle rung under bf16
# emulation: another full freezing compile (~30 s here) whose frozen graph the top rung also
# exercises. MiniLM's matrix is all slow.
SLOW = {("tiny-bert", "compile+freeze", "emulated")}
CASES = [pytest.param(model, variant, lane, id=f"{model}-{variant}-{lane}",
                      marks=[pytest.mark.slow] if model == "minilm" or (model, variant, lane) in SLOW else [])
         for model in ("tiny-bert", "minilm") for variant in LADDER for lane in LANES]


@pytest.mark.parametrize("model,variant,lane", CASES)
def test_ladder_variant_matches_eager(load_embedder, model, variant, lane, parity_tolerance, pytestconfig):
    embedder = load_embedder(model)
    require_lane(lane, embedder.device)
    verdict = parity.embedder_parity(embedder, variant, lane, parity_tolerance(embedder.device, torch.float32, lane),
                                     backend=pytestconfig.getoption("--ragperf-backend"))
    assert verdict.passed, verdict.message()


@pytest.mark.parametrize("lane", ["off", "emulated"])
def test_planted_scale_bug_fails(load_embedder, lane, parity_tolerance):
    """A compiled output off by a factor (1 + 1e-3) fails with the numbers, in fp32 and under bf16 emulation."""
    embedder = load_embedder("tiny-bert")
    verdict = parity.embedder_parity(embedder, "compile", lane, parity_tolerance(embedder.device, torch.float32, lane),
                                     backend="aot_eager", plant=lambda out: out * (1 + 1e-3))
    assert not verdict.passed and verdict.status == "fail_accuracy", verdict.message()
    assert "RMSE(compiled, fp64)" in verdict.message() and "worst element" in verdict.message()


@pytest.mark.parametrize("model", ["tiny-bert", "minilm"])
def test_eager_embedding_is_canonical(load_embedder, model, parity_tolerance):
    embedder = load_embedder(model)
    eager = build_variant(embedder, "eager")
    verdict = parity.canonical_parity(embedder, eager.encode, parity_tolerance(embedder.device, torch.float32, "off"))
    assert verdict.passed, verdict.message()


def test_compiled_minilm_embedding_is_canonical(load_embedder, parity_tolerance, pytestconfig):
    embedder = load_embedder("minilm")
    compiled = build_variant(embedder, "compile", backend=pytestconfig.getoption("--ragperf-backend"))
    verdict = parity.canonical_parity(embedder, compiled.encode, parity_tolerance(embedder.device, torch.float32, "off"),
                                      name="compile")
    assert verdict.passed, verdict.message()


def test_pooler_output_wrapper_fails(load_embedder, parity_tolerance):
    """The TorchServe RAG example's embedding (BERT's pooler_output) is not the sentence embedding."""
    embedder = load_embedder("minilm")

    def pooler_output(texts):
        batch = embedder.tokenize(texts)
        with torch.no_grad():
            return embedder.transformer(**batch).pooler_output

    verdict = parity.canonical_parity(embedder, pooler_output, parity_tolerance(embedder.device, torch.float32, "off"),
                                      name="pooler_output")
    assert not verdict.passed, verdict.message()
    assert verdict.min_cosine < 0.5, verdict.message()
    assert "lowest cosine vs fp64" in verdict.message()
