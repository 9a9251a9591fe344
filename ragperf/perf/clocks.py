"""The clock the measurement core (:mod:`ragperf.perf.timing`) reads: real time, or - for the harness's own
tests - a virtual clock that makes every ratio exact and independent of the machine's load.

The virtual clock is a testing seam in the spirit of ``torch._dynamo.testing``: set
``RAGPERF_VIRTUAL_CLOCK=COST_S`` (e.g. ``0.001``) in the environment - a fresh-process re-measure
inherits it - and in :func:`ragperf.perf.timing.compare`

* every call of eager or candidate costs exactly ``COST_S`` seconds of virtual time, plus
  :data:`COMPILE_S` per graph Dynamo compiles during it (so a first call still costs more);
* a planted slowdown of fraction ``f`` adds exactly ``f`` x the call's cost (no busy-wait);
* nothing else moves the clock, so an A/A speedup is exactly 1 and a planted one exactly 1/(1+f).

The functions still run for real (compile, warm-up, recompile checks, pytest-benchmark rounds); only
the seconds are virtual. Never set it outside tests: the figures it yields are not measurements.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ragperf.models.clock import now

ENV = "RAGPERF_VIRTUAL_CLOCK"
COMPILE_S = 1.0


class RealClock:
    """perf_counter (device-synchronized); a spin is a busy-wait."""

    virtual = False

    @staticmethod
    def now(device=None) -> float:
        return now(device)

    @staticmethod
    def spin_until(deadline: float) -> None:
        while time.perf_counter() < deadline:
            pass

    @staticmethod
    def charged(fn: Callable[[], object]) -> Callable[[], object]:
        return fn


class VirtualClock:
    """Seconds that move only by a charged call's fixed cost or a spin (see the module docstring)."""

    virtual = True

    def __init__(self, cost_s: float):
        self.cost_s = cost_s
        self.t = 0.0

    def now(self, device=None) -> float:
        return self.t

    def spin_until(self, deadline: float) -> None:
        self.t = max(self.t, deadline)

    def charged(self, fn: Callable[[], object]) -> Callable[[], object]:
        from ragperf.perf.timing import compile_count

        def call():
            graphs = compile_count()
            result = fn()
            self.t += self.cost_s + COMPILE_S * (compile_count() - graphs)
            return result

        return call


REAL = RealClock()
_virtual: dict[float, VirtualClock] = {}


def active() -> RealClock | VirtualClock:
    """The virtual clock when ``RAGPERF_VIRTUAL_CLOCK`` is set (one timeline per process), else real time."""
    from ragperf import knobs

    cost = knobs.env_seconds(ENV, None, 60.0)
    if cost is None:
        return REAL
    if cost not in _virtual:
        _virtual[cost] = VirtualClock(cost)
    return _virtual[cost]
