"""Random-weight tiny embedders for fast tests, written once as real sentence-transformers folders.

They go through exactly the loading path of real models; only the weights are random (seeded,
so every machine builds the same model).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ragperf import knobs

TINY_DIMS = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def write_tiny_embedder(name: str, out: Path, tokenizer_from: Path) -> Path:
    """Write ``tiny-bert`` or ``tiny-mpnet`` (transformer + mean pooling + normalize) to ``out``, silently:
    a command that builds one on first use still answers in its one line."""
    knobs.quiet_libraries()  # transformers' save/load progress bars would land on the user's stderr
    from transformers import AutoTokenizer, BertConfig, BertModel, MPNetConfig, MPNetModel, MPNetTokenizerFast

    hf_dir = out.parent / f"{out.name}-hf"
    if name == "tiny-bert":
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
        config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, **TINY_DIMS)
        model_cls = BertModel
    elif name == "tiny-mpnet":
        lines = (tokenizer_from / "vocab.txt").read_text(encoding="utf-8").splitlines()
        tokenizer = MPNetTokenizerFast(vocab={token: i for i, token in enumerate(lines)})
        config = MPNetConfig(vocab_size=len(tokenizer), max_position_embeddings=514,
                             pad_token_id=tokenizer.pad_token_id, **TINY_DIMS)
        model_cls = MPNetModel
    else:
        raise ValueError(f"no tiny embedder named {name!r}")
    torch.manual_seed(0)
    model_cls(config).eval().save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    _sentence_transformer(hf_dir, config.hidden_size).save(str(out))
    return out


def _sentence_transformer(hf_dir: Path, dim: int):
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer
    transformer = Transformer(str(hf_dir), max_seq_length=128)
    return SentenceTransformer(modules=[transformer, Pooling(dim, "mean"), Normalize()], device="cpu")
