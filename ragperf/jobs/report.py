"""The ``ragperf run`` report: one dict, written as JSON and rendered as Markdown or terminal text.

A report holds the machine fingerprint, the options, and one entry per section::

    {"status": "ok" | "failed" | "not available" | "skipped", "seconds": float,
     "data": {...}, "error": "one line"}

Each section's renderer turns its data into blocks (paragraphs and tables); :func:`markdown`
(fits a GitHub job summary) and :func:`text` (the terminal) render the same blocks.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from pathlib import Path

from ragperf.files import write_atomic
from ragperf.jobs.decode import break_even_tokens, format_tokens
from ragperf.jobs.decode_rates import rate_table
from ragperf.perf.machine_state import describe, flag_line, mark

SECTIONS = {
    "embed": "Embedding ladder",
    "compile_cost": "Compile cost",
    "coldstart": "Cold start: carried caches and AOTInductor packages",
    "coldstart_decode": "Cold start of the decode modes",
    "rag": "RAG: index build, query latency, recall@5",
    "decode": "Decoding (the overhead paper's Table 1)",
    "serve": "Serving: the RAG endpoint under load (the TorchServe seed)",
    "compile_summary": "Recompiles and parity",
}
Block = tuple  # ("p", text), ("md", preformatted markdown) or ("table", headers, rows)


def new_report(options: dict) -> dict:
    from ragperf import __version__

    return {"ragperf": __version__, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "options": options, "fingerprint": machine_fingerprint(), "sections": {}, "plots": []}


def machine_fingerprint() -> dict:
    """``ragperf.perf.machine.fingerprint()``; a minimal stand-in if that module is missing or fails."""
    try:
        from ragperf.perf.machine import fingerprint

        return fingerprint()
    except Exception as exc:  # noqa: BLE001 - the report must not die for want of a fingerprint
        import platform

        import torch

        return {"arch": platform.machine(), "python": platform.python_version(), "torch": torch.__version__,
                "error": f"ragperf.perf.machine.fingerprint unavailable: {exc}"}


def write(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir`` (each whole or not at all); returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    write_atomic(json_path, lambda f: f.write(json.dumps(report, indent=1, default=str) + "\n"))
    write_atomic(md_path, lambda f: f.write(markdown(report) + "\n"))
    return json_path, md_path


# ---- rendering ----------------------------------------------------------------------------------

def machine_header(report: dict) -> str:
    """Whether the machine was quiet while the timed sections ran (:func:`ragperf.perf.machine_state.header`)."""
    from ragperf.perf.machine_state import header

    return header({name: s.get("machine") for name, s in report["sections"].items() if "machine" in s})


def markdown(report: dict) -> str:
    lines = [f"# ragperf run - {_machine_line(report)}", "", f"_{machine_header(report)}_", ""]
    for name, section in report["sections"].items():
        lines += [f"## {SECTIONS.get(name, name)}", ""]
        for block in section_blocks(name, section):
            if block[0] in ("p", "md"):
                lines += [block[1], ""]
            else:
                lines += [_md_table(block[1], block[2]), ""]
    if report.get("plots"):
        lines += ["## Plots", ""] + [f"- `{p}`" for p in report["plots"]] + [""]
    return "\n".join(lines).rstrip()


def text(report: dict) -> str:
    lines = [f"ragperf run - {_machine_line(report)}", machine_header(report), ""]
    for name, section in report["sections"].items():
        title = SECTIONS.get(name, name)
        lines += [title, "=" * len(title)]
        for block in section_blocks(name, section):
            if block[0] == "table":
                lines.append(_text_table(block[1], block[2]))
            else:
                lines.append(block[1].replace("**", "").replace("`", "") if block[0] == "p" else block[1])
            lines.append("")
    return "\n".join(lines).rstrip()


def section_blocks(name: str, section: dict) -> list[Block]:
    status = section.get("status", "ok")
    timing = f" ({section['seconds']:.0f} s)" if section.get("seconds") is not None else ""
    if status != "ok":
        return [("p", f"**{status.upper()}**{timing}: {section.get('error', '')}")]
    blocks = RENDERERS.get(name, _generic)(section["data"])
    if flag_line(section.get("machine")):
        blocks = [("p", f"**{flag_line(section['machine'])}** ({describe(section['machine'])})"), *blocks]
    return blocks + [("p", f"_section took {section['seconds']:.0f} s_")] if timing else blocks


def _embed(data: dict) -> list[Block]:
    # Latencies drift between processes on a shared machine; the in-process eager beside each variant
    # is what its improvement is measured against, so both are shown.
    rows = data["rows"]
    eager = sorted(r["eager_median_s"] * 1e3 for r in rows)
    flagged = any(mark(r.get("machine")) for r in rows)
    table = [["eager", f"{eager[len(eager) // 2]:.2f}", f"{eager[0]:.2f}-{eager[-1]:.2f}", "1.00x", "", "", "", ""]
             + [""] * flagged]
    for r in rows:
        table.append([r["variant"], f"{r['median_s'] * 1e3:.2f}", f"{r['eager_median_s'] * 1e3:.2f}",
                      f"{r['speedup']:.2f}x", f"{r['speedup_low']:.2f}-{r['speedup_high']:.2f}x",
                      f"{r['first_call_s']:.1f}", str(r.get("graphs", "")), r.get("parity", {}).get("status", "")]
                     + [mark(r.get("machine"))] * flagged)
    return [("p", f"`{data['model']}`, a batch of 2 short sentences (the blog's benchmark), "
                  f"{data['rounds']} interleaved rounds per variant, each variant in its own process beside "
                  "its own eager. Blog (all-mpnet-base-v2, Graviton3): compile 1.04x, + freezing/prepack 1.69x, "
                  "+ inference_mode 1.70x."),
            ("table", ["optimization level", "latency (ms)", "eager, same process (ms)", "improvement over eager",
                       "95% CI", "first call (s)", "graphs", "parity"] + ["machine"] * flagged, table),
            ("p", f"_Columns of two contexts: latency and first call are absolute, each variant in its own process "
                  f"(eager's row: the median and range over the {len(rows)} processes) - they move with the machine; "
                  "improvement over eager and its CI are timed interleaved with eager in that process - they hold "
                  "under load._")]


def _compile_cost(data: dict) -> list[Block]:
    table = []
    for scenario in ("cold", "warm"):
        r = data.get(scenario)
        if r:
            cache = r["cache"]
            table.append([scenario, f"{r['first_call_s']:.1f}", f"{r['dynamo_s']:.1f}", f"{r['backend_s']:.1f}",
                          f"{r['inductor_s']:.1f}",
                          f"{cache.get('fxgraph_hit', 0)}/{cache.get('fxgraph_miss', 0)}/{cache.get('fxgraph_bypass', 0)}",
                          f"{r['steady_s'] * 1e3:.2f}"])
    blocks = [("p", f"`{data['model']}`, ladder variant `compile`, each scenario in a new process sharing one "
                    "TORCHINDUCTOR_CACHE_DIR: cold = empty dir, warm = the dir cold left behind. "
                    "Frozen variants bypass these caches and are cold every time."),
              ("table", ["cache", "first call (s)", "Dynamo (s)", "backend (s)", "Inductor (s)",
                         "FX graph cache hit/miss/bypass", "steady call (ms)"], table)]
    if data.get("cold") and data.get("warm"):
        saved = data["cold"]["first_call_s"] - data["warm"]["first_call_s"]
        blocks.append(("p", f"A warm cache saves {saved:.1f} s of the first call."))
    return blocks


def _rag(data: dict) -> list[Block]:
    try:
        from ragperf.jobs.rag import rag_table

        return [("p", f"`{data['model']}`, split `{data.get('split')}`, {data.get('rounds')} timed queries per "
                      "variant, each variant in its own process."), ("md", rag_table(data))]
    except (ImportError, KeyError):
        return _generic(data)


def _decode(data: dict) -> list[Block]:
    blocks: list[Block] = [("p", f"Prompt {data['prompt_len']} tokens, {data['new_tokens']} new tokens, greedy, "
                                 "dynamic KV cache (static in static-* and reference-* modes), random weights at the named shapes. "
                                 "Each mode in its own process; "
                                 "every batch size starts from a reset compiler and an empty Inductor cache. "
                                 "Paper (Llama-3.2-1B, CPU): compile pays off only at large batch.")]
    for decoder, jobs in data["decoders"].items():
        table = []
        eager = jobs.get("eager")
        for mode, job in jobs.items():
            if "error" in job:
                table.append([mode, "", "", "", "", "", "", f"FAILED: {job['error']}"])
                continue
            for row in job["rows"]:
                base = _row_for(eager, row["batch_size"]) if eager and "rows" in eager else None
                even = "" if mode == "eager" or base is None else format_tokens(break_even_tokens(base, row))
                roof = row.get("roofline_fraction")
                shown = f"{mode} ({mark(job['machine'])})" if mark(job.get("machine")) else mode
                table.append([shown, str(row["batch_size"]), f"{row['prefill_s']:.2f}", f"{row['first_decode_s']:.2f}",
                              f"{row['rest_decode_s']:.2f}", f"{row['per_token_s'] * 1e3:.2f}",
                              f"{row['total_s']:.2f}", even] + ([f"{roof:.0%}"] if roof is not None else []))
        warmups = {m: j.get("toolchain_warmup_s") for m, j in jobs.items() if j.get("toolchain_warmup_s")}
        blocks.append(("p", f"**{decoder}**"))
        roofline = ["of bandwidth roofline"] if any(len(r) == 9 for r in table) else []
        blocks.append(("table", ["mode", "batch", "prefill (s)", "first decode token (s)", "rest of decode (s)",
                                 "per-token decode (ms)", "total (s)", "break-even (tokens)"] + roofline, table))
        busy = [f"{m}: {flag_line(j['machine'])}" for m, j in jobs.items() if flag_line(j.get("machine"))]
        if busy:
            blocks.append(("p", "Modes measured while the machine was not quiet (every mode's seconds are absolute, "
                                "from its own process): " + "; ".join(busy)))
        rates = rate_table(jobs)
        if rates:
            blocks.append(("table", *rates))
        if warmups:
            blocks.append(("p", "One-time compiler start-up per process, not in the rows: " +
                           ", ".join(f"{m} {s:.1f} s" for m, s in warmups.items())))
    return blocks


def _compile_summary(data: dict) -> list[Block]:
    table = [[r["what"], str(r["graphs"]), str(len(r["recompiles"])), _reasons(r["recompiles"]), r["parity"]]
             for r in data["rows"]]
    return [("table", ["what ran", "graphs", "recompiles", "why (first guard that failed)", "parity"], table)]


def _coldstart(data: dict) -> list[Block]:
    from ragperf.coldstart.report import blocks

    return blocks(data)


def _serve(data: dict) -> list[Block]:
    from ragperf.jobs.serve import serve_table

    blocks = [("p", f"`{data['model']}` behind uvicorn, {data['users']} locust users in a closed loop, {data['rounds']} "
                    f"alternating rounds of {data['seconds']:.0f} s per variant."), ("md", serve_table(data))]
    chain = data.get("chain")
    if chain and "error" in chain:
        blocks.append(("p", f"The RAG -> LLM chain FAILED: {chain['error']}"))
    elif chain:
        from ragperf.jobs.chain import chain_table

        blocks += [("p", f"The chain: top-{chain['k']} from the RAG endpoint, the seed's prompt, {chain['max_tokens']} "
                         f"tokens streamed from `{chain['decoder']}` ({chain['workers']} worker x {chain['threads']} "
                         f"thread(s) per server); open-loop Poisson arrivals at {chain['table_fraction']:.0%} of the "
                         f"eager chain's capacity (~{chain['capacity']:.1f} req/s, from its {chain['service_ms']:.0f} ms "
                         f"service time), latency from each request's scheduled send; goodput under SLO {chain['slo']} "
                         "(ms)."), ("md", chain_table(chain))]
    return blocks


def _generic(data) -> list[Block]:
    return [("p", "```\n" + json.dumps(data, indent=1, default=str)[:3000] + "\n```")]


RENDERERS: dict[str, Callable[[dict], list[Block]]] = {
    "embed": _embed, "compile_cost": _compile_cost, "rag": _rag, "decode": _decode,
    "compile_summary": _compile_summary, "coldstart": _coldstart, "coldstart_decode": _coldstart, "serve": _serve,
}


def compile_summary(sections: dict) -> dict:
    """Graphs, recompile reasons and parity of everything that ran, from the embed and decode sections."""
    rows = []
    embed = sections.get("embed", {})
    if embed.get("status") == "ok":
        for r in embed["data"]["rows"]:
            rows.append({"what": f"ladder {r['variant']}", "graphs": r.get("graphs", 0),
                         "recompiles": [x["reason"] for x in r.get("probe", {}).get("recompile_list", [])],
                         "parity": _embed_parity(r)})
    decode = sections.get("decode", {})
    if decode.get("status") == "ok":
        for decoder, jobs in decode["data"]["decoders"].items():
            eager = jobs.get("eager", {})
            for mode, job in jobs.items():
                if mode == "eager" or "rows" not in job:
                    continue
                for row in job["rows"]:
                    base = _row_for(eager, row["batch_size"]) if "rows" in eager else None
                    parity = "no eager run" if base is None else (
                        "same greedy tokens as eager" if row["tokens"] == base["tokens"] else
                        f"DIFFERS from eager from token {_first_diff(row['tokens'], base['tokens'])}")
                    rows.append({"what": f"{decoder} {mode} bs={row['batch_size']}", "graphs": row["graphs"],
                                 "recompiles": row["recompile_reasons"], "parity": parity})
    return {"rows": rows}


def _embed_parity(row: dict) -> str:
    parity = row.get("parity")
    if not parity:
        return "not judged"
    verdict = "PASS" if parity["passed"] else "FAIL"
    return f"{verdict} vs fp64 ({parity['status']}, max abs diff to eager {parity['max_abs']:.2g})"


def _reasons(reasons: list[str]) -> str:
    if not reasons:
        return ""
    from ragperf.compile.probe import Recompile

    unique = list(dict.fromkeys(reasons))
    shown = [f"[{Recompile(r).kind}] {r.splitlines()[0][:110]}" for r in unique[:3]]
    return "; ".join(shown) + (f"; +{len(unique) - 3} more" if len(unique) > 3 else "")


def _first_diff(a: list, b: list) -> int:
    flat = [(i, j) for ra, rb in zip(a, b, strict=False) for i, (j, k) in enumerate(zip(ra, rb, strict=False)) if j != k]
    return flat[0][0] if flat else -1


def _row_for(job: dict, batch_size: int) -> dict | None:
    return next((r for r in job.get("rows", []) if r["batch_size"] == batch_size), None)


def _machine_line(report: dict) -> str:
    f = report.get("fingerprint", {})
    parts = [f.get("cpu_model") or f.get("arch"), f"{f.get('cpu_count')} CPUs" if f.get("cpu_count") else None,
             f"torch {f.get('torch')}" if f.get("torch") else None, f.get("gpu")]
    return ", ".join(str(p) for p in parts if p)


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([line.format(*headers), line.format(*("-" * w for w in widths)),
                      *[line.format(*map(str, row)) for row in rows]]).rstrip()
