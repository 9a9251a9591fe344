"""Compile time, gated: the cold first call of a case in fresh processes with an empty Inductor cache, and
the warm-cache first call after it.

Per process (``python -m ragperf.perf.compile_time ...``, one child per measurement): the candidate is
built, its first call timed, and Dynamo's own timers (``torch._dynamo.utils.compilation_time_metrics``)
split that into **Dynamo** seconds (``_compile.compile_inner`` less the backend) and **backend** seconds
(``OutputGraph.call_user_compiler``: AOTAutograd + Inductor, "inductor_s" with the inductor backend).
:func:`measure` runs, for each of N processes, a cold child on a new empty ``TORCHINDUCTOR_CACHE_DIR``
(a temporary folder, removed after) and then a warm child on the same folder, and combines the N as
medians with the between-process spread as noise (:mod:`ragperf.perf.processes`).

Seconds of one and the same compile drift 10-20% on a shared VM; each first call is therefore also
expressed in units of the machine's speed of the moment (``units``: seconds / :func:`ragperf.perf.machine.yardstick_seconds`,
timed just before and after it in the same process), the gated ``cold_compile_units``.

``slowdown`` plants a compiler regression: in the child, Dynamo's call into the backend (whichever it is,
Inductor included) spins after each graph until the spinning totals ``slowdown`` x the first call's
compile time so far (Dynamo tracing + backend) - a compile that really is that much slower, seen by
Dynamo's timers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time

from ragperf.errors import RagperfError
from ragperf.perf.gate import Measurement

FIGURES = ("first_call_s", "dynamo_s", "backend_s", "yardstick_s", "units")


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
        now = time.perf_counter()
        owed = (now - started[0] - spun[0]) * fraction - spun[0]  # spins so far not counted as compile time
        while time.perf_counter() < now + owed:
            pass
        spun[0] += max(owed, 0.0)
        return out

    OutputGraph._call_user_compiler = slowed
    try:
        yield spun
    finally:
        OutputGraph._call_user_compiler = inner


def first_call(case, slowdown: float = 0.0) -> dict:
    """This process's first call of ``case``'s candidate: total, Dynamo and backend seconds, and the total in
    units of this machine's speed (:func:`ragperf.perf.machine.yardstick_seconds`, timed just before and just after it)."""
    from torch._dynamo.utils import compilation_time_metrics

    from ragperf.perf.machine import yardstick_seconds

    started = [time.perf_counter()]
    with planted(slowdown, started) if slowdown else contextlib.nullcontext():
        _, candidate = case.callables()
        before = yardstick_seconds()
        started[0] = time.perf_counter()
        candidate()
        total = time.perf_counter() - started[0]
    stick = (before + yardstick_seconds()) / 2
    compile_s = sum(compilation_time_metrics.get("_compile.compile_inner", []))
    backend_s = sum(compilation_time_metrics.get("OutputGraph.call_user_compiler", []))
    return {"first_call_s": total, "dynamo_s": max(compile_s - backend_s, 0.0), "backend_s": backend_s,
            "yardstick_s": stick, "units": total / stick}


def measure_once(case, cache_dir: str, slowdown: float = 0.0, timeout: float | None = 900) -> dict:
    from ragperf.subproc import run_json

    return run_json("ragperf.perf.compile_time", [*case.args(), "--compile-slowdown", str(slowdown)],
                    env={"TORCHINDUCTOR_CACHE_DIR": cache_dir}, timeout=timeout)


def measure(case, processes: int, slowdown: float = 0.0) -> dict:
    """Cold (empty cache) and warm (that cache) first calls in ``processes`` pairs of fresh processes."""
    runs = []
    for _ in range(processes):
        cache = tempfile.mkdtemp(prefix="ragperf-inductor-cache-")
        try:
            cold = measure_once(case, cache, slowdown)
            warm = measure_once(case, cache, slowdown)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        runs.append({**{f"cold_{k}": v for k, v in cold.items()}, **{f"warm_{k}": v for k, v in warm.items()}})
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


def main(argv: list[str] | None = None) -> None:
    from ragperf.perf.cases import Case, add_case_arguments

    parser = argparse.ArgumentParser(prog="python -m ragperf.perf.compile_time", description=__doc__)
    add_case_arguments(parser)
    parser.add_argument("--compile-slowdown", type=float, default=0.0)
    args = parser.parse_args(argv)
    case = Case(args.kind, args.model, args.variant, rounds=args.rounds, backend=args.backend, device=args.device,
                new_tokens=args.new_tokens, prompt_len=args.prompt_len, seed=args.seed, dtype=args.dtype)
    print(json.dumps({**first_call(case, args.compile_slowdown), "cache_dir": os.environ.get("TORCHINDUCTOR_CACHE_DIR")}))


if __name__ == "__main__":
    main()
