"""One cold start of a ladder rung in this (fresh) process, by one start path.

``python -m ragperf.jobs.coldstart --model M --variant V --path P --artifacts DIR`` prints one JSON
line; run it with its own ``TORCHINDUCTOR_CACHE_DIR`` (:mod:`ragperf.jobs.coldstart_matrix` does).

Start paths (``--path``):

==============  ====================================================================================
``cold``        compile with an empty cache dir; then write the Mega-Cache of this process to DIR
``warm``        compile with the cache dir a ``cold`` process left behind
``megacache``   an empty cache dir, ``load_cache_artifacts`` of the ``cold`` process's Mega-Cache, compile
``package``     (not a start) ``torch.export`` + ``aoti_compile_and_package`` into DIR
``aoti``        an empty cache dir, ``aoti_load_package`` of the package; no JIT compile at all
==============  ====================================================================================

The first call is timed from a loaded embedder to the first embedding, artifact loading included.
Then the started model is timed interleaved against eager in this process and judged against eager
and fp64 (the fp64-anchored verdict). A bad artifact falls back to compiling, and says so.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PATHS = ("cold", "warm", "megacache", "aoti")  # start paths, in the order they are run
STEPS = ("cold", "warm", "megacache", "package", "aoti")


def start(model: str, variant: str, path: str, artifacts: Path, *, rounds: int = 30, device: str = "cpu",
          backend: str = "inductor") -> dict:
    """Start ``variant`` of ``model`` by ``path`` and measure it (see the module docstring)."""
    import torch

    from ragperf.compile import artifacts as carried
    from ragperf.compile.probe import CompileProbe
    from ragperf.models.embedders import load_embedder
    from ragperf.models.ladder import BLOG_SENTENCES, build_variant

    embedder = load_embedder(model, device=device)
    batch = embedder.tokenize(BLOG_SENTENCES)
    if path == "package":
        begin = time.perf_counter()
        package = carried.package_aoti(embedder, variant, batch, artifacts / carried.AOTI)
        return {"model": model, "variant": variant, "path": path, "package_s": time.perf_counter() - begin,
                "bytes": package.stat().st_size}
    eager = build_variant(embedder, "eager")
    out: dict = {"model": model, "variant": variant, "path": path, "backend": backend, "torch": torch.__version__,
                 "fallback": None, "megacache_entries": 0}
    with CompileProbe() as probe:
        begin = time.perf_counter()
        if path == "aoti":
            started, out["fallback"] = carried.load_aoti(artifacts / carried.AOTI, embedder, variant, backend)
        else:
            if path == "megacache":
                out["megacache_entries"], out["fallback"] = carried.load_megacache(artifacts / carried.MEGACACHE,
                                                                                   device)
            started = build_variant(embedder, variant, backend=backend)
        started(batch)
        out["first_call_s"] = time.perf_counter() - begin
    out.update(graphs=probe.report.graphs, cache=probe.report.cache, compile_s=probe.report.dynamo_s +
               probe.report.backend_s)
    if path == "cold":
        out["megacache_entries"] = carried.save_megacache(artifacts / carried.MEGACACHE, device)
    out.update(_steady(embedder, eager, started, batch, rounds, device))
    return out


def _steady(embedder, eager, started, batch, rounds: int, device: str) -> dict:
    """Interleaved timing against eager in this process, and the parity verdict."""
    import torch

    from ragperf.numerics.parity import embed_fp64
    from ragperf.numerics.tolerances import lookup
    from ragperf.numerics.verdicts import judge
    from ragperf.perf import timing

    comparison = timing.compare(lambda: eager(batch), lambda: started(batch), rounds, device=torch.device(device))
    verdict = judge(eager(batch), started(batch), embed_fp64(embedder, batch), lookup(device, "float32", "off"),
                    eager_again=eager(batch), cosine=True, name=f"{embedder.name} cold start")
    figures = comparison.figures()
    return {"median_s": figures["median_s"], "eager_median_s": figures["eager_median_s"],
            "speedup": figures["speedup"], "speedup_low": figures["speedup_low"],
            "speedup_high": figures["speedup_high"], "recompiles_while_timed": figures["recompiles_while_timed"],
            "parity": {"passed": verdict.passed, "status": verdict.status, "max_abs": verdict.max_abs,
                       "message": verdict.message()}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ragperf.jobs.coldstart")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--variant", default="compile")
    parser.add_argument("--path", required=True, choices=STEPS)
    parser.add_argument("--artifacts", type=Path, required=True, help="folder of the carried artifacts")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="inductor")
    args = parser.parse_args()
    print(json.dumps(start(args.model, args.variant, args.path, args.artifacts, rounds=args.rounds,
                           device=args.device, backend=args.backend)))


if __name__ == "__main__":
    main()
