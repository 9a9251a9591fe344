"""The Graviton RAG blog's embedding ladder, gated: each compiled rung against eager, interleaved.

``pytest -m perf`` gates against this machine's baseline in baselines/perf/;
``--ragperf-embedder mpnet`` on a Graviton3 runner meets the blog's published ratios;
``--ragperf-update-baselines`` records instead of gating.
"""

import pytest

from ragperf.models.ladder import GPU_VARIANTS
from ragperf.perf.cases import EMBED_LADDER, Case

pytestmark = pytest.mark.perf


@pytest.mark.parametrize("variant", EMBED_LADDER + tuple(pytest.param(v, marks=pytest.mark.gpu) for v in GPU_VARIANTS))
def test_embedding_ladder_rung_vs_eager(benchmark, ragperf_perf, pytestconfig, variant, embedder_spec):
    case = Case("embed", embedder_spec, variant,
                device=pytestconfig.getoption("--ragperf-device"))
    benchmark.group = f"embed/{case.model}"
    decisions = ragperf_perf.check(case, benchmark)
    figures = benchmark.extra_info["ragperf"]
    assert figures["recompiles_while_timed"] == 0
    assert {d.metric for d in decisions} == {f"{case.prefix}/speedup", f"{case.prefix}/median_s"}
