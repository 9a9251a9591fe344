"""Time one ladder variant against eager, interleaved in this process (one variant per process).

``python -m ragperf.ladder_job --model minilm --variant compile+freeze`` prints one JSON line.
Each variant needs its own process: Inductor's weight-prepack patterns and the oneDNN/OpenMP
environment are latched by the first compile in a process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# The blog's standalone embedding benchmark: a batch of two short sentences.
BLOG_SENTENCES = ["This is an example sentence", "Each sentence is converted"]


def measure_variant(model: str, variant: str, rounds: int, device: str = "cpu", backend: str = "inductor",
                    progress: bool = False) -> dict:
    """Compile ``variant`` (first call timed and probed), judge it against eager and fp64, then time it
    interleaved with eager."""
    import torch

    from ragperf import timing
    from ragperf.embedders import load_embedder
    from ragperf.ladder import build_variant
    from ragperf.parity import embed_fp64
    from ragperf.probe import CompileProbe
    from ragperf.tolerances import lookup
    from ragperf.verdicts import judge

    embedder = load_embedder(model, device=device)
    batch = embedder.tokenize(BLOG_SENTENCES)
    eager = build_variant(embedder, "eager")
    candidate = build_variant(embedder, variant, backend=backend)
    _say(progress, f"ladder {variant}: compiling {model} (first call)")
    with CompileProbe() as probe:
        start = time.perf_counter()
        compiled_out = candidate(batch)
        first_call_s = time.perf_counter() - start
    verdict = judge(eager(batch), compiled_out, embed_fp64(embedder, batch), lookup(device, "float32", "off"),
                    eager_again=eager(batch), cosine=True, name=f"{model} {variant}")
    for _ in range(3):
        eager(batch), candidate(batch)
    _say(progress, f"ladder {variant}: timing {rounds} interleaved rounds against eager")
    with CompileProbe() as timed:
        samples = timing.interleaved({"eager": lambda: eager(batch), variant: lambda: candidate(batch)},
                                     rounds=rounds, device=torch.device(device))
    ratio = timing.speedup(samples["eager"], samples[variant])
    return {
        "model": model, "variant": variant, "device": device, "rounds": rounds,
        "eager_median_s": samples["eager"].median, "median_s": samples[variant].median,
        "p90_s": samples[variant].p90, "speedup": ratio.ratio, "speedup_low": ratio.low,
        "speedup_high": ratio.high, "first_call_s": first_call_s,
        "graphs": probe.report.graphs, "recompiles_while_timed": timed.report.graphs,
        "probe": probe.report.to_dict(), "recompile_reasons": [r.reason for r in timed.report.recompile_list],
        "parity": {"passed": verdict.passed, "status": verdict.status, "rule": verdict.rule,
                   "max_abs": verdict.max_abs, "message": verdict.message()},
    }


def _say(progress: bool, line: str) -> None:
    if progress:
        print(f"[ragperf]   {line}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ragperf.ladder_job")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--progress", action="store_true", help="progress lines on stderr")
    args = parser.parse_args()
    print(json.dumps(measure_variant(args.model, args.variant, args.rounds, args.device, args.backend,
                                     args.progress)))


if __name__ == "__main__":
    main()
