"""Zero recompiles across a query stream once the index is built and one query has run.

``LadderEmbeddings`` runs documents at batch ``batch_size`` and queries at batch 1, with the sequence
dimension dynamic from the first call, so a compiled embedder holds one graph per batch size and
nothing more, whatever the corpus or query lengths. The seed's wrapper (all chunks in one batch,
static shapes) recompiles when documents are added; the last test shows the probe sees that.
Counted with :class:`ragperf.compile.probe.CompileProbe` and enforced with :func:`ragperf.compile.probe.steady_state`
(``set_stance("fail_on_recompile")``; its error carries the guard that failed).
"""

from __future__ import annotations

import pytest
from langchain_core.embeddings import Embeddings

from ragperf.compile.probe import CompileProbe, steady_state
from ragperf.models.ladder import build_variant
from ragperf.rag.corpus import load_known_answers
from ragperf.rag.embeddings import LadderEmbeddings
from ragperf.rag.pipeline import build_index, crawl_corpus, retrieve

pytestmark = pytest.mark.recompile
KNOWN = load_known_answers()


def _query_stream(max_length: int) -> list[str]:
    """Known-answer questions, a one-word query and one longer than the model's max length."""
    return [q.question for q in KNOWN.questions] + ["fog", "lighthouse " * (2 * max_length)]


@pytest.fixture(scope="module")
def chunks():
    return crawl_corpus(split="serve")


def test_query_stream_after_warmup_never_recompiles(chunks, embedder, pytestconfig):
    model = build_variant(embedder, "compile", backend=pytestconfig.getoption("--ragperf-backend"))
    embeddings = LadderEmbeddings(model)
    with CompileProbe() as warmup:
        store = build_index(chunks, embeddings)
        retrieve(store, "warm-up question")  # the batch-1 graph compiles here
    assert warmup.report.clean, warmup.report.summary()
    assert warmup.report.graphs == len({embeddings.batch_size, 1}), (
        "expected one graph per batch size (documents and queries):\n" + warmup.report.summary())
    with CompileProbe() as stream, steady_state():
        for question in _query_stream(embedder.max_length):
            assert len(retrieve(store, question)) == 5
        store.add_texts(["A late page about the harbor.", "Another late page."])  # a short document batch
    assert stream.report.graphs == 0 and stream.report.recompiles == 0, stream.report.summary()


class SeedBatchEmbeddings(Embeddings):
    """The seed's shapes: every document in one batch, queries at batch 1, no dynamic marking."""

    def __init__(self, model):
        self.model = model

    def embed_documents(self, texts):
        return self.model.encode(texts).tolist()

    def embed_query(self, text):
        return self.model.encode([text])[0].tolist()


@pytest.mark.slow  # ~25 s on 2 cores; that the probe counts recompiles is in the default run (test_probe_gates,
# the scenario tables' index16-query1 rows)
def test_seed_shapes_recompile_when_documents_are_added(chunks, embedder):
    """The probe sees recompiles: the seed's index graph is specialized to the number of chunks."""
    # Dynamo-only question: backend "eager" traces the same graphs without Inductor's cost.
    store = build_index(chunks, SeedBatchEmbeddings(build_variant(embedder, "compile", backend="eager")))
    retrieve(store, "warm-up question")
    with CompileProbe() as added:
        store.add_texts(["A late page about the harbor.", "Another late page."])
    assert added.report.recompiles >= 1, ("adding 2 documents to an index built at batch len(chunks) should "
                                          "recompile:\n" + added.report.summary())
