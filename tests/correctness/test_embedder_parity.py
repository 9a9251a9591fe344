"""Every ladder variant of an embedder vs eager, in fp32 and each BF16 lane, judged against fp64;
and the embedding itself vs the canonical ``SentenceTransformer.encode``.

The any-model tests run on tiny-bert and on every model ``--ragperf-embedder`` names (ids name the model).
"""

import pytest
import torch
from _lanes import LANES, require_lane
from _models import require_pooler_output

from ragperf.models import under_test
from ragperf.models.ladder import LADDER, build_variant
from ragperf.models.registry import DEFAULT, EMBEDDER
from ragperf.numerics import parity
from ragperf.plugin import models_given

pytestmark = pytest.mark.correctness

# tiny-bert runs the whole ladder x lane matrix by default except the middle rung under bf16
# emulation: another full freezing compile (~30 s here) whose frozen graph the top rung also
# exercises. MiniLM's matrix, when it is the option's default, is all slow; a model the option
# names runs in full.
SLOW = {("tiny-bert", "compile+freeze", "emulated")}


def _slow(config, model: str, *rest: str) -> list:
    defaulted = model == DEFAULT[EMBEDDER] and under_test.is_default(models_given(config, EMBEDDER), EMBEDDER)
    return [pytest.mark.slow] if defaulted or (model, *rest) in SLOW else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The model of each any-model test: tiny-bert, then the ``--ragperf-embedder`` models."""
    config = metafunc.config
    chosen = under_test.models(models_given(config, EMBEDDER), EMBEDDER)
    ids = dict(zip(chosen, under_test.labels(chosen), strict=True))
    name = metafunc.definition.name
    if name == "test_ladder_variant_matches_eager":
        metafunc.parametrize("model,variant,lane", [
            pytest.param(model, variant, lane, id=f"{ids[model]}-{variant}-{lane}",
                         marks=_slow(config, model, variant, lane))
            for model in chosen for variant in LADDER for lane in LANES])
    elif name == "test_eager_embedding_is_canonical":
        metafunc.parametrize("model", chosen, ids=list(ids.values()))


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


def test_eager_embedding_is_canonical(load_embedder, model, parity_tolerance):
    embedder = load_embedder(model)
    eager = build_variant(embedder, "eager")
    verdict = parity.canonical_parity(embedder, eager.encode, parity_tolerance(embedder.device, torch.float32, "off"))
    assert verdict.passed, verdict.message()


def test_compiled_embedding_is_canonical(load_embedder, embedder_spec, parity_tolerance, pytestconfig):
    embedder = load_embedder(embedder_spec)
    compiled = build_variant(embedder, "compile", backend=pytestconfig.getoption("--ragperf-backend"))
    verdict = parity.canonical_parity(embedder, compiled.encode, parity_tolerance(embedder.device, torch.float32, "off"),
                                      name="compile")
    assert verdict.passed, verdict.message()


def test_pooler_output_wrapper_fails(load_embedder, embedder_spec, parity_tolerance):
    """The TorchServe RAG example's embedding (BERT's pooler_output) is not the sentence embedding."""
    embedder = load_embedder(embedder_spec)
    require_pooler_output(embedder)

    def pooler_output(texts):
        batch = embedder.tokenize(texts)
        with torch.no_grad():
            return embedder.transformer(**batch).pooler_output

    verdict = parity.canonical_parity(embedder, pooler_output, parity_tolerance(embedder.device, torch.float32, "off"),
                                      name="pooler_output")
    assert not verdict.passed, verdict.message()
    assert verdict.min_cosine < 0.5, verdict.message()
    assert "lowest cosine vs fp64" in verdict.message()
