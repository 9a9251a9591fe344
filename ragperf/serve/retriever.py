"""The served retriever: the RAG flow's FAISS index over the offline corpus, queried through a ladder variant.

The index is built once, offline, by :func:`build_index_dir` (crawl + split + eager embeddings, as
:func:`ragperf.rag.pipeline.build_index` does) and saved; every worker loads it and embeds queries with
its own variant. :func:`load_retriever` compiles and warms every query shape the worker will serve
(batch 1, sequence lengths from 3 tokens to the model's maximum) before the worker reports ready.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from ragperf.errors import RagperfError

# Queries whose tokenized lengths span the shapes a worker serves: shortest, typical, truncated at max.
WARM_QUERIES = ("a", "What is new in Llama 3?", "How does the JSON decoder handle NaN and Infinity values?")


class WorkerConfig:
    """A server's settings as the JSON its worker processes read back from their environment."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str):
        return cls(**json.loads(text))


@dataclass(frozen=True)
class ServeConfig(WorkerConfig):
    """What one server serves: ``model`` x ``variant`` over the index in ``index_dir``, ``workers`` x ``threads``."""

    model: str
    variant: str
    index_dir: str
    workers: int = 1
    threads: int = 1
    backend: str = "inductor"
    header_timeout_s: float = 10.0  # a connection's request head must arrive within this
    FACTORY: ClassVar[str] = "ragperf.serve.worker:create_app"



def build_index_dir(model: str, out: Path, split: str = "serve") -> Path:
    """Crawl the offline corpus, index it with ``model``'s eager embeddings and save the FAISS store to ``out``."""
    from ragperf.models.embedders import load_embedder
    from ragperf.models.ladder import build_variant
    from ragperf.rag.embeddings import LadderEmbeddings
    from ragperf.rag.pipeline import build_index, crawl_corpus

    store = build_index(crawl_corpus(split=split), LadderEmbeddings(build_variant(load_embedder(model), "eager")))
    store.save_local(str(out))
    return out


class Retriever:
    """``retrieve(query, k)`` -> [(chunk text, source, score)] through the worker's variant; counts graphs."""

    def __init__(self, store, embeddings) -> None:
        self.store = store
        self.embeddings = embeddings
        self.max_length = embeddings.model.embedder.max_length
        self.ready_graphs = 0

    def retrieve(self, query: str, k: int) -> list[dict]:
        pairs = self.store.similarity_search_with_score(query, k=k)
        return [{"text": d.page_content, "source": d.metadata.get("source", ""), "score": float(s)} for d, s in pairs]

    def graphs_since_ready(self) -> int:
        from ragperf.perf.timing import compile_count

        return compile_count() - self.ready_graphs

    def warm(self) -> int:
        """Run every warm-up shape until nothing compiles (:func:`ragperf.perf.timing.warm_up`); graphs so far."""
        from ragperf.perf.timing import compile_count, warm_up

        longest = " ".join(["token"] * (self.max_length + 8))  # truncated to max_length
        warm_up({q: (lambda q=q: self.retrieve(q, 5)) for q in (*WARM_QUERIES, longest)})
        self.ready_graphs = compile_count()
        return self.ready_graphs


def load_retriever(config: ServeConfig) -> Retriever:
    """Load the index and the variant, compile and warm every served shape (call before serving)."""
    import torch
    from langchain_community.vectorstores import FAISS

    from ragperf.models.embedders import load_embedder
    from ragperf.models.ladder import build_variant
    from ragperf.rag.embeddings import LadderEmbeddings

    torch.set_num_threads(config.threads)
    embeddings = LadderEmbeddings(build_variant(load_embedder(config.model), config.variant, backend=config.backend))
    if not (Path(config.index_dir) / "index.faiss").is_file():
        raise RagperfError(f"{config.index_dir} holds no FAISS index; build one with build_index_dir")
    # Our own index, written by build_index_dir in this run: its pickle is trusted.
    store = FAISS.load_local(config.index_dir, embeddings, allow_dangerous_deserialization=True)
    retriever = Retriever(store, embeddings)
    retriever.warm()
    return retriever
