"""Model folders of families ragperf names nowhere, built once per session: what a user points the plugin at."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def user_model_folders(tmp_path_factory) -> dict[str, Path]:
    """Built offline with random (seeded) weights at tiny sizes: ``distilbert-cls``, a sentence-transformers
    folder over DistilBERT with CLS pooling; ``qwen2``, a Qwen2 causal LM (GQA 2/1 heads)."""
    import torch
    import transformers

    from ragperf.models.tiny import TinyEmbedder, write_tiny_embedder

    root = tmp_path_factory.mktemp("user-model-folders")
    write_tiny_embedder(TinyEmbedder("distilbert", "DistilBertTokenizerFast",
                                     {"do_lower_case": True, "model_max_length": 512},
                                     {"hidden_dim": 64, "max_position_embeddings": 512}, pooling="cls"),
                        root / "distilbert-cls")
    torch.manual_seed(0)
    config = transformers.Qwen2Config(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                                      bos_token_id=0, eos_token_id=0, initializer_range=0.2)
    transformers.Qwen2ForCausalLM(config).eval().save_pretrained(root / "qwen2")
    return {name: root / name for name in ("distilbert-cls", "qwen2")}
