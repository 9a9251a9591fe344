"""The "cold start" section: the matrix as report blocks (see :mod:`ragperf.jobs.report`)."""

from __future__ import annotations

import math

from ragperf.coldstart.matrix import rows
from ragperf.perf.machine_state import describe, flag_line

HEADERS = ["rung", "start path", "first call (s)", "steady (ms)", "vs eager", "vs JIT", "break-even (calls)",
           "parity", "artifact", "FX cache hit/miss/bypass", "AOTAutograd hit/miss/bypass", "note"]
PATH_NAMES = {"cold": "empty cache", "warm": "warm local cache", "megacache": "Mega-Cache, fresh dir",
              "aoti": "AOTInductor package"}


DECODE_HEADERS = ["decode mode", "start path", "first call (s)", "tok/s", "vs eager", "vs JIT", "break-even (tokens)",
                  "tokens vs eager", *HEADERS[8:]]


def blocks(data: dict) -> list[tuple]:
    decode = data.get("kind") == "decoder"
    table = []
    for r in rows(data):
        if "error" in r:
            table.append([r["variant"], PATH_NAMES[r["path"]], "", "", "", "", "", "", "", "", "",
                          r["error"][:240] if r["error"].startswith("no AOTInductor package")
                          else f"FAILED: {r['error'][:160]}"])
            continue
        c = r["cache"]
        note = r["fallback"] or (f"package built in {r['package_s']:.1f} s" if r.get("package_s") else "")
        table.append([r["variant"], PATH_NAMES[r["path"]], f"{r['first_call_s']:.1f}",
                      f"{r['tok_s']:.0f}" if decode else f"{r['steady_ms']:.2f}",
                      f"{r['vs_eager']:.2f}x", f"{r['vs_jit']:.2f}x", _calls(r["break_even_calls"]), r["parity"],
                      _size(r["artifact_bytes"]),
                      f"{c.get('fxgraph_hit', 0)}/{c.get('fxgraph_miss', 0)}/{c.get('fxgraph_bypass', 0)}",
                      f"{c.get('autograd_hit', 0)}/{c.get('autograd_miss', 0)}/{c.get('autograd_bypass', 0)}", note])
    intro = (f"`{data['model']}`, a batch of 2 short sentences, backend `{data['backend']}`. Every start is a fresh "
             "process with its own Inductor cache dir: *empty cache*; *warm local cache* = the dir the empty-cache "
             "process left; *Mega-Cache* = `save_cache_artifacts()` of the empty-cache process, loaded into an empty "
             "dir; *AOTInductor* = `torch.export` + `aoti_compile_and_package`, loaded with `aoti_load_package`. "
             "First call = artifact load + first embedding. *vs JIT* = this start's speedup over its in-process eager "
             "divided by the empty-cache start's; break-even = calls until first call + steady calls cost less "
             "than eager. Timings from one run on a shared machine are noisy.")
    if decode:
        intro = (f"`{data['model']}` decode modes, batch 1, a 32-token prompt and 16 new tokens, backend "
                 f"`{data['backend']}`; the same four start paths, each a fresh process. First call = artifact load + "
                 "the first generation (where a decode mode compiles). tok/s = 1 / the median decode step, timed "
                 "interleaved against eager with the same kind of KV cache; *vs JIT* = tok/s over the empty-cache start's "
                 "(directly: eager's decode step swings too much between processes to divide by). *AOTInductor* = the static-cache decode step exported with the cache "
                 "tensors as inputs it writes in place, prefill eager; a dynamic-cache mode has no fixed-shape step "
                 "and its row says what torch said. Tokens vs eager: equal, or a near-tie at the first differing "
                 "step (the decoder parity rule). Timings from one run on a shared machine are noisy.")
    out = [("p", intro), ("table", DECODE_HEADERS if decode else HEADERS, table)]
    if flag_line(data.get("machine")):  # `ragperf coldstart`'s own watch (in `ragperf run`, the section's)
        out.insert(0, ("p", f"**{flag_line(data['machine'])}** ({describe(data['machine'])})"))
    return out


def _calls(n: float) -> str:
    return "never" if math.isinf(n) else f"{n:.0f}"


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"
