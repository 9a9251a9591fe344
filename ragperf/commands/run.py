"""``ragperf run``: the main job - the Graviton RAG blog's embedding ladder, measured on this machine."""

from __future__ import annotations

import argparse
import sys

from ragperf.ladder import LADDER


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="measure the optimization ladder on this machine",
                                   description=__doc__)
    parser.add_argument("--model", default="minilm", help="embedder: minilm (default), mpnet, tiny-bert, PATH")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--quick", action="store_true", help="fewer timed rounds (20 instead of 100)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per variant")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.model_sources import resolve_embedder
    from ragperf.subproc import run_json

    resolve_embedder(args.model)  # fail fast, in this process, on a bad model spec
    rounds = args.rounds or (20 if args.quick else 100)
    rows = []
    for name in LADDER:
        if name == "eager":
            continue
        print(f"[ragperf] {name}: compiling and timing {rounds} interleaved rounds against eager "
              "(own process)...", file=sys.stderr, flush=True)
        rows.append(run_json("ragperf.ladder_job", ["--model", args.model, "--variant", name,
                                                    "--rounds", str(rounds), "--device", args.device]))
    print(ladder_table(rows))
    return 0


def ladder_table(rows: list[dict]) -> str:
    """The blog's table: optimization level | latency per call | improvement over eager (with its CI)."""
    eager_s = sorted(r["eager_median_s"] for r in rows)[len(rows) // 2]
    lines = ["| optimization level | latency (ms) | improvement over eager | 95% CI | first call (s) |",
             "|---|---:|---:|---|---:|",
             f"| eager | {eager_s * 1e3:.2f} | 1.00x | | |"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['median_s'] * 1e3:.2f} | {r['speedup']:.2f}x | "
                     f"{r['speedup_low']:.2f}-{r['speedup_high']:.2f}x | {r['first_call_s']:.1f} |")
    return "\n".join(lines)
