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


VARIANTS = ("compile", "compile+freeze+inference_mode")


@pytest.fixture(scope="module")
def served(pytestconfig):
    """One measurement for every variant: eager's server is started once and its rounds alternate with all of
    theirs (5 rounds of 4 s, 2 users, 1 worker x 1 thread)."""
    model = pytestconfig.getoption("--ragperf-embedder")
    return measure_serve(model, layouts=(LAYOUT,), variants=("eager", *VARIANTS), rounds=5, seconds=4.0, users=2)


@pytest.mark.parametrize("variant", VARIANTS)
def test_endpoint_throughput_vs_eager(ragperf_perf, served, variant):
    rows = {r["variant"]: r for r in served["rows"]}
    assert all(r["errors"] == 0 and r["recompiles"] == 0 for r in rows.values()), rows
    row = rows[variant]
    name = f"serve/{served['model']}/{variant}/{LAYOUT[0]}x{LAYOUT[1]}/speedup"
    measured = {name: Measurement(name, "speedup", row["ratio"], row["ratio_se"], row["ratio_low"],
                                  row["ratio_high"])}
    ragperf_perf.check_measured(measured, figures=served)
