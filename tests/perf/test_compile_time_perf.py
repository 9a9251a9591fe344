"""Compile time gated: MiniLM's `compile` rung, cold first call (empty Inductor cache) and warm-cache first
call, each in ``--ragperf-processes`` pairs of fresh processes; ``--ragperf-plant-compile-slowdown`` proves it."""

import pytest

from ragperf.perf.cases import Case

pytestmark = pytest.mark.perf


def test_cold_and_warm_compile_time(ragperf_perf, pytestconfig, embedder_spec):
    case = Case("embed", embedder_spec, "compile",
                device=pytestconfig.getoption("--ragperf-device"))
    decisions = ragperf_perf.check(ragperf_perf.compile_times(case))
    names = {d.metric for d in decisions}
    assert {f"{case.prefix}/cold_compile_s", f"{case.prefix}/warm_compile_s", f"{case.prefix}/cold_dynamo_s",
            f"{case.prefix}/cold_backend_s"} <= names
