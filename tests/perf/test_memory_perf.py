"""Peak memory gated: MiniLM's `compile+freeze` rung, compiled peak over eager peak (the inverse
of the dashboard's compression ratio), each arm in its own fresh process, ``--ragperf-processes`` times."""

import pytest

from ragperf.perf.cases import Case

pytestmark = pytest.mark.perf


@pytest.mark.parametrize("variant", ["compile+freeze"])  # frozen weight copies: where memory moves
def test_compiled_peak_memory_vs_eager(ragperf_perf, pytestconfig, variant, embedder_spec):
    case = Case("embed", embedder_spec, variant,
                device=pytestconfig.getoption("--ragperf-device"))
    decisions = ragperf_perf.check(ragperf_perf.peak_memory(case))
    assert [d.metric for d in decisions] == [f"{case.prefix}/memory_ratio"]
