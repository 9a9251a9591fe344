"""The compile-time gate end to end on tiny-bert (aot_eager: no C++ compile), cold and warm first calls in
fresh processes: a planted compiler slowdown fails it, an A/A run does not."""

import pytest

from ragperf.perf import baselines, compile_time, gate
from ragperf.perf.cases import Case

CASE = Case("embed", "tiny-bert", "compile", backend="aot_eager")


@pytest.mark.slow
def test_planted_compile_slowdown_is_caught_and_a_a_is_not():
    recorded = compile_time.measurements(CASE.prefix, compile_time.measure(CASE, 2))
    base = baselines.BaselineFile("k", "measured", {}, {name: baselines.with_history(None, baselines.metric(
        m.kind, m.value, m.se, processes=m.processes)) for name, m in recorded.items()})
    cold = f"{CASE.prefix}/cold_compile_s"

    def judged(slowdown):
        return {d.metric: d for d in gate.gate(
            compile_time.measurements(CASE.prefix, compile_time.measure(CASE, 2, slowdown)), base)}

    assert judged(0.0)[cold].status != gate.FAIL
    slowed = judged(0.5)[cold]
    assert slowed.status == gate.FAIL and "compile" in slowed.message, slowed.message
