"""The first call of a fresh process, gated per start path against this machine's baseline.

Metrics (see :mod:`ragperf.coldstart.metrics`): ``coldstart/<model>/<variant>/cold/first_call_s`` and
``.../{warm,megacache,aoti}/start_speedup`` (cold first call / that path's first call), each the median
of ``REPEATS`` independent matrices of fresh processes. Report-only until a baseline is recorded
(``pytest -m coldstart --ragperf-update-baselines``). Slow: every start is a
fresh process compiling with Inductor (minutes per case on a small CPU).
"""

import pytest

from ragperf.coldstart.matrix import matrix
from ragperf.coldstart.metrics import measurements, prefix
from ragperf.coldstart.start import PATHS
from ragperf.perf.cases import EMBED_LADDER

# Its own lane (`pytest -m coldstart`, tox -e coldstart), not `-m perf`: every start is a fresh process compiling
# with Inductor, and the AOTInductor packages alone take minutes - tens of minutes in all on 2 cores, past
# the speed gate's 10-minute budget.
pytestmark = pytest.mark.coldstart
REPEATS = 3
ROUNDS = 5


def _gate(ragperf_perf, model, variant, kind, device):
    def measure():
        datas = [matrix(model, [variant], PATHS, rounds=ROUNDS, device=device, kind=kind) for _ in range(REPEATS)]
        return measurements(prefix(model, variant), datas)

    measured = measure()
    ragperf_perf.check(measured, remeasure=measure)
    return measured


@pytest.mark.parametrize("variant", EMBED_LADDER)
def test_embedder_first_call_by_start_path(ragperf_perf, pytestconfig, variant, embedder_spec):
    model = embedder_spec
    measured = _gate(ragperf_perf, model, variant, "embedder", pytestconfig.getoption("--ragperf-device"))
    name = prefix(model, variant)
    # Frozen rungs bypass the caches the Mega-Cache carries: no Mega-Cache start to gate there.
    expected = {f"{name}/cold/first_call_s", f"{name}/warm/start_speedup", f"{name}/aoti/start_speedup"}
    if variant == "compile":
        expected.add(f"{name}/megacache/start_speedup")
    assert set(measured) == expected


@pytest.mark.parametrize("mode", ["compile-decode", "static-cudagraphs"])
def test_decode_mode_first_call_by_start_path(ragperf_perf, pytestconfig, mode, decoder_spec):
    decoder = decoder_spec
    measured = _gate(ragperf_perf, decoder, mode, "decoder", pytestconfig.getoption("--ragperf-device"))
    name = prefix(decoder, mode)
    expected = {f"{name}/cold/first_call_s", f"{name}/warm/start_speedup", f"{name}/megacache/start_speedup"}
    if mode.startswith("static-"):  # a dynamic-cache decode step has no fixed shape to package
        expected.add(f"{name}/aoti/start_speedup")
    assert set(measured) == expected
