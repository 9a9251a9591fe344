"""The seed's whole system under open-loop load: RAG endpoint -> LLM endpoint, eager vs compiled, a rate sweep.

Each row pairs an embedder rung with a decode mode (``eager`` x ``eager``, ``compile`` x
``compile-prefill-decode``): its own RAG server and LLM server, all warmed before any load. The eager
row's service time (median end-to-end of a few requests sent one at a time) sets the offered loads,
:data:`LOAD_FRACTIONS` of its capacity, the same for every row; at each rate every row gets one
open-loop run (:mod:`ragperf.serve.open_loop`), rows in rotating order. The chain table is the run at
:data:`TABLE_FRACTION` of capacity: TTFT, TPOT, e2e p50/p99, goodput under the SLO, errors, recompiles,
each stage's share of e2e (:mod:`ragperf.serve.chain`); the sweep gives the latency-vs-load plot.
"""

from __future__ import annotations

import math
import statistics

ROWS = (("eager", "eager"), ("compile", "compile-prefill-decode"))
LOAD_FRACTIONS = {"quick": (0.25, 0.75, 1.25), "full": (0.25, 0.5, 0.75, 1.0, 1.25)}
TABLE_FRACTION = 0.75
DEFAULT_SLO = "ttft:250,tpot:25,e2e:1000"
RUN_SECONDS = 3.0  # each open-loop run sends about this many seconds of arrivals
MAX_RUN_REQUESTS = 60
CALIBRATION_REQUESTS = 5


def llm_configs(decoder: str, backend: str, max_tokens: int, threads: int = 1) -> list:
    from ragperf.serve.generate import GenerateConfig

    return [GenerateConfig(decoder, mode, 1, threads, backend, max_tokens) for _, mode in ROWS]


def measure_chain(rag: dict, llm: dict, *, k: int = 3, max_tokens: int = 32, slo: str = DEFAULT_SLO,
                  size: str = "full", progress=None) -> dict:
    """``rag``: embedder rung -> its running RAG server; ``llm``: decode mode -> its running LLM server
    (keys as :data:`ROWS`). Returns the calibration, one sweep point per (row, rate), the table rows."""
    from ragperf.rag.corpus import load_known_answers
    from ragperf.serve.open_loop import parse_slo

    say = progress or (lambda line: None)
    limits = parse_slo(slo)
    questions = [q.question for q in load_known_answers().questions]
    names = [f"{rung} x {mode}" for rung, mode in ROWS]
    request = {name: _request(rag[rung], llm[mode], questions, k, max_tokens)
               for name, (rung, mode) in zip(names, ROWS, strict=True)}
    service_s = _service_time(request[names[0]])
    capacity = 1 / service_s
    say(f"chain: {names[0]} serves one request in {service_s * 1e3:.0f} ms (capacity ~{capacity:.1f} req/s)")
    sweep = []
    for i, fraction in enumerate(LOAD_FRACTIONS[size]):
        rate = fraction * capacity
        for name in names[i % len(names):] + names[:i % len(names)]:
            point = _run(request[name], rate, limits)
            point.update(row=name, load_fraction=fraction)
            sweep.append(point)
        say(f"chain: {rate:.1f} req/s offered: " + ", ".join(
            f"{p['row']} e2e p99 {p['e2e_p99_ms']:.0f} ms" for p in sweep[-len(names):]))
    table = []
    for name, (rung, mode) in zip(names, ROWS, strict=True):
        point = _run(request[name], TABLE_FRACTION * capacity, limits)
        point.update(row=name, rung=rung, mode=mode, recompiles=rag[rung].recompiles() + llm[mode].recompiles())
        table.append(point)
    return {"k": k, "max_tokens": max_tokens, "slo": slo, "service_ms": service_s * 1e3, "capacity": capacity,
            "table_fraction": TABLE_FRACTION, "sweep": sweep, "rows": table}


def _request(rag, llm, questions: list[str], k: int, max_tokens: int):
    from ragperf.serve.chain import chain_request, llm_limits

    return chain_request(rag.url, llm.url, questions, k, max_tokens, llm_limits(llm.url)["context"])


def _service_time(request) -> float:
    """Median end-to-end seconds of requests sent one at a time (no queueing)."""
    from ragperf.errors import RagperfError
    from ragperf.serve.open_loop import run_open_loop

    seconds = []
    for _ in range(CALIBRATION_REQUESTS):
        (record,), _ = run_open_loop(request, math.inf, 1, max_seconds=120)
        if record.error:
            raise RagperfError(f"the chain failed before any load: {record.error}")
        seconds.append(record.end_s)
    return statistics.median(seconds)


def _run(request, rate: float, limits: dict) -> dict:
    from ragperf.serve.chain import stage_shares
    from ragperf.serve.open_loop import run_open_loop, summarize

    requests = max(CALIBRATION_REQUESTS, min(MAX_RUN_REQUESTS, round(rate * RUN_SECONDS)))
    records, duration = run_open_loop(request, rate, requests, max_seconds=RUN_SECONDS + 60)
    return {**summarize(records, duration, limits, rate), "stages": stage_shares(records)}


def chain_table(result: dict) -> str:
    """Markdown table of the chain at the table's offered load."""
    lines = ["| embedder x decoder | offered req/s | req/s | TTFT p50 ms | TPOT p50 ms | e2e p50 ms | e2e p99 ms | "
             "goodput req/s | errors | recompiles | retrieve / prefill / decode share |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        shares = " / ".join(f"{100 * r['stages'].get(s, {}).get('share', math.nan):.0f}%"
                            for s in ("retrieve", "prefill", "decode"))
        lines.append(f"| {r['row']} | {r['offered_rate']:.1f} | {r['request_throughput']:.1f} | "
                     f"{r['ttft_p50_ms']:.0f} | {r['tpot_p50_ms']:.1f} | {r['e2e_p50_ms']:.0f} | {r['e2e_p99_ms']:.0f} | "
                     f"{r['goodput']:.1f} ({r['good']}/{r['requests']}) | {r['errors']} | {r['recompiles']} | {shares} |")
    return "\n".join(lines)
