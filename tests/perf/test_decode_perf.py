"""Greedy decode with the decode step compiled, against eager, on the ``--ragperf-decoder`` (tiny-llama)."""

import pytest

from ragperf.perf_cases import Case

pytestmark = pytest.mark.perf


def test_compiled_decode_vs_eager(benchmark, ragperf_perf, pytestconfig):
    case = Case("decode", pytestconfig.getoption("--ragperf-decoder"), "compile-decode", rounds=30)
    benchmark.group = f"decode/{case.model}"
    decisions = ragperf_perf.check(benchmark, case)
    assert benchmark.extra_info["ragperf"]["recompiles_while_timed"] == 0
    assert {d.metric for d in decisions} == {f"{case.prefix}/speedup", f"{case.prefix}/median_s"}
