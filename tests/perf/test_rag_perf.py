"""RAG timings with pytest-benchmark: query latency per ladder variant, and index build time.

``benchmark`` times the variant; ``benchmark.extra_info`` carries the speedup over eager measured
interleaved in this process (median ratio with its 95% bootstrap CI) - the blog reports 1.3x for
the RAG query on Graviton3. Run with ``pytest -m perf tests/perf/test_rag_perf.py``.
"""

from __future__ import annotations

import pytest

from ragperf import timing
from ragperf.ladder import LADDER, build_variant
from ragperf.rag.corpus import load_known_answers
from ragperf.rag.embeddings import LadderEmbeddings
from ragperf.rag.pipeline import Timings, build_index, crawl_corpus, retrieve

pytestmark = pytest.mark.perf
QUESTIONS = [q.question for q in load_known_answers().questions]


@pytest.fixture(scope="module")
def chunks():
    return crawl_corpus(split="serve")


@pytest.fixture(scope="module")
def eager_store(chunks, embedder):
    return build_index(chunks, LadderEmbeddings(build_variant(embedder, "eager")))


def _cycle(store):
    asked = iter(range(10**9))
    return lambda: retrieve(store, QUESTIONS[next(asked) % len(QUESTIONS)])


@pytest.mark.parametrize("variant_name", list(LADDER))
def test_query_latency(benchmark, variant_name, chunks, embedder, eager_store, ragperf_device):
    timings = Timings()
    store = build_index(chunks, LadderEmbeddings(build_variant(embedder, variant_name)), timings)
    for q in QUESTIONS:  # warm-up: the batch-1 graph compiles on the first query
        retrieve(store, q)
    samples = timing.interleaved({"eager": _cycle(eager_store), variant_name: _cycle(store)},
                                 rounds=40, device=ragperf_device)
    ratio = timing.speedup(samples["eager"], samples[variant_name])
    benchmark.extra_info.update({
        "variant": variant_name, "chunks": len(chunks), "index_build_s": timings.index_s,
        "speedup_vs_eager": ratio.ratio, "speedup_ci95": [ratio.low, ratio.high],
        "eager_query_median_s": samples["eager"].median,
    })
    benchmark(_cycle(store))


@pytest.mark.parametrize("variant_name", list(LADDER))
def test_index_build_time(benchmark, variant_name, chunks, embedder):
    """First build includes compiling (one round); later builds reuse the graphs (timed rounds)."""
    embeddings = LadderEmbeddings(build_variant(embedder, variant_name))
    first = Timings()
    build_index(chunks, embeddings, first)
    benchmark.extra_info.update({"variant": variant_name, "chunks": len(chunks), "first_build_s": first.index_s})
    benchmark.pedantic(build_index, args=(chunks, embeddings), rounds=3, iterations=1)
