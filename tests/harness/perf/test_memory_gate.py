"""Peak memory: the steady high-water mark sees a planted allocation (default suite, in-process), and the
gate fails a planted allocation end to end on tiny-bert in fresh processes (slow)."""

import pytest

from ragperf.perf import baselines, gate, memory
from ragperf.perf.cases import Case


def test_the_reset_peak_sees_a_planted_allocation_and_not_what_came_before():
    import torch

    big = torch.ones(2**26)  # 256 MiB, touched
    del big
    memory.reset_peak()
    quiet = memory.peak_bytes()
    memory.reset_peak()
    memory.planted(lambda: None, 128)()
    loud = memory.peak_bytes()
    assert loud - quiet >= 120 * 2**20, (quiet, loud)
    assert quiet < loud


@pytest.mark.parametrize("increase, allowed", [(0.07, (gate.PASS, gate.WARN)), (0.12, (gate.FAIL,))])
def test_the_memory_gate_allows_ten_percent(increase, allowed):
    """A compiled peak 7% over its baseline, measured with tight noise, is within memory's 10% tolerance; 12% is not."""
    base = baselines.metric("memory", 1.0, 0.001, process_sd=0.001)
    m = gate.Measurement("x/memory_ratio", "memory", 1.0 + increase, 0.001, processes=[1.0 + increase] * 3)
    d = gate.judge(m, base)
    assert d.status in allowed and "tolerance 10.0%" in d.message, d.message


@pytest.mark.slow
def test_planted_allocation_fails_the_memory_gate_and_a_a_does_not():
    case = Case("embed", "tiny-bert", "compile", backend="aot_eager")
    recorded = memory.measurements(case.prefix, memory.measure(case, 2))
    base = baselines.BaselineFile("k", "measured", {}, {name: baselines.with_history(None, baselines.metric(
        m.kind, m.value, m.se, processes=m.processes)) for name, m in recorded.items()})
    name = f"{case.prefix}/memory_ratio"
    assert gate.gate(memory.measurements(case.prefix, memory.measure(case, 2)), base)[0].status != gate.FAIL
    eager_peak = statistics_median([r["eager_peak_bytes"] for r in memory.measure(case, 1)["processes"]])
    heavier = memory.measurements(case.prefix, memory.measure(case, 2, plant_mb=0.2 * eager_peak / 2**20))
    d = gate.gate(heavier, base)[0]
    assert d.metric == name and d.status == gate.FAIL, d.message


def statistics_median(values):
    import statistics

    return statistics.median(values)
