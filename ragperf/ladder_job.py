"""Time one ladder variant against eager, interleaved in this process (one variant per process).

``python -m ragperf.ladder_job --model minilm --variant compile+freeze`` prints one JSON line.
Each variant needs its own process: Inductor's weight-prepack patterns and the oneDNN/OpenMP
environment are latched by the first compile in a process.
"""

from __future__ import annotations

import argparse
import json
import time

# The blog's standalone embedding benchmark: a batch of two short sentences.
BLOG_SENTENCES = ["This is an example sentence", "Each sentence is converted"]


def measure_variant(model: str, variant: str, rounds: int, device: str = "cpu", backend: str = "inductor") -> dict:
    """Compile ``variant`` (first call timed), warm it up, then time it interleaved with eager."""
    import torch
    from torch._dynamo.utils import counters

    from ragperf import timing
    from ragperf.embedders import load_embedder
    from ragperf.ladder import build_variant

    embedder = load_embedder(model, device=device)
    batch = embedder.tokenize(BLOG_SENTENCES)
    eager = build_variant(embedder, "eager")
    candidate = build_variant(embedder, variant, backend=backend)
    start = time.perf_counter()
    candidate(batch)
    first_call_s = time.perf_counter() - start
    for _ in range(3):
        eager(batch), candidate(batch)
    graphs_before = counters["stats"]["unique_graphs"]
    samples = timing.interleaved({"eager": lambda: eager(batch), variant: lambda: candidate(batch)},
                                 rounds=rounds, device=torch.device(device))
    ratio = timing.speedup(samples["eager"], samples[variant])
    return {
        "model": model, "variant": variant, "device": device, "rounds": rounds,
        "eager_median_s": samples["eager"].median, "median_s": samples[variant].median,
        "p90_s": samples[variant].p90, "speedup": ratio.ratio, "speedup_low": ratio.low,
        "speedup_high": ratio.high, "first_call_s": first_call_s,
        "graphs": counters["stats"]["unique_graphs"],
        "recompiles_while_timed": counters["stats"]["unique_graphs"] - graphs_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ragperf.ladder_job")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(json.dumps(measure_variant(args.model, args.variant, args.rounds, args.device)))


if __name__ == "__main__":
    main()
