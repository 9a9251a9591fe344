"""One compiled variant of the RAG flow against eager, in this process (one variant per process).

Job ``rag`` (``python -m ragperf.jobs rag --model minilm --variant compile+freeze``) prints one JSON line: index
build time (the compiled one includes compiling), the first query (the batch-1 graph compiles there),
query latency interleaved with eager over the known-answer questions, speedup with its CI, recall@5
of both, top-5 agreement, and the graphs compiled while timing (should be 0).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from ragperf import jobargs


def measure_variant(model: str, variant: str, rounds: int, device: str = "cpu", split: str = "serve") -> dict:
    import torch
    from torch._dynamo.utils import counters

    from ragperf.models.embedders import load_embedder
    from ragperf.models.ladder import build_variant
    from ragperf.perf import timing
    from ragperf.rag.corpus import load_known_answers
    from ragperf.rag.embeddings import LadderEmbeddings
    from ragperf.rag.pipeline import Timings, build_index, crawl_corpus, overlap_at_k, recall_at_k, retrieve

    known = load_known_answers()
    corpus_timings = Timings()
    chunks = crawl_corpus(split=split, timings=corpus_timings)
    embedder = load_embedder(model, device=device)
    eager_t, cand_t = Timings(), Timings()
    eager = build_index(chunks, LadderEmbeddings(build_variant(embedder, "eager")), eager_t)
    cand = build_index(chunks, LadderEmbeddings(build_variant(embedder, variant)), cand_t)
    questions = [q.question for q in known.questions]
    start = time.perf_counter()
    retrieve(cand, questions[0])
    first_query_s = time.perf_counter() - start
    for q in questions:  # warm-up: every question once through both
        retrieve(eager, q), retrieve(cand, q)
    graphs_before = counters["stats"]["unique_graphs"]
    asked = iter(range(10**9))
    fns = {"eager": lambda: retrieve(eager, questions[next(asked) % len(questions)]),
           variant: lambda: retrieve(cand, questions[next(asked) % len(questions)])}
    samples = timing.interleaved(fns, rounds=rounds, device=torch.device(device))
    graphs_while_timed = counters["stats"]["unique_graphs"] - graphs_before
    ratio = timing.speedup(samples["eager"], samples[variant])
    overlaps = [overlap_at_k(retrieve(eager, q), retrieve(cand, q)) for q in questions]
    return {
        "model": model, "variant": variant, "device": device, "split": split, "rounds": rounds,
        "chunks": len(chunks), "load_s": corpus_timings.load_s, "split_s": corpus_timings.split_s,
        "eager_index_s": eager_t.index_s, "index_s": cand_t.index_s, "first_query_s": first_query_s,
        "eager_query_s": samples["eager"].median, "query_s": samples[variant].median,
        "speedup": ratio.ratio, "speedup_low": ratio.low, "speedup_high": ratio.high,
        "eager_recall": recall_at_k(eager, known.questions), "recall": recall_at_k(cand, known.questions),
        "recall_floor": known.recall_floor, "mean_overlap": statistics.mean(overlaps),
        "graphs": counters["stats"]["unique_graphs"], "recompiles_while_timed": graphs_while_timed,
    }


def measure_rag(model: str = "minilm", variants: Sequence[str] | None = None, quick: bool = False,
                device: str = "cpu", split: str = "serve") -> dict:
    """Index build and query latency per compiled variant vs eager, speedup, recall@5 - for ``ragperf run``.

    Each variant runs in its own subprocess (job ``rag``): Inductor's freezing and weight
    prepacking are latched per process. Returns ``{"model", "split", "rows": [one dict per variant]}``;
    :func:`rag_table` renders it.
    """
    from ragperf.models.ladder import LADDER, variant
    from ragperf.subproc import run_job

    names = [v for v in (variants or LADDER) if v != "eager"]
    for name in names:
        variant(name)  # fail fast on a bad name, in this process
    rounds = 10 if quick else 50
    rows = [run_job("rag", ["--model", model, "--variant", name, "--rounds", str(rounds),
                                 "--device", device, "--split", split]) for name in names]
    return {"model": model, "split": split, "rounds": rounds, "rows": rows}


def rag_table(result: dict) -> str:
    """Markdown table of :func:`measure_rag`'s result."""
    lines = ["| RAG variant | index build (s) | query (ms) | speedup over eager | 95% CI | first query (s) "
             "| recall@5 | top-5 agreement |",
             "|---|---:|---:|---:|---|---:|---:|---:|"]
    rows = result["rows"]
    if rows:
        r = rows[0]
        lines.append(f"| eager | {r['eager_index_s']:.2f} | {r['eager_query_s'] * 1e3:.2f} | 1.00x | | "
                     f"| {r['eager_recall']:.2f} | |")
    for r in rows:
        lines.append(f"| {r['variant']} | {r['index_s']:.2f} | {r['query_s'] * 1e3:.2f} | {r['speedup']:.2f}x | "
                     f"{r['speedup_low']:.2f}-{r['speedup_high']:.2f}x | {r['first_query_s']:.2f} | "
                     f"{r['recall']:.2f} | {r['mean_overlap']:.2f} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ragperf.rag.pipeline import SPLITS

    jobargs.add(parser, model="minilm", variant=jobargs.REQUIRED, rounds=50, device="cpu")
    parser.add_argument("--split", default="serve", choices=SPLITS, help="corpus split; default %(default)s")


def job(args: argparse.Namespace) -> dict:
    return measure_variant(args.model, args.variant, args.rounds, args.device, args.split)
