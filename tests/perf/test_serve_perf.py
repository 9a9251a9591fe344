"""The TorchServe seed under locust load: endpoint req/s of each compiled variant over eager.

Metric ``serve/<model>/<variant>/<W>x<T>/speedup`` (compiled req/s / eager req/s, paired alternating
rounds, bootstrap CI) is judged against baselines/perf/ and shown in the gate table, report-only (see
:data:`REPORT_ONLY`); ``--ragperf-update-baselines`` records it. Errors and recompiles under load must be 0:
those fail.
"""

import pytest

from ragperf.jobs.serve import measure_serve
from ragperf.perf.gate import Measurement

pytestmark = pytest.mark.perf
LAYOUT = (1, 1)  # one worker x one thread: the fingerprint's torch_threads = 1 lane


VARIANTS = ("compile", "compile+freeze+inference_mode")
# Measured on the idle 2-core AMD VM, 2026-12-04/05 (docs/perf.md, "Served speedups: report-only"): in 9 runs of
# this test the served compile+freeze+inference_mode speedup ranged 1.156-1.307x and compile 1.088-1.193x, one
# run's own 95% CI reached 0.98-1.27x, and two unplanted gate runs failed on it (-8.0%, then INCONCLUSIVE).
# The same compiled variants are gated as the embedder's rungs (tests/perf/test_embed_perf.py).
REPORT_ONLY = ("served req/s at 1x1 moved 1.16-1.31x between idle runs on the 2-core VM (docs/perf.md): too noisy "
               "to gate in the budget; the embedder rungs gate the same compiled variants")


@pytest.fixture(scope="module")
def served(pytestconfig, embedder_spec):
    """One measurement for every variant: eager's server is started once and its rounds alternate with all of
    theirs (5 rounds of 4 s, 2 users, 1 worker x 1 thread)."""
    model = embedder_spec
    return measure_serve(model, layouts=(LAYOUT,), variants=("eager", *VARIANTS), rounds=5, seconds=4.0, users=2)


@pytest.mark.parametrize("variant", VARIANTS)
def test_endpoint_throughput_vs_eager(ragperf_perf, served, variant):
    rows = {r["variant"]: r for r in served["rows"]}
    assert all(r["errors"] == 0 and r["recompiles"] == 0 for r in rows.values()), rows
    row = rows[variant]
    name = f"serve/{served['model']}/{variant}/{LAYOUT[0]}x{LAYOUT[1]}/speedup"
    measured = {name: Measurement(name, "speedup", row["ratio"], row["ratio_se"], row["ratio_low"],
                                  row["ratio_high"])}
    ragperf_perf.check(measured, figures=served, report_only=dict.fromkeys(measured, REPORT_ONLY))
