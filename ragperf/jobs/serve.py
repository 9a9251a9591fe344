"""The TorchServe seed's table: endpoint req/s, eager vs compiled variants, per workers x threads layout.

For each layout (W workers x T threads) one server per variant is started, all at once (each worker
process latched to its variant; they load and compile side by side), all warmed before any load; then
``rounds`` rounds of locust load run against them in alternating order, so a load burst on the shared
box hits every variant alike. The ratio compiled/eager req/s comes from the paired rounds with a
bootstrap interval (:func:`ragperf.perf.timing.speedup` over seconds per request); recompiles under load
come from the workers (``fail_on_recompile``). A worker that dies during a round is listed in its row
(``workers_died``, its failed requests among the errors) once uvicorn has replaced it; one not replaced
fails the run with the reason.

With ``chain`` (``{"decoder", "max_tokens", "slo", "size"}``), the last layout's servers get an LLM server
per decode mode of :data:`ragperf.jobs.chain.ROWS` started beside them, and once their locust rounds are
done the RAG -> LLM chain is measured on them under open-loop load (:func:`ragperf.jobs.chain.measure_chain`):
the RAG servers already up are reused, which keeps the section inside its time budget.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

DEFAULT_LAYOUTS = ((2, 1), (1, 2))
DEFAULT_VARIANTS = ("eager", "compile", "compile+freeze+inference_mode")


def measure_serve(model: str = "minilm", layouts=DEFAULT_LAYOUTS, variants=DEFAULT_VARIANTS, rounds: int = 3,
                  seconds: float = 5.0, users: int = 4, backend: str = "inductor", progress=None,
                  chain: dict | None = None) -> dict:
    """Rows per (layout, variant): median req/s, p50/p90/p99 ms, errors, recompiles, ratio over eager; with
    ``chain``, the chain's result under ``"chain"``."""
    from ragperf.jobs import chain as chains
    from ragperf.serve.launcher import serving_all
    from ragperf.serve.retriever import ServeConfig, build_index_dir

    say = progress or (lambda line: None)
    with tempfile.TemporaryDirectory(prefix="ragperf-serve-index-") as tmp:
        say(f"serve: indexing the corpus with {model} (eager, once)")
        index = str(build_index_dir(model, Path(tmp) / "index"))
        rows, chained = [], None
        if chain is not None:
            missing = {rung for rung, _ in chains.ROWS} - set(variants)
            if missing:
                from ragperf.errors import RagperfError

                raise RagperfError(f"the chain needs the embedder rungs {sorted(missing)} among the variants")
        for n, (workers, threads) in enumerate(layouts):
            last = chain is not None and n == len(layouts) - 1
            llm = chains.llm_configs(chain["decoder"], backend, chain["max_tokens"], threads) if last else []
            say(f"serve: {workers} worker(s) x {threads} thread(s): starting {', '.join(variants)} side by side "
                + ("(each worker loads, compiles and warms)" if not last else
                   f"with {chain['decoder']} {', '.join(c.mode for c in llm)} for the chain"))
            # One layout at a time: on 2 cores all 6 servers at once were ready after 71 s (9 workers, some
            # with 2 threads, for 2 cores), one layout at a time after 39 + 25 s.
            configs = [ServeConfig(model, name, index, workers, threads, backend) for name in variants]
            with serving_all(configs + llm) as started:
                rag = dict(zip(variants, started, strict=False))
                rows += _measure_layout(rag, (workers, threads), rounds, seconds, users, say)
                if last:
                    say("serve: the RAG -> LLM chain under open-loop load, eager vs compiled")
                    try:
                        chained = chains.measure_chain(
                            rag, {c.mode: s for c, s in zip(llm, started[len(configs):], strict=True)},
                            max_tokens=chain["max_tokens"], slo=chain["slo"], size=chain["size"], progress=say)
                    except Exception as exc:  # noqa: BLE001 - the seed's table above stands; the chain says why
                        say(f"serve: the chain FAILED - {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}")
                        chained = {"error": f"{type(exc).__name__}: {exc}"}
                    chained.update(decoder=chain["decoder"], workers=workers, threads=threads)
    result = {"model": model, "rounds": rounds, "seconds": seconds, "users": users, "rows": rows}
    return {**result, "chain": chained} if chained is not None else result


def _measure_layout(servers: dict, layout: tuple[int, int], rounds: int, seconds: float, users: int,
                    say) -> list[dict]:
    """``rounds`` rounds of load over ``servers`` (variant -> server; the first is the ratios' reference),
    the variants in rotating order; one row per variant."""
    from ragperf.perf.timing import Samples, speedup
    from ragperf.serve.load import run_load

    workers, threads = layout
    variants = list(servers)
    runs: dict[str, list] = {name: [] for name in variants}
    died: dict[str, list] = {name: [] for name in variants}
    for r in range(rounds):
        for name in variants[r % len(variants):] + variants[:r % len(variants)]:
            runs[name].append(run_load(servers[name].url, users, seconds))
            died[name] += servers[name].recover()  # replaced, or RagperfError with the reason
        say(f"serve: {workers}x{threads} round {r + 1}/{rounds}: "
            + ", ".join(f"{n} {runs[n][-1].rps:.1f} req/s" for n in variants))
    per_request = {n: Samples(n, [1 / max(x.rps, 1e-9) for x in runs[n]]) for n in variants}
    rows = []
    for name in variants:
        ratio = speedup(per_request[variants[0]], per_request[name])
        last = runs[name]
        rows.append({
            "workers": workers, "threads": threads, "variant": name, "users": users,
            "rps": sorted(x.rps for x in last)[len(last) // 2], "rps_runs": [x.rps for x in last],
            "p50_ms": max(x.p50_ms for x in last), "p90_ms": max(x.p90_ms for x in last),
            "p99_ms": max(x.p99_ms for x in last), "requests": sum(x.requests for x in last),
            "errors": sum(x.failures for x in last), "recompiles": servers[name].recompiles(),
            "workers_died": died[name],
            "ratio": ratio.ratio, "ratio_low": ratio.low, "ratio_high": ratio.high, "ratio_se": ratio.se,
        })
    return rows


def serve_table(result: dict) -> str:
    """Markdown table of :func:`measure_serve`'s result."""
    lines = ["| workers x threads | variant | req/s | vs eager | 95% CI | p50 ms | p99 ms | errors | recompiles |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['workers']} x {r['threads']} | {r['variant']} | {r['rps']:.1f} | {r['ratio']:.2f}x | "
                     f"{r['ratio_low']:.2f}-{r['ratio_high']:.2f}x | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                     f"{r['errors']} / {r['requests']} | {r['recompiles']} |")
    return "\n".join(lines)
