"""Bad and edge inputs to the RAG flow: clear errors or defined behaviour.

Uses the random-weight ``tiny-bert`` embedder where the model's quality does not matter.
"""

from __future__ import annotations

import socket

import pytest
import torch
from langchain_core.documents import Document

from ragperf.errors import RagperfError
from ragperf.models.ladder import build_variant
from ragperf.rag.corpus import Site, build_site, load_known_answers
from ragperf.rag.embeddings import LadderEmbeddings
from ragperf.rag.pipeline import (
    build_index,
    build_prompt,
    crawl_corpus,
    load_documents,
    overlap_at_k,
    rank_agreement,
    retrieve,
    split_documents,
)
from ragperf.rag.server import serve

INDEX = b'<html><body><h1>Index</h1><a href="/bad.html">bad page</a> <a href="/good.html">good</a></body></html>'


@pytest.fixture(scope="module")
def tiny_embeddings(load_embedder):
    return LadderEmbeddings(build_variant(load_embedder("tiny-bert"), "eager"))


def _site(pages: dict[str, bytes]) -> Site:
    return Site(pages=dict(pages))


def test_malformed_page_is_loaded_as_text(tiny_embeddings):
    bad = (b"<html><body><p>Unclosed paragraph about tides <div><b>bold <i>nested\xff\xfe broken bytes"
           b"<table><tr><td>cell without end <script>var x = '<p>not text</p>';")
    site = _site({"/": INDEX, "/bad.html": bad, "/good.html": b"<p>The good page mentions harbors.</p>"})
    with serve(site) as url:
        docs = load_documents(url)
    by_source = {d.metadata["source"].rsplit("/", 1)[-1]: d.page_content for d in docs}
    assert set(by_source) == {"", "bad.html", "good.html"}
    assert "Unclosed paragraph about tides" in by_source["bad.html"]
    assert "cell without end" in by_source["bad.html"]
    assert "<p>" not in by_source["bad.html"].replace("'<p>not text</p>'", "")  # markup is gone, script text stays
    store = build_index(split_documents(docs), tiny_embeddings)
    assert len(retrieve(store, "tides", k=3)) == 3


def test_empty_site_is_a_clear_error():
    with serve(_site({"/": b"<html><body></body></html>"})) as url:
        with pytest.raises(RagperfError, match="no pages could be loaded"):
            load_documents(url)


def test_whitespace_only_corpus_is_a_clear_error(tiny_embeddings):
    with serve(_site({"/": b"<html><body>\n\n   \n</body></html>"})) as url:
        chunks = split_documents(load_documents(url))
    with pytest.raises(RagperfError, match="no text to index"):
        build_index(chunks, tiny_embeddings)


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RagperfError, match="server is up"):
        load_documents(f"http://127.0.0.1:{port}/")


def test_question_longer_than_max_length_is_truncated(embedder):
    """Defined behaviour: like SentenceTransformer.encode, the question is cut at the model's max length."""
    embeddings = LadderEmbeddings(build_variant(embedder, "eager"))
    long_question = "Where is the lighthouse logbook kept? " + "storm " * (2 * embedder.max_length)
    assert embedder.tokenize([long_question])["input_ids"].shape[1] == embedder.max_length
    longer = torch.tensor(embeddings.embed_query(long_question + "storm " * embedder.max_length))
    assert torch.allclose(torch.tensor(embeddings.embed_query(long_question)), longer, atol=1e-6)
    store = build_index([Document(page_content=t) for t in ("a lighthouse", "a bakery", "a frog")], embeddings)
    assert len(retrieve(store, long_question, k=3)) == 3


def test_empty_question_is_a_clear_error(tiny_embeddings):
    store = build_index([Document(page_content="some text")], tiny_embeddings)
    with pytest.raises(RagperfError, match="question is empty"):
        retrieve(store, "   ")


def test_document_batches_are_padded_to_one_size_and_trimmed(tiny_embeddings):
    texts = [f"document number {i} about tides" for i in range(tiny_embeddings.batch_size + 3)]
    vectors = tiny_embeddings.embed_documents(texts)
    assert len(vectors) == len(texts)
    one_by_one = torch.tensor([tiny_embeddings.embed_documents([t])[0] for t in texts[-3:]])
    assert torch.allclose(torch.tensor(vectors[-3:]), one_by_one, atol=1e-5)
    assert tiny_embeddings.embed_documents([]) == []


def test_bad_settings_are_clear_errors(tiny_embeddings):
    with pytest.raises(RagperfError, match="batch size"):
        LadderEmbeddings(tiny_embeddings.model, batch_size=1)
    with pytest.raises(RagperfError, match="unknown split"):
        split_documents([Document(page_content="x")], split="huge")


def test_default_site_is_linked_three_levels_deep():
    site = build_site()
    with serve(site) as url:
        sources = {d.metadata["source"].removeprefix(url) for d in load_documents(url)}
    assert sources == {p.lstrip("/") for p in site.pages}, "every page must be reachable with max_depth=3"
    assert "docs/json.decoder.html" in sources  # index -> json -> json.decoder: depth 2
    known = load_known_answers()
    chunks = crawl_corpus(site)
    for q in known.questions:
        assert any(q.answer in c.page_content for c in chunks), f"answer {q.answer!r} is in no chunk"


def test_overlap_and_rank_agreement():
    a, b, c, d = (Document(page_content=t) for t in "abcd")
    assert overlap_at_k([a, b, c], [a, b, c]) == 1.0 and rank_agreement([a, b, c], [a, b, c]) == 1.0
    assert overlap_at_k([a, b, c], [b, a, c]) == 1.0 and rank_agreement([a, b, c], [b, a, c]) == pytest.approx(1 / 3)
    assert overlap_at_k([a, b, c], [a, b, d]) == pytest.approx(2 / 3)
    # pydoc pages repeat chunks: identical top-k lists holding a duplicate overlap fully, and a lost copy counts
    a2 = Document(page_content="a")
    assert overlap_at_k([a, a2, b], [a, a2, b]) == 1.0
    assert overlap_at_k([a, a2, b], [a, b, c]) == pytest.approx(2 / 3)


def test_prompt_wraps_each_chunk_in_blank_lines():
    prompt = build_prompt("Why?", [Document(page_content="one"), Document(page_content="two")])
    assert "\n\n\none\n\n\ntwo\n\n\nQuestion: Why?\nHelpful Answer:" in prompt


@pytest.mark.slow
def test_measure_rag_reports_each_variant_from_its_own_process():
    from ragperf.jobs.rag import measure_rag, rag_table

    result = measure_rag("tiny-bert", ["compile"], quick=True)
    (row,) = result["rows"]
    assert row["variant"] == "compile" and row["recompiles_while_timed"] == 0
    assert row["index_s"] > 0 and row["query_s"] > 0 and row["speedup_low"] <= row["speedup"] <= row["speedup_high"]
    assert "| compile |" in rag_table(result)


def test_measure_rag_rejects_unknown_variant():
    from ragperf.jobs.rag import measure_rag

    with pytest.raises(RagperfError, match="unknown variant"):
        measure_rag("tiny-bert", ["turbo"], quick=True)
