"""The TorchServe seed, gated: endpoint req/s of each compiled variant over eager, under locust load.

Metric ``serve/<model>/<variant>/<W>x<T>/speedup`` (compiled req/s / eager req/s, paired alternating
rounds, bootstrap CI) against baselines/perf/ like the other speedups; no stored figure yet means
report-only until ``--ragperf-update-baselines`` records one. Errors and recompiles under load must be 0.
"""

import pytest

from ragperf.jobs.serve import measure_serve
from ragperf.perf.gate import Measurement

pytestmark = pytest.mark.perf
LAYOUT = (1, 1)  # one worker x one thread: the fingerprint's torch_threads = 1 lane


@pytest.mark.parametrize("variant", ["compile", "compile+freeze+inference_mode"])
def test_endpoint_throughput_vs_eager(ragperf_perf, pytestconfig, variant):
    model = pytestconfig.getoption("--ragperf-embedder")
    result = measure_serve(model, layouts=(LAYOUT,), variants=("eager", variant), rounds=5, seconds=4.0, users=2)
    rows = {r["variant"]: r for r in result["rows"]}
    assert all(r["errors"] == 0 and r["recompiles"] == 0 for r in rows.values()), rows
    row = rows[variant]
    name = f"serve/{model}/{variant}/{LAYOUT[0]}x{LAYOUT[1]}/speedup"
    measured = {name: Measurement(name, "speedup", row["ratio"], row["ratio_se"], row["ratio_low"],
                                  row["ratio_high"])}
    ragperf_perf.check_measured(measured, figures=result)
