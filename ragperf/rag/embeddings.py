"""A LangChain ``Embeddings`` over any ladder variant of any ragperf embedder.

Fixes the seed wrapper's bugs:

- **pooling**: vectors come from :meth:`ragperf.models.embedders.Embedder.embed`, i.e. the model folder's
  own head (mean pooling + normalize for the all-* models), not BERT's ``pooler_output``;
- **no hidden download**: nothing is constructed from a default hub id; the embedder is passed in;
- **bounded shapes**: documents run in batches of exactly ``batch_size`` (the last one padded with
  empty strings whose rows are dropped) and queries at batch 1, with the sequence dimension marked
  dynamic from the first call. A compiled variant therefore sees two graphs - (``batch_size``, seq)
  and (1, seq) - and no query recompiles once one query has run, whatever the corpus size or query
  length. (Batch 1 cannot share the batch-``batch_size`` graph: Dynamo specializes sizes 0 and 1.)
"""

from __future__ import annotations

import torch
from langchain_core.embeddings import Embeddings

from ragperf.errors import RagperfError
from ragperf.models.embedders import Batch
from ragperf.models.ladder import LadderModel

DEFAULT_DOC_BATCH = 16  # the blog's index batch


class LadderEmbeddings(Embeddings):
    """``embed_documents`` / ``embed_query`` through ``model`` (a :class:`~ragperf.models.ladder.LadderModel`)."""

    def __init__(self, model: LadderModel, batch_size: int = DEFAULT_DOC_BATCH) -> None:
        if batch_size < 2:
            raise RagperfError(f"document batch size must be at least 2 (got {batch_size}); "
                               "batch 1 is the query shape")
        self.model = model
        self.batch_size = batch_size

    @property
    def variant(self) -> str:
        return self.model.variant.name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            group = list(texts[start:start + self.batch_size])
            padded = group + [""] * (self.batch_size - len(group))
            vectors += self._embed(padded)[:len(group)]
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        batch = self.model.embedder.tokenize(texts)
        if self.model.variant.compiled:
            _mark_sequence_dynamic(batch)
        return self.model(batch).float().cpu().tolist()


def _mark_sequence_dynamic(batch: Batch) -> None:
    # maybe_mark_dynamic, not mark_dynamic: it never raises if the model happens to specialize the dim.
    for tensor in batch.values():
        if tensor.dim() >= 2:
            torch._dynamo.maybe_mark_dynamic(tensor, 1)
