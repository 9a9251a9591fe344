"""Sentence embedders, split so that torch.compile sees exactly the transformer.

An :class:`Embedder` wraps a loaded ``SentenceTransformer`` and exposes its three stages:
sentence-transformers' own tokenization, the Hugging Face transformer (the module the Graviton
RAG blog compiles), and the model folder's own head (pooling, normalization, ...). Running the
stages in order gives the canonical ``SentenceTransformer.encode`` embedding, not a hand-made
pooling such as the TorchServe example's ``pooler_output``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ragperf import knobs
from ragperf.errors import RagperfError
from ragperf.models.registry import DEFAULT, EMBEDDER, resolve_embedder

Batch = dict[str, torch.Tensor]


@dataclass
class Embedder:
    """A loaded sentence embedder. ``transformer`` is the part to compile; ``head`` stays eager."""

    name: str
    path: Path
    st: nn.Module  # the SentenceTransformer, kept for tokenization and as the reference encoder
    transformer: nn.Module
    head: list[nn.Module] = field(repr=False)
    device: torch.device

    @property
    def max_length(self) -> int:
        return int(self.st.max_seq_length)

    @property
    def dim(self) -> int:
        dimension = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        return int(dimension())

    def tokenize(self, texts: Sequence[str]) -> Batch:
        """sentence-transformers' own tokenization (padding to the longest, truncation to max_length)."""
        preprocess = getattr(self.st, "preprocess", None) or self.st.tokenize  # renamed in sentence-transformers 6
        batch = preprocess(list(texts))
        return {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}

    def embed(self, batch: Batch, transformer: Callable[..., object] | None = None) -> torch.Tensor:
        """Embeddings [B, dim] of a tokenized batch; ``transformer`` replaces the eager one (a compiled copy)."""
        run = self.transformer if transformer is None else transformer
        inputs = {k: v for k, v in batch.items() if k in _MODEL_INPUTS}
        output = run(**inputs, return_dict=True)
        features = {"token_embeddings": output.last_hidden_state, "attention_mask": batch["attention_mask"]}
        for module in self.head:
            features = module(features)
        return features["sentence_embedding"]

    def reference_encode(self, texts: Sequence[str]) -> torch.Tensor:
        """``SentenceTransformer.encode`` itself: the canonical embedding ragperf must reproduce."""
        return self.st.encode(list(texts), convert_to_tensor=True, normalize_embeddings=False,
                              batch_size=max(1, len(texts)), show_progress_bar=False)


_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def load_embedder(spec: str = DEFAULT[EMBEDDER], device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> Embedder:
    """Load the embedder named by ``spec`` (see :func:`ragperf.models.registry.resolve_embedder`)."""
    path = resolve_embedder(spec)
    knobs.quiet_libraries()
    from sentence_transformers import SentenceTransformer

    try:
        st = SentenceTransformer(str(path), device=str(device), local_files_only=True,
                                 model_kwargs={"dtype": dtype})
    except (OSError, ValueError, KeyError) as exc:
        raise RagperfError(f"cannot load {spec!r} from {path} as a sentence-transformers model: "
                           f"{_first_line(exc)}") from None
    st.eval()
    modules = list(st)
    transformer = getattr(modules[0], "auto_model", None)
    if transformer is None:
        raise RagperfError(f"{path}: its first module is {type(modules[0]).__name__}, not a transformer; "
                           "ragperf compiles Hugging Face transformer embedders")
    return Embedder(name=spec, path=path, st=st, transformer=transformer, head=modules[1:],
                    device=torch.device(device))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
