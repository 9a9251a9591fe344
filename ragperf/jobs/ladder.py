"""Time one ladder variant against eager, interleaved in this process (one variant per process).

Job ``ladder`` (``python -m ragperf.jobs ladder --model minilm --variant compile+freeze``): one JSON line.
Each variant needs its own process: Inductor's weight-prepack patterns and the oneDNN/OpenMP
environment are latched by the first compile in a process.
"""

from __future__ import annotations

import argparse

from ragperf import jobargs
from ragperf.models.ladder import BLOG_SENTENCES
from ragperf.subproc import child_progress


def measure_variant(model: str, variant: str, rounds: int, device: str = "cpu", backend: str = "inductor",
                    progress: bool = False) -> dict:
    """Compile ``variant`` (first call timed), warm it up, time it interleaved with eager (all probed),
    and judge its output against eager and fp64."""
    import torch

    from ragperf.compile.probe import CompileProbe
    from ragperf.models.embedders import load_embedder
    from ragperf.models.ladder import build_variant
    from ragperf.numerics.parity import embed_fp64
    from ragperf.numerics.tolerances import lookup
    from ragperf.numerics.verdicts import judge
    from ragperf.perf import timing

    embedder = load_embedder(model, device=device)
    batch = embedder.tokenize(BLOG_SENTENCES)
    eager = build_variant(embedder, "eager")
    candidate = build_variant(embedder, variant, backend=backend)
    child_progress(progress, f"ladder {variant}: compiling {model}, warming up, then timing {rounds} "
                             "interleaved rounds against eager")
    with CompileProbe() as probe:
        comparison = timing.compare(lambda: eager(batch), lambda: candidate(batch), rounds,
                                    device=torch.device(device))
    verdict = judge(eager(batch), candidate(batch), embed_fp64(embedder, batch), lookup(device, "float32", "off"),
                    eager_again=eager(batch), cosine=True, name=f"{model} {variant}")
    return {
        **comparison.figures(), "model": model, "variant": variant, "device": device,
        "probe": probe.report.to_dict(),
        "parity": {"passed": verdict.passed, "status": verdict.status, "rule": verdict.rule,
                   "max_abs": verdict.max_abs, "message": verdict.message()},
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    jobargs.add(parser, model="minilm", variant=jobargs.REQUIRED, rounds=100, device="cpu", backend="inductor",
                progress=False)


def job(args: argparse.Namespace) -> dict:
    return measure_variant(args.model, args.variant, args.rounds, args.device, args.backend, args.progress)
