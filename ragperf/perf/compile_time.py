"""First calls on an empty Inductor cache - measured here, for every part of ragperf - and the gated compile time.

**The measurement** (one home; the compile cost section, the cold-start matrix and the compile-time gate
all use it): :func:`empty_cache` is a new, empty ``TORCHINDUCTOR_CACHE_DIR`` folder, removed afterwards;
:func:`cold_then_warm` runs a fresh process on it (*cold*) and another on what the first left there
(*warm*); in the fresh process, :func:`first_call` times the first call and splits it with Dynamo's own
timers (``torch._dynamo.utils.compilation_time_metrics``) into **Dynamo** seconds
(``_compile.compile_inner`` less the backend) and **backend** seconds (``OutputGraph.call_user_compiler``:
AOTAutograd + Inductor, "inductor_s" with the inductor backend).

**The gate**: job ``compile-time`` (``python -m ragperf.jobs compile-time CASE-ARGS``) is one such first call
of a perf case; :func:`measure` runs N cold/warm pairs and combines the N as medians with the
between-process spread as noise (:mod:`ragperf.perf.processes`).

Seconds of one and the same compile drift 10-20% on a shared VM; each first call is therefore also
expressed in units of the machine's speed of the moment (``units``: seconds / :func:`ragperf.perf.machine.yardstick_seconds`,
timed just before and after it in the same process), the gated ``cold_compile_units``.

``slowdown`` plants a compiler regression: in the child, Dynamo's call into the backend (whichever it is,
Inductor included) spins after each graph until the spinning totals ``slowdown`` x the first call's
time so far - a compile that really is that much slower, seen by Dynamo's timers - and what ran after the
last graph is owed when the call returns, so the whole first call is ``slowdown`` slower (spinning only
per graph delivered about 6% of a planted 10%).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

from ragperf import argtypes
from ragperf.errors import RagperfError
from ragperf.perf.gate import Measurement

FIGURES = ("first_call_s", "dynamo_s", "backend_s", "yardstick_s", "units")
COMPILE_TIMER, BACKEND_TIMER = "_compile.compile_inner", "OutputGraph.call_user_compiler"


@contextlib.contextmanager
def planted(fraction: float, started: list[float]):
    """While open, every graph Dynamo hands to its backend in this process - any backend, Inductor too - is
    followed by a spin until the spinning totals ``fraction`` x the compile time since ``started[0]`` (spins
    excluded), inside Dynamo's backend timer (``OutputGraph.call_user_compiler``); restored on exit. Yields a
    one-element list: the seconds spun so far."""
    import torch
    from torch._dynamo.output_graph import OutputGraph

    # Private, but the one place every backend's compile passes: torch.compile(backend="inductor") calls
    # Inductor directly, never through the backend registry, so wrapping a registered backend misses it.
    inner = getattr(OutputGraph, "_call_user_compiler", None)
    if inner is None:
        raise RagperfError(f"torch {torch.__version__} has no OutputGraph._call_user_compiler: a compile "
                           "slowdown cannot be planted with it; run without --ragperf-plant-compile-slowdown")
    spun = [0.0]

    def slowed(self, *args, **kwargs):
        out = inner(self, *args, **kwargs)
        spin_until_owed(fraction, started, spun)
        return out

    OutputGraph._call_user_compiler = slowed
    try:
        yield spun
    finally:
        OutputGraph._call_user_compiler = inner


def spin_until_owed(fraction: float, started: list[float], spun: list[float]) -> None:
    """Spin until ``spun[0]`` totals ``fraction`` x the seconds since ``started[0]`` that were not spinning."""
    now = time.perf_counter()
    owed = (now - started[0] - spun[0]) * fraction - spun[0]
    while time.perf_counter() < now + owed:
        pass
    spun[0] += max(owed, 0.0)


@contextlib.contextmanager
def empty_cache() -> Iterator[str]:
    """A new, empty Inductor cache folder (give it to a child as ``TORCHINDUCTOR_CACHE_DIR``), removed when
    the block ends - also on failure or Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="ragperf-inductor-", ignore_cleanup_errors=True) as folder:
        yield folder


