"""Property tests: generated texts (empty, whitespace, unicode, over-long -> truncation) and batch
sizes through a dynamic-shape Inductor compile of tiny-bert; parity with eager vs fp64 holds and
nothing crashes."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragperf.models.ladder import build_variant
from ragperf.numerics import parity
from ragperf.numerics.verdicts import assert_parity

pytestmark = pytest.mark.correctness

TEXT = st.one_of(st.just(""), st.text(alphabet=" \t\n", max_size=5), st.text(max_size=40),
                 st.text(alphabet="ab ", min_size=600, max_size=900))  # over-long: truncated to max_length


@pytest.fixture
def warm_compiled(load_embedder):
    """tiny-bert compiled with dynamic shapes and warmed, so examples measure no compile. Batches
    start at 2: batch 1 is 0/1-specialized and would cost a second Inductor compile."""
    embedder = load_embedder("tiny-bert")
    compiled = build_variant(embedder, "compile", dynamic=True)
    compiled.encode(["warm up", "two texts of another length"])
    return embedder, compiled


@settings(max_examples=15, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, min_size=2, max_size=5))
def test_compiled_matches_eager_on_any_texts(warm_compiled, parity_tolerance, texts):
    embedder, compiled = warm_compiled
    batch = embedder.tokenize(texts)
    assert batch["input_ids"].shape[1] <= embedder.max_length
    eager = build_variant(embedder, "eager")
    assert_parity(eager(batch), compiled(batch), parity.embed_fp64(embedder, batch),
                  parity_tolerance(embedder.device, torch.float32, "off"), eager_again=eager(batch), cosine=True,
                  name=f"tiny-bert compile on {len(texts)} generated texts")
