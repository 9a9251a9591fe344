"""The LLM endpoint alone under open-loop load, one decode mode on one device: what a GPU serves.

Job ``serve-bench`` (``python -m ragperf.jobs serve-bench --device cuda``; ``python scripts/gpu_lane.py
serve`` runs it after the GPU bench). Serves ``--decoder`` in ``--mode`` (default ``static-cudagraphs``,
length-bucketed up to ``--context`` tokens) on ``--device`` with :mod:`ragperf.serve.generate`, waits until
every bucket is compiled, captured and warmed, then sends ``--requests`` ``/generate`` requests at
``--rate``/s (:mod:`ragperf.serve.open_loop`), their prompts spread over every bucket. Reports request and
token throughput, TTFT, TPOT, ITL and e2e percentiles, errors, and the worker's recompiles and CUDA-graph
re-recordings under load, as JSON (``--json``) and a Markdown table (``--markdown``), printed too.

Exit status: 0 when every request completed with no recompile and no re-recording, 1 otherwise, 2 for bad
input or no CUDA device with ``--device cuda``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ragperf import argtypes, jobargs
from ragperf.files import write_atomic

RATE = argtypes.Amount(10_000.0)
REQUESTS = argtypes.Count(1, 10_000, "requests")
TOKENS = argtypes.Count(1, 256, "tokens")
CONTEXT = argtypes.Count(72, 8192, "tokens")
SECONDS = argtypes.Amount(argtypes.DAY_S)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    jobargs.add(parser, device="cuda", backend="inductor")
    parser.add_argument("--decoder", default="llama-3.2-1b", help="decoder served (default llama-3.2-1b)")
    parser.add_argument("--mode", default="static-cudagraphs", help="decode mode served (default static-cudagraphs)")
    parser.add_argument("--rate", type=RATE, default=4.0, help=f"Poisson arrivals per second ({RATE.bounds}; default 4)")
    parser.add_argument("--requests", type=REQUESTS, default=64, help=f"requests sent ({REQUESTS.bounds}; default 64)")
    parser.add_argument("--max-tokens", type=TOKENS, default=32, help=f"tokens per request ({TOKENS.bounds}; default 32)")
    parser.add_argument("--context", type=CONTEXT, default=512,
                        help=f"longest prompt + max_tokens served; one cache bucket per power of two up to it "
                             f"({CONTEXT.bounds}; default 512)")
    parser.add_argument("--seconds", type=SECONDS, default=300.0, help=f"bound on the load's wall time ({SECONDS.bounds}; default 300)")
    parser.add_argument("--json", type=argtypes.output_file, default=None)
    parser.add_argument("--markdown", type=argtypes.output_file, default=None)
    parser.add_argument("--bench-json", type=Path, default=None,
                        help="a gpu-bench --json of the same decoder: its single-stream figure for --mode joins the report")


def prompts_over(buckets: tuple[int, ...], max_tokens: int) -> list[str]:
    """Byte prompts that land in every bucket: for each, one just past the bucket below and its longest."""
    out, below = [], 0
    for bucket in buckets:
        for tokens in {below + 1, bucket - max_tokens}:
            if 2 <= tokens <= bucket - max_tokens:
                out.append("q" * (tokens - 1))  # a byte prompt of n chars is n + 1 tokens
        below = bucket - max_tokens
    return out


def bench_figure(path: Path | None, decoder: str, mode: str) -> dict | None:
    """``mode``'s batch-1 row of a gpu-bench report at ``path`` (tok/s, compile s, graphs, tokens vs eager, or its
    error); None without a report, and the reason when the report lacks it."""
    if path is None:
        return None
    if not path.is_file():
        return {"error": f"no gpu-bench report at {path} (the bench did not finish)"}
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for r in report.get(decoder, {}).get("results", []) if r.get("mode") == mode]
    if not rows:
        return {"error": f"the gpu-bench report has no {decoder} {mode} row"}
    row = rows[0]
    single = [r for r in row.get("rows", []) if r["batch"] == 1]
    return {"tok_s": single[0]["tok_s"] if single else None, "compile_s": row.get("compile_s"),
            "cudagraphs_recorded": row.get("cudagraphs_recorded"), "tokens_vs_eager": row.get("tokens"),
            "problems": row.get("problems", []), "error": row.get("error"),
            "prompt_len": report["args"]["prompt_len"], "new_tokens": report["args"]["new_tokens"]}


def markdown(result: dict) -> str:
    """The run as a Markdown table, its conditions on top."""
    load = result["load"]
    lines = [f"LLM endpoint: {result['decoder']} {result['mode']} on {result['device_name']}, "
             f"{result['requests']} requests at {result['rate']:g}/s, {result['max_tokens']} tokens each, "
             f"cache buckets {result['cache_lengths']}, ready after {result['ready_s']:.0f} s", "",
             "| figure | value |", "|---|---|"]
    rows = [("completed / errors", f"{load['completed']} / {load['errors']}"),
            ("output tokens/s", f"{load['output_throughput']:.1f}"),
            ("requests/s", f"{load['request_throughput']:.2f}")]
    for name in ("ttft", "tpot", "itl", "e2e"):
        rows.append((f"{name.upper()} p50 / p95 / p99 ms",
                     " / ".join(f"{load[f'{name}_p{p}_ms']:.1f}" for p in (50, 95, 99))))
    rows += [("recompiles under load", str(result["recompiles"])),
             ("CUDA-graph re-recordings under load", str(result["cudagraph_rerecords"]))]
    lines += [f"| {a} | {b} |" for a, b in rows]
    bench = result.get("bench")
    if bench:
        said = bench["error"] or "; ".join(bench["problems"]) or \
            (f"{bench['tok_s']:.1f} tok/s (prompt {bench['prompt_len']}, {bench['new_tokens']} new tokens, compile "
             f"{bench['compile_s']:.0f} s, {bench['cudagraphs_recorded']} CUDA graphs, tokens vs eager: "
             f"{bench['tokens_vs_eager']})")
        lines += ["", f"Single stream (gpu-bench, batch 1): {said}"]
    if load["error_reasons"]:
        lines += ["", *(f"- {n} x {reason}" for reason, n in load["error_reasons"].items())]
    return "\n".join(lines) + "\n"


def job(args: argparse.Namespace) -> int:
    from ragperf.models.generation import length_buckets
    from ragperf.serve.generate import GenerateConfig, check_mode
    from ragperf.serve.launcher import serving
    from ragperf.serve.open_loop import generate_request, run_open_loop, summarize

    check_mode(args.mode)
    config = GenerateConfig(args.decoder, args.mode, backend=args.backend, max_tokens=args.max_tokens,
                            device=args.device, context=args.context)
    started = time.perf_counter()
    with serving(config) as server:
        ready_s = time.perf_counter() - started
        health = json.loads(_get(f"{server.url}/health"))
        buckets = tuple(health["cache_lengths"]) or length_buckets(health["context"])
        prompts = prompts_over(buckets, args.max_tokens)
        print(f"ready after {ready_s:.0f} s; buckets {list(buckets)}; {args.requests} requests at {args.rate:g}/s",
              flush=True)
        records, duration = run_open_loop(generate_request(server.url, prompts, args.max_tokens), args.rate,
                                          args.requests, max_seconds=args.seconds)
        (worker,) = server.workers()
    result = {"decoder": args.decoder, "mode": args.mode, "device": args.device, "device_name": _device_name(args),
              "rate": args.rate, "requests": args.requests, "max_tokens": args.max_tokens,
              "cache_lengths": list(buckets), "prompt_tokens": sorted({len(p) + 1 for p in prompts}),
              "ready_s": ready_s, "load": summarize(records, duration, rate=args.rate),
              "recompiles": worker["recompiles"], "cudagraph_rerecords": worker["cudagraph_rerecords"],
              "worker": worker, "bench": bench_figure(args.bench_json, args.decoder, args.mode)}
    table = markdown(result)
    print(table, flush=True)
    if args.json:
        write_atomic(args.json, lambda f: f.write(json.dumps(result, indent=1, default=str) + "\n"))
    if args.markdown:
        write_atomic(args.markdown, lambda f: f.write(table))
    clean = not result["load"]["errors"] and not result["recompiles"] and not result["cudagraph_rerecords"]
    return 0 if clean else 1


def _device_name(args) -> str:
    import torch

    return torch.cuda.get_device_name() if args.device == "cuda" else "cpu"


def _get(url: str) -> str:
    import httpx

    return httpx.get(url, trust_env=False, timeout=60).text
