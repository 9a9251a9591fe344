"""The cold-start matrix: every ladder rung (or decode mode, ``kind="decoder"``) x every start path, each
start in a fresh process with its own Inductor cache dir, all under one temporary folder that is
removed afterwards.

Per rung: ``cold`` (empty dir A; writes the Mega-Cache), ``warm`` (dir A as cold left it),
``megacache`` (empty dir B + the Mega-Cache), ``package`` (dir C: builds the AOTInductor package),
``aoti`` (empty dir D + the package). :func:`rows` turns the results into the report's table, with
each path's steady speed relative to the JIT rung (``cold``) - both measured against the eager in
their own process - and its break-even against eager.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ragperf.coldstart.start import PATHS, STEPS

COMPILED_RUNGS = ("compile", "compile+freeze", "compile+freeze+inference_mode")


def matrix(model: str, variants: Sequence[str] = COMPILED_RUNGS, paths: Sequence[str] = PATHS, *,
           rounds: int = 30, device: str = "cpu", backend: str = "inductor", kind: str = "embedder",
           progress: Callable[[str], None] | None = None, runner: Callable[..., dict] | None = None) -> dict:
    """Run the starts; ``{"model", "kind", "results": {variant: {path: result}}}``. A step that fails is
    recorded as ``{"error": line}`` and the others still run; so is an ``aoti`` start whose package could
    not be built (the package's line). ``runner(args, env)`` runs one start (default: a fresh process)."""
    from ragperf.errors import RagperfError
    from ragperf.subproc import run_job

    if runner is None:
        def runner(args, env):
            return run_job("coldstart", args, env=env, progress=progress)

    steps = [s for s in STEPS if s in paths or (s == "package" and "aoti" in paths)
             or (s == "cold" and {"warm", "megacache"} & set(paths))]
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="ragperf-coldstart-") as root:
        for name in variants:
            work = Path(root) / name.replace("+", "_")
            artifacts = work / "artifacts"
            artifacts.mkdir(parents=True)
            results[name] = {}
            for step in steps:
                cache_dir = work / ("cache-cold" if step in ("cold", "warm") else f"cache-{step}")
                if step == "aoti" and "error" in results[name].get("package", {}):
                    results[name][step] = {"error": f"no AOTInductor package: {results[name]['package']['error']}"}
                    continue
                if progress:
                    progress(f"cold start {name} / {step}: a fresh process, cache dir {cache_dir.name}")
                args = ["--kind", kind, "--model", model, "--variant", name, "--path", step,
                        "--artifacts", str(artifacts),
                        "--rounds", str(rounds), "--device", device, "--backend", backend]
                try:
                    result = runner(args, {"TORCHINDUCTOR_CACHE_DIR": str(cache_dir)})
                except RagperfError as exc:
                    result = {"error": str(exc)}
                if step == "cold":
                    result["cache_dir_bytes"] = _tree_bytes(cache_dir)
                    megacache = artifacts / "megacache.bin"
                    result["megacache_bytes"] = megacache.stat().st_size if megacache.exists() else 0
                results[name][step] = result
    return {"model": model, "kind": kind, "device": device, "backend": backend, "rounds": rounds, "results": results}


def run_section(model: str, *, quick: bool, device: str = "cpu", backend: str = "inductor",
                progress: Callable[[str], None] | None = None) -> dict:
    """The ``ragperf run`` section: all rungs and paths (``quick``: the unfrozen and the last rung, fewer
    rounds); a non-Inductor backend (tests) runs only what needs no Inductor."""
    variants = ("compile", COMPILED_RUNGS[-1]) if quick else COMPILED_RUNGS
    paths: Sequence[str] = PATHS
    if backend != "inductor":
        variants, paths = ("compile",), ("cold", "warm", "megacache")
    return matrix(model, variants, paths, rounds=10 if quick else 30, device=device, backend=backend,
                  progress=progress)


def decode_section(decoder: str, *, quick: bool, device: str = "cpu", backend: str = "inductor",
                   progress: Callable[[str], None] | None = None) -> dict:
    """The decode-mode matrix of ``ragperf run``: the default decode modes (``quick``: compile-decode and the
    static-cache mode, fewer rounds); a non-Inductor backend (tests) has no AOTInductor path."""
    from ragperf.coldstart.decode import DEFAULT_MODES

    modes = (DEFAULT_MODES[0], DEFAULT_MODES[-1]) if quick else DEFAULT_MODES
    paths = PATHS if backend == "inductor" else ("cold", "warm", "megacache")
    return matrix(decoder, modes, paths, rounds=10 if quick else 30, device=device, backend=backend,
                  kind="decoder", progress=progress)


def rows(data: dict) -> list[dict]:
    """One row per (rung or decode mode, start path): first call, steady speed (and tokens/s) vs the JIT start,
    parity, artifact size, cache counters, fallback, break-even vs eager (calls; decode: tokens)."""
    out = []
    for name, steps in data["results"].items():
        jit = steps.get("cold", {})
        for path in PATHS:
            r = steps.get(path)
            if r is None:
                continue
            row = {"variant": name, "path": path}
            if "error" in r:
                out.append({**row, "error": r["error"]})
                continue
            vs_jit = r["speedup"] / jit["speedup"] if jit.get("speedup") else float("nan")
            if data.get("kind") == "decoder":  # tok/s vs JIT itself: eager's decode step swings too much between processes
                vs_jit = jit["median_s"] / r["median_s"] if jit.get("median_s") else float("nan")
            out.append({**row, "first_call_s": r["first_call_s"], "steady_ms": r["median_s"] * 1e3,
                        "vs_eager": r["speedup"], "vs_jit": vs_jit, "parity": _parity(r),
                        "artifact_bytes": _artifact_bytes(path, steps), "cache": r["cache"], "graphs": r["graphs"],
                        "fallback": r.get("fallback"), "break_even_calls": break_even(r),
                        "package_s": steps.get("package", {}).get("package_s") if path == "aoti" else None,
                        "tok_s": r.get("tok_s")})
    return out


def break_even(result: dict) -> float:
    """Calls after which this start (first call + steady calls) has cost less than eager; inf if never."""
    saving = result["eager_median_s"] - result["median_s"]
    if saving <= 0:
        return math.inf
    return max(0.0, (result["first_call_s"] - result["eager_median_s"]) / saving)


def _artifact_bytes(path: str, steps: dict) -> int | None:
    cold = steps.get("cold", {})
    if path == "warm":
        return cold.get("cache_dir_bytes")
    if path == "megacache":
        return cold.get("megacache_bytes")
    if path == "aoti":
        return steps.get("package", {}).get("bytes")
    return None


def _parity(result: dict) -> str:
    parity = result["parity"]
    return f"{'PASS' if parity['passed'] else 'FAIL'} ({parity['status']}, max abs {parity['max_abs']:.2g})"


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
