"""The seeds' RAG flow, step by step and timed: crawl, split, index (embed + FAISS), retrieve, prompt.

The steps are the TorchServe handler's (``rag_handler.py``) with langchain 1.x imports:
``RecursiveUrlLoader(url, max_depth=3, extractor=BeautifulSoup(...).text)``,
``RecursiveCharacterTextSplitter`` (1000/0 in the handler, 500/50 in the blog),
``FAISS.from_documents``, ``similarity_search(k=5)`` and the handler's Llama prompt.

:func:`measure_rag` is the ``ragperf run`` entry point: one subprocess per compiled variant.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.prompts import PromptTemplate, format_document

from ragperf.errors import RagperfError
from ragperf.rag.corpus import Question

SPLITS = {"serve": (1000, 0), "blog": (500, 50)}  # (chunk_size, chunk_overlap) of the two seeds
K = 5
# rag_handler.py's prompt, verbatim.
PROMPT_TEMPLATE = ("Use the following pieces of context to answer the question at the end. If you don't know "
                   "the answer, just say that you don't know, don't try to make up an answer.\n\n{context}\n\n"
                   "Question: {question}\nHelpful Answer:")


@dataclass
class Timings:
    """Seconds per step of the flow; ``query_s`` holds one entry per timed query."""

    load_s: float = 0.0
    split_s: float = 0.0
    index_s: float = 0.0
    query_s: list[float] = field(default_factory=list)

    @property
    def query_median_s(self) -> float:
        return statistics.median(self.query_s) if self.query_s else float("nan")


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def load_documents(url: str, timings: Timings | None = None) -> list[Document]:
    """Crawl ``url`` exactly as the seeds do; documents sorted by source URL (crawl order is a set's order)."""
    from bs4 import BeautifulSoup as Soup
    from langchain_community.document_loaders import RecursiveUrlLoader

    loader = RecursiveUrlLoader(url=url, max_depth=3, extractor=lambda x: Soup(x, "html.parser").text)
    docs, seconds = _timed(loader.load)
    if timings is not None:
        timings.load_s = seconds
    if not docs:
        raise RagperfError(f"no pages could be loaded from {url}: check that the server is up and the URL "
                           "serves HTML (RecursiveUrlLoader skips pages it cannot fetch)")
    return sorted(docs, key=lambda d: d.metadata.get("source", ""))


def split_documents(docs: Sequence[Document], split: str = "serve", timings: Timings | None = None) -> list[Document]:
    """Chunks of ``docs`` with a seed's settings: ``split`` is ``"serve"`` (1000/0) or ``"blog"`` (500/50)."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if split not in SPLITS:
        raise RagperfError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    size, overlap = SPLITS[split]
    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    chunks, seconds = _timed(lambda: splitter.split_documents(list(docs)))
    if timings is not None:
        timings.split_s = seconds
    return chunks


def build_index(chunks: Sequence[Document], embeddings: Embeddings, timings: Timings | None = None):
    """``FAISS.from_documents(chunks, embeddings)``: one ``embed_documents`` over all chunks (timed)."""
    from langchain_community.vectorstores import FAISS

    chunks = [c for c in chunks if c.page_content.strip()]
    if not chunks:
        raise RagperfError("the corpus has no text to index (every page was empty after extraction); "
                           "point the loader at pages with text")
    store, seconds = _timed(lambda: FAISS.from_documents(chunks, embeddings))
    if timings is not None:
        timings.index_s = seconds
    return store


def retrieve(store, question: str, k: int = K, timings: Timings | None = None) -> list[Document]:
    """``store.similarity_search(question, k)``: the handler's inference step (timed per query)."""
    if not question.strip():
        raise RagperfError("the question is empty; ask something")
    docs, seconds = _timed(lambda: store.similarity_search(question, k=k))
    if timings is not None:
        timings.query_s.append(seconds)
    return docs


def build_prompt(question: str, docs: Sequence[Document]) -> str:
    """The handler's postprocess: each chunk via ``{page_content}``, joined into the Llama prompt."""
    doc_prompt = PromptTemplate.from_template("{page_content}")
    context = "\n".join(f"\n{format_document(doc, doc_prompt)}\n" for doc in docs)
    return PromptTemplate.from_template(PROMPT_TEMPLATE).format(context=context, question=question)


def crawl_corpus(site=None, split: str = "serve", timings: Timings | None = None) -> list[Document]:
    """Serve ``site`` (default: :func:`~ragperf.rag.corpus.build_site`) on loopback, crawl it, split it."""
    from ragperf.rag.corpus import build_site
    from ragperf.rag.server import serve

    with serve(site if site is not None else build_site()) as url:
        docs = load_documents(url, timings)
    return split_documents(docs, split, timings)


# ---- retrieval metrics ---------------------------------------------------------------------------

def chunk_keys(docs: Sequence[Document]) -> list[str]:
    """Identity of retrieved chunks: their text (FAISS ids are fresh per index; equal text = same chunk)."""
    return [d.page_content for d in docs]


def overlap_at_k(reference: Sequence[Document], candidate: Sequence[Document]) -> float:
    """|top-k(reference) ∩ top-k(candidate)| / k, as multisets: pydoc pages repeat chunks (json and
    json.decoder both hold JSONDecoder's docs), and a top-5 holding both copies is still a full match."""
    ref, cand = Counter(chunk_keys(reference)), Counter(chunk_keys(candidate))
    return (ref & cand).total() / max(ref.total(), 1)


def rank_agreement(reference: Sequence[Document], candidate: Sequence[Document]) -> float:
    """Fraction of ranks 1..k holding the same chunk in both lists (1.0: identical order)."""
    ref, cand = chunk_keys(reference), chunk_keys(candidate)
    return sum(a == b for a, b in zip(ref, cand, strict=False)) / max(len(ref), 1)


def answered(question: Question, docs: Sequence[Document]) -> bool:
    return any(question.answer in d.page_content for d in docs)


def recall_at_k(store, questions: Sequence[Question], k: int = K) -> float:
    """Share of known-answer ``questions`` whose answer is inside one of the top-``k`` chunks."""
    if not questions:
        raise RagperfError("recall needs at least one known-answer question")
    return sum(answered(q, retrieve(store, q.question, k)) for q in questions) / len(questions)
