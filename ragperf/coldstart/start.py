"""One cold start of a compiled model in this (fresh) process, by one start path.

Job ``coldstart`` (``python -m ragperf.jobs coldstart --model M --variant V --path P --artifacts DIR``) prints
one JSON line; run it with its own ``TORCHINDUCTOR_CACHE_DIR`` (:mod:`ragperf.coldstart.matrix` does).
``--kind embedder`` (default): ``V`` is a ladder rung of embedder ``M``; ``--kind decoder``: ``V`` is a
decode mode of decoder ``M`` (:mod:`ragperf.coldstart.decode`). Both share everything below.

Start paths (``--path``):

==============  ====================================================================================
``cold``        compile with an empty cache dir; then write the Mega-Cache of this process to DIR
``warm``        compile with the cache dir a ``cold`` process left behind
``megacache``   an empty cache dir, ``load_cache_artifacts`` of the ``cold`` process's Mega-Cache, compile
``package``     (not a start) ``torch.export`` + ``aoti_compile_and_package`` into DIR
``aoti``        an empty cache dir, ``aoti_load_package`` of the package; no JIT compile at all
==============  ====================================================================================

The first call is timed from a loaded model to its first output (an embedding; a generation),
artifact loading included (:func:`ragperf.perf.compile_time.first_call`). Then the started model is timed interleaved against eager in this
process and judged against eager. A bad artifact falls back to compiling, and says so.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ragperf import jobargs

PATHS = ("cold", "warm", "megacache", "aoti")  # start paths, in the order they are run
STEPS = ("cold", "warm", "megacache", "package", "aoti")
KINDS = ("embedder", "decoder")


class EmbedderStart:
    """A ladder rung of an embedder, on the blog's batch; parity is the fp64-anchored verdict."""

    def __init__(self, model: str, variant: str, device: str, backend: str):
        from ragperf.models.embedders import load_embedder
        from ragperf.models.ladder import BLOG_SENTENCES

        self.variant, self.device, self.backend = variant, device, backend
        self.embedder = load_embedder(model, device=device)
        self.batch = self.embedder.tokenize(BLOG_SENTENCES)

    def package(self, artifacts: Path) -> dict:
        from ragperf.coldstart import artifacts as carried

        return {"bytes": carried.package_aoti(self.embedder, self.variant, self.batch,
                                              artifacts / carried.AOTI).stat().st_size}

    def jit(self):
        from ragperf.models.ladder import build_variant

        return build_variant(self.embedder, self.variant, backend=self.backend)

    def from_aoti(self, artifacts: Path):
        from ragperf.coldstart import artifacts as carried

        return carried.load_aoti(artifacts / carried.AOTI, self.embedder, self.variant, self.backend)

    def first_call(self, started) -> None:
        started(self.batch)

    def steady(self, started, rounds: int) -> dict:
        """Interleaved timing against eager in this process, and the parity verdict."""
        import torch

        from ragperf.models.ladder import build_variant
        from ragperf.numerics.parity import embed_fp64
        from ragperf.numerics.tolerances import lookup
        from ragperf.numerics.verdicts import judge
        from ragperf.perf import timing

        eager, batch = build_variant(self.embedder, "eager"), self.batch
        comparison = timing.compare(lambda: eager(batch), lambda: started(batch), rounds,
                                    device=torch.device(self.device))
        verdict = judge(eager(batch), started(batch), embed_fp64(self.embedder, batch),
                        lookup(self.device, "float32", "off"), eager_again=eager(batch), cosine=True,
                        name=f"{self.embedder.name} cold start")
        figures = comparison.figures()
        return {**{k: figures[k] for k in ("median_s", "eager_median_s", "speedup", "speedup_low", "speedup_high",
                                           "recompiles_while_timed")},
                "parity": {"passed": verdict.passed, "status": verdict.status, "max_abs": verdict.max_abs,
                           "message": verdict.message()}}


def subject(kind: str, model: str, variant: str, device: str = "cpu", backend: str = "inductor"):
    """The thing a start starts: an :class:`EmbedderStart` or a decoder's
    :class:`~ragperf.coldstart.decode.DecoderStart`."""
    if kind == "decoder":
        from ragperf.coldstart.decode import DecoderStart

        return DecoderStart(model, variant, device, backend)
    return EmbedderStart(model, variant, device, backend)


def start(model: str, variant: str, path: str, artifacts: Path, *, rounds: int = 30, device: str = "cpu",
          backend: str = "inductor", kind: str = "embedder") -> dict:
    """Start ``variant`` of ``model`` by ``path`` and measure it (see the module docstring)."""
    import torch

    from ragperf.coldstart import artifacts as carried
    from ragperf.compile.probe import CompileProbe
    from ragperf.perf.compile_time import first_call

    thing = subject(kind, model, variant, device, backend)
    head = {"kind": kind, "model": model, "variant": variant, "path": path}
    if path == "package":
        begin = time.perf_counter()
        built = thing.package(artifacts)
        return {**head, "package_s": time.perf_counter() - begin, **built}
    out: dict = {**head, "backend": backend, "torch": torch.__version__, "fallback": None, "megacache_entries": 0}
    started: list = [None]  # the started model, once first() has made it

    def first() -> None:
        if path == "aoti":
            started[0], out["fallback"] = thing.from_aoti(artifacts)
        else:
            if path == "megacache":
                out["megacache_entries"], out["fallback"] = carried.load_megacache(artifacts / carried.MEGACACHE,
                                                                                   device)
            started[0] = thing.jit()
        thing.first_call(started[0])

    with CompileProbe() as probe:
        timed = first_call(first)
    out.update(first_call_s=timed["first_call_s"], graphs=probe.report.graphs, cache=probe.report.cache,
               compile_s=timed["dynamo_s"] + timed["backend_s"])
    if path == "cold":
        out["megacache_entries"] = carried.save_megacache(artifacts / carried.MEGACACHE, device)
    out.update(thing.steady(started[0], rounds))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", default="embedder", choices=KINDS, help="what --model is; default %(default)s")
    jobargs.add(parser, model="minilm", variant="compile", rounds=30, device="cpu", backend="inductor")
    parser.add_argument("--path", required=True, choices=STEPS, help="start path (see the module's table)")
    parser.add_argument("--artifacts", type=Path, required=True, help="folder of the carried artifacts")


def job(args: argparse.Namespace) -> dict:
    return start(args.model, args.variant, args.path, args.artifacts, rounds=args.rounds, device=args.device,
                 backend=args.backend, kind=args.kind)
