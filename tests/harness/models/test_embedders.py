"""ragperf's split embedder reproduces the canonical SentenceTransformer.encode embedding."""

import re

import pytest
import torch
import torch.nn.functional as F

from ragperf.errors import RagperfError
from ragperf.models.ladder import build_variant

# Short, long enough to be truncated at max_seq_length, unicode, and near-empty texts in one batch.
MIXED_BATCH = [
    "What is new in Llama 3?",
    " ".join(["torch.compile freezes and prepacks the weights of every linear layer."] * 60),
    "Ünïcödé, 日本語のテキスト, emoji 🚀 and Ελληνικά",
    "a",
]


def test_minilm_matches_sentence_transformers_encode_on_a_mixed_batch(load_embedder):
    embedder = load_embedder("minilm")
    assert len(embedder.tokenize(MIXED_BATCH)["input_ids"][1]) == embedder.max_length  # truncated
    ours = build_variant(embedder, "eager").encode(MIXED_BATCH)
    canonical = embedder.st.encode(MIXED_BATCH, convert_to_tensor=True, normalize_embeddings=True)
    assert F.cosine_similarity(ours, canonical).min().item() >= 0.99999


@pytest.mark.parametrize("name", ["tiny-bert", "tiny-mpnet"])
def test_tiny_embedders_match_their_own_reference(load_embedder, name):
    embedder = load_embedder(name)
    ours = build_variant(embedder, "eager").encode(MIXED_BATCH)
    assert ours.shape == (len(MIXED_BATCH), embedder.dim)
    assert torch.allclose(ours, embedder.reference_encode(MIXED_BATCH), atol=1e-6)


def test_pooler_output_is_not_the_sentence_embedding(load_embedder):
    """The TorchServe example's pooler_output is a different vector altogether (cosine about -0.05)."""
    embedder = load_embedder("minilm")
    batch = embedder.tokenize(MIXED_BATCH[:1])
    with torch.no_grad():
        pooler = embedder.transformer(**{k: v for k, v in batch.items() if k != "token_embeddings"}).pooler_output
    canonical = embedder.reference_encode(MIXED_BATCH[:1])
    assert F.cosine_similarity(pooler, canonical).item() < 0.5


def test_variants_need_inductor_to_freeze(load_embedder):
    with pytest.raises(RagperfError, match="needs backend 'inductor'"):
        build_variant(load_embedder("tiny-bert"), "compile+freeze", backend="aot_eager")
    with pytest.raises(RagperfError, match=re.escape("unknown variant 'compile+magic'")):
        build_variant(load_embedder("tiny-bert"), "compile+magic")


def test_a_broken_model_folder_fails_with_one_line(tmp_path):
    from ragperf.models.embedders import load_embedder

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(RagperfError, match="cannot load") as info:
        load_embedder(str(tmp_path))
    assert "\n" not in str(info.value)
