"""What compiling costs: Dynamo (bytecode capture) vs Inductor (graph compilation), cold vs warm cache.

Each scenario is its own process, sharing one explicit ``TORCHINDUCTOR_CACHE_DIR``
(:func:`ragperf.perf.compile_time.cold_then_warm`): *cold* starts from the empty dir, *warm* reuses what
cold left there - what a deployment that carries its compile cache sees (vLLM's advice). The ``compile``
ladder variant is used: freezing bypasses the FX-graph and AOTAutograd caches, so a frozen model would be
cold every time.

Job ``compile-cost`` (``python -m ragperf.jobs compile-cost --model minilm``, with ``TORCHINDUCTOR_CACHE_DIR``
set) prints one scenario's JSON line; :func:`cold_vs_warm` runs both.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from ragperf import jobargs
from ragperf.models.ladder import BLOG_SENTENCES

VARIANT = "compile"


def measure_first_call(model: str, device: str = "cpu", backend: str = "inductor") -> dict:
    """Load ``model``, compile it by calling it once; where the compile time went and which caches hit."""
    process_start = time.perf_counter()
    import torch

    from ragperf.compile.probe import CompileProbe
    from ragperf.models.embedders import load_embedder
    from ragperf.models.ladder import build_variant
    from ragperf.perf.compile_time import first_call

    embedder = load_embedder(model, device=device)
    batch = embedder.tokenize(BLOG_SENTENCES)
    compiled = build_variant(embedder, VARIANT, backend=backend)
    ready_s = time.perf_counter() - process_start
    with CompileProbe() as probe:
        first = first_call(lambda: compiled(batch))
    steady = []
    for _ in range(5):
        start = time.perf_counter()
        compiled(batch)
        steady.append(time.perf_counter() - start)
    return {"model": model, "variant": VARIANT, "backend": backend, "torch": torch.__version__,
            "cache_dir": os.environ.get("TORCHINDUCTOR_CACHE_DIR"), "load_s": ready_s,
            "first_call_s": first["first_call_s"], "steady_s": sorted(steady)[len(steady) // 2],
            "graphs": probe.report.graphs, "dynamo_s": first["dynamo_s"], "backend_s": first["backend_s"],
            "inductor_s": probe.report.inductor_s, "cache": probe.report.cache}


def cold_vs_warm(model: str, device: str = "cpu", progress: Callable[[str], None] | None = None,
                 backend: str = "inductor") -> dict:
    """Run the cold then the warm scenario, each in its own process, sharing one new cache dir."""
    from ragperf.perf.compile_time import cold_then_warm
    from ragperf.subproc import run_job

    def scenario(name: str, cache_dir: str) -> dict:
        if progress:
            progress(f"compile cost, {name} cache: compiling {model} ({VARIANT}) in a new process")
        return run_job("compile-cost", ["--model", model, "--device", device, "--backend", backend],
                       env={"TORCHINDUCTOR_CACHE_DIR": cache_dir})

    return cold_then_warm(scenario)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    jobargs.add(parser, model="minilm", device="cpu", backend="inductor")


def job(args: argparse.Namespace) -> dict:
    return measure_first_call(args.model, args.device, args.backend)