def cold_then_warm(run: Callable[[str, str], dict]) -> dict[str, dict]:
    """``{"cold": run("cold", folder), "warm": run("warm", folder)}`` on one :func:`empty_cache` folder: ``run``
    starts a fresh process with that folder as its Inductor cache; the second finds what the first left there."""
    with empty_cache() as folder:
        return {scenario: run(scenario, folder) for scenario in ("cold", "warm")}


def first_call(call: Callable[[], object], *, slowdown: float = 0.0, units: bool = False) -> dict:
    """Time ``call()`` - this process's first call of something compiled - and split it: ``first_call_s``,
    ``dynamo_s`` and ``backend_s`` (Dynamo's own timers, counted from before the call). ``units``: also the
    machine's speed of the moment (``yardstick_s``, timed just before and just after) and the first call in
    those units. ``slowdown`` plants a compiler regression around the call (:func:`planted`)."""
    from torch._dynamo.utils import compilation_time_metrics

    from ragperf.perf.machine import yardstick_seconds

    def timer(key: str) -> float:
        return sum(compilation_time_metrics.get(key, []))

    compile_before, backend_before = timer(COMPILE_TIMER), timer(BACKEND_TIMER)
    started = [time.perf_counter()]
    with planted(slowdown, started) if slowdown else contextlib.nullcontext() as spun:
        before = yardstick_seconds() if units else 0.0
        started[0] = time.perf_counter()
        call()
        if slowdown:  # what ran after the last graph (guards, the call itself) owes its share too
            spin_until_owed(slowdown, started, spun)
        total = time.perf_counter() - started[0]
    compile_s, backend_s = timer(COMPILE_TIMER) - compile_before, timer(BACKEND_TIMER) - backend_before
    out = {"first_call_s": total, "dynamo_s": max(compile_s - backend_s, 0.0), "backend_s": backend_s}
    if units:
        stick = (before + yardstick_seconds()) / 2
        out.update(yardstick_s=stick, units=total / stick)
    return out


def measure_once(case, cache_dir: str, slowdown: float = 0.0, timeout: float | None = 900) -> dict:
    from ragperf.subproc import run_job

    return run_job("compile-time", [*case.args(), "--compile-slowdown", str(slowdown)],
                   env={"TORCHINDUCTOR_CACHE_DIR": cache_dir}, timeout=timeout)


def measure(case, processes: int, slowdown: float = 0.0) -> dict:
    """Cold (empty cache) and warm (that cache) first calls in ``processes`` pairs of fresh processes."""
    runs = []
    for _ in range(processes):
        pair = cold_then_warm(lambda scenario, cache: measure_once(case, cache, slowdown))
        runs.append({f"{scenario}_{k}": v for scenario, figures in pair.items() for k, v in figures.items()})
    return {"case": case.prefix, "compile_slowdown": slowdown, "processes": runs}


METRICS = {"cold_first_call_s": "cold_compile_s", "cold_dynamo_s": "cold_dynamo_s",
           "cold_backend_s": "cold_backend_s", "warm_first_call_s": "warm_compile_s",
           "cold_units": "cold_compile_units"}


def measurements(prefix: str, figures: dict) -> dict[str, Measurement]:
    """Gated compile metrics (kind ``compile``): medians over processes, se from their spread."""
    from ragperf.perf.processes import se_of_median, spread

    out = {}
    for key, metric in METRICS.items():
        values = [r[key] for r in figures["processes"] if key in r]
        if not values or len(values) < len(figures["processes"]) or not all(v > 0 for v in values):
            continue  # not measured (a cold-only campaign), or no backend seconds: nothing compiled by a backend
        name, kind = f"{prefix}/{metric}", "compile_units" if metric.endswith("_units") else "compile"
        out[name] = Measurement(name, kind, statistics.median(values),
                                se_of_median(spread(values), len(values)), processes=values)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ragperf.perf.cases import add_case_arguments

    add_case_arguments(parser)
    parser.add_argument("--compile-slowdown", type=argtypes.slowdown, default=0.0,
                        help="planted compiler slowdown (0.1 = 10%% more compile time)")


def job(args: argparse.Namespace) -> dict:
    from ragperf.perf.cases import case_from_args

    _, candidate = case_from_args(args).callables()
    return {**first_call(candidate, slowdown=args.compile_slowdown, units=True),
            "cache_dir": os.environ.get("TORCHINDUCTOR_CACHE_DIR")}
