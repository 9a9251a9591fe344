"""Random-weight tiny embedders for fast tests, written once as real sentence-transformers folders.

They go through exactly the loading path of real models; only the weights are random (seeded,
so every machine builds the same model). Their tokenizers are built from the uncased WordPiece
vocabulary shipped in ``ragperf/data`` (:data:`VOCAB`: BERT's 30522 uncased tokens, the vocabulary
all-MiniLM-L6-v2 uses), so building one needs no model package.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

from ragperf import knobs

TINY_DIMS = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
VOCAB = Path(__file__).parents[1] / "data" / "wordpiece-uncased-vocab.txt.gz"


@dataclass(frozen=True)
class TinyEmbedder:
    """How to write one tiny embedder: a transformers family at :data:`TINY_DIMS`, ``pooling`` (a
    sentence-transformers pooling mode: ``mean``, ``cls``...), normalize.

    ``tokenizer`` names a transformers tokenizer class built on :data:`VOCAB` with ``tokenizer_args``;
    ``config`` adds to (or overrides) the family's config beside the tiny dimensions.
    """

    model_type: str
    tokenizer: str
    tokenizer_args: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    pooling: str = "mean"


def wordpiece_vocab() -> dict[str, int]:
    """The shipped uncased WordPiece vocabulary, token -> id (one token a line, ids in line order)."""
    lines = gzip.decompress(VOCAB.read_bytes()).decode("utf-8").splitlines()
    return {token: i for i, token in enumerate(lines)}


def write_tiny_embedder(recipe: TinyEmbedder, out: Path) -> Path:
    """Write the embedder of ``recipe`` (transformer + its pooling + normalize) to ``out``, silently:
    a command that builds one on first use still answers in its one line."""
    knobs.quiet_libraries()  # transformers' save/load progress bars would land on the user's stderr
    import torch
    import transformers

    hf_dir = out.parent / f"{out.name}-hf"
    tokenizer = getattr(transformers, recipe.tokenizer)(vocab=wordpiece_vocab(), **recipe.tokenizer_args)
    config = transformers.AutoConfig.for_model(recipe.model_type, vocab_size=len(tokenizer),
                                               pad_token_id=tokenizer.pad_token_id, **{**TINY_DIMS, **recipe.config})
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).eval().save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    _sentence_transformer(hf_dir, config.hidden_size, recipe.pooling).save(str(out))
    return out


def _sentence_transformer(hf_dir: Path, dim: int, pooling: str = "mean"):
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer
    transformer = Transformer(str(hf_dir), max_seq_length=128)
    return SentenceTransformer(modules=[transformer, Pooling(dim, pooling), Normalize()], device="cpu")
