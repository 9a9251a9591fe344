"""Compile ahead for the batch sizes you serve (vLLM's advice), and prove serving them never recompiles.

:func:`parse_sizes` reads a list of sizes (``--ragperf-compile-sizes``, ``--ragperf-decode-sizes``, the GPU
bench's ``--sizes``); :func:`check_recompile_room` refuses more sizes than Dynamo will compile graphs for.

**Embedders** - two strategies over a ladder rung's compiled transformer:

- ``per-size``: static shapes, one graph per listed size (each compiled by one warm-up call). An
  unlisted size is a new static shape: a recompile (and one more graph) at serving time.
- ``bounded``: ``mark_dynamic(batch, min, max)`` over the listed sizes >= 2 - one graph for the whole
  range; size 1 gets its own graph (0/1 specialization holds even with ``mark_dynamic``). An unlisted
  size inside the bounds is served by the dynamic graph; one outside them recompiles.

:func:`compile_for_sizes` compiles and times it; :func:`serve` runs the listed sizes inside
:func:`ragperf.compile.probe.steady_state` (any recompile raises); :func:`try_unlisted` reports what
one unlisted size does.

**Decoders** - decode compiled and captured ahead for every size, then timed without a recompile::

    ahead = compile_ahead(build_generator(decoder, "static-cudagraphs"), decoder, (1, 2, 4, 8),
                          prompt_len=128, new_tokens=64)
    runs = ahead.timed()   # {batch size: Generation}, fails on a recompile or CUDA-graph re-record

:func:`compile_ahead` runs every size twice before anything is timed: the first generation compiles
the size's decode graph (CUDA graph trees warm it up), the second records its CUDA graph (graphs are
recorded on a function's second call). :meth:`AheadCompiled.timed` then runs each size inside
:func:`~ragperf.compile.probe.steady_decode` and under a :class:`~ragperf.compile.probe.CompileProbe`
whose recompiles and CUDA-graph recordings must be zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ragperf import argtypes
from ragperf.compile.probe import (
    CompileProbe,
    ProbeReport,
    RecompileInSteadyState,
    steady_decode,
    steady_state,
)
from ragperf.errors import RagperfError
from ragperf.models.decoders import Decoder, random_prompts

STRATEGIES = ("per-size", "bounded")
Inputs = Callable[[int], dict[str, torch.Tensor]]  # batch size -> the model's keyword inputs
CAPTURE_RUNS = 2  # decoders: compile (+ CUDA-graph warm-up), then record


def parse_sizes(text: str, what: str = "compile sizes") -> tuple[int, ...]:
    """``"1,2,4,8,16"`` -> ``(1, 2, 4, 8, 16)`` (sorted); anything but distinct positive integers is one clear
    error. ``what`` names the list in it (``"decode sizes"`` for a decoder's)."""
    try:
        given = [int(part) for part in str(text).split(",")]
    except ValueError:
        given = []
    if not given or min(given) < 1 or max(given) > argtypes.MAX_BATCH or len(set(given)) != len(given):
        raise RagperfError(f"{what} {text!r}: give distinct positive batch sizes (positive integers up to "
                           f"{argtypes.MAX_BATCH}) separated by commas, e.g. 1,2,4,8")
    return tuple(sorted(given))


def check_recompile_room(sizes: Sequence[int], what: str = "compile sizes") -> None:
    """One graph per size must fit Dynamo's recompile limit: past it a size falls back to eager silently."""
    limit = torch._dynamo.config.recompile_limit
    if len(sizes) > limit:
        raise RagperfError(f"{len(sizes)} {what} need {len(sizes)} graphs, more than Dynamo's recompile limit "
                           f"{limit}: use fewer sizes or raise torch._dynamo.config.recompile_limit")


@dataclass
class SizedCompile:
    strategy: str
    sizes: tuple[int, ...]
    compile_s: float  # the warm-up calls that compiled, all sizes together
    report: ProbeReport

    @property
    def graphs(self) -> int:
        return self.report.graphs


def compile_model(module: torch.nn.Module, strategy: str, backend: str = "inductor") -> Callable[..., object]:
    """``torch.compile`` as the strategy needs it: ``per-size`` must be ``dynamic=False`` (else automatic
    dynamic shapes turn the second size into a dynamic graph), with room for one graph per size."""
    if strategy not in STRATEGIES:
        raise RagperfError(f"unknown compile-sizes strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    return torch.compile(module, backend=backend, dynamic=False if strategy == "per-size" else None)


def mark(inputs: dict[str, torch.Tensor], strategy: str, sizes: Sequence[int]) -> dict[str, torch.Tensor]:
    """For ``bounded``: the batch dim of every input marked dynamic within the listed sizes >= 2."""
    batch = next(iter(inputs.values())).shape[0]
    ranged = [s for s in sizes if s >= 2]
    if strategy == "bounded" and batch >= 2 and ranged:
        for tensor in inputs.values():
            torch._dynamo.mark_dynamic(tensor, 0, min=min(ranged), max=max(ranged))
    return inputs


def compile_for_sizes(model: Callable[..., object], inputs_for: Inputs, sizes: Sequence[int],
                      strategy: str = "per-size") -> SizedCompile:
    """Call ``model`` (from :func:`compile_model`) once per listed size (``bounded``: once for size 1 if
    listed, once for the range), so that every listed size has its graph before serving."""
    check_recompile_room(sizes)
    warm = list(sizes) if strategy == "per-size" else sorted({1} & set(sizes)) + [max(sizes)] * any(s >= 2 for s in sizes)
    begin = time.perf_counter()
    with CompileProbe() as probe:
        for size in warm:
            model(**mark(inputs_for(size), strategy, sizes))
    return SizedCompile(strategy, tuple(sizes), time.perf_counter() - begin, probe.report)


def serve(model: Callable[..., object], inputs_for: Inputs, sizes: Sequence[int]) -> ProbeReport:
    """Every listed size once, plain inputs (as a server gets them), inside ``steady_state()``: raises
    ``RecompileInSteadyState`` on any recompile."""
    with CompileProbe() as probe, steady_state():
        for size in sizes:
            model(**inputs_for(size))
    return probe.report


def try_unlisted(model: Callable[..., object], inputs_for: Inputs, size: int) -> ProbeReport:
    """What serving an unlisted ``size`` does: the probe of that call (graphs, recompiles and why)."""
    with CompileProbe() as probe:
        model(**inputs_for(size))
    return probe.report


@dataclass
class AheadCompiled:
    """A generator whose decode is compiled and captured for ``prompts``' batch sizes."""

    generator: object
    prompts: dict[int, torch.Tensor]
    new_tokens: int
    capture: ProbeReport
    warm_tokens: dict[int, torch.Tensor] = field(default_factory=dict)
    timed_probe: ProbeReport | None = None

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.prompts)

    def timed(self, rounds: int = 1) -> dict[int, list]:
        """``rounds`` generations per size, each size in turn; raises on any recompile or CUDA-graph
        recording/skip inside the window, with the reason."""
        runs: dict[int, list] = {}
        with CompileProbe() as probe, steady_decode():
            for _ in range(rounds):
                for size, prompt in self.prompts.items():
                    runs.setdefault(size, []).append(self.generator.generate(prompt, self.new_tokens))
        self.timed_probe = probe.report
        if probe.report.recompiles or probe.report.cudagraphs.recordings:  # belt and braces over the stance
            raise RecompileInSteadyState("timed decode window compiled or recorded:\n" + probe.report.summary())
        return runs


def compile_ahead(generator, decoder: Decoder, sizes: tuple[int, ...], *, prompt_len: int, new_tokens: int,
                  seed: int = 0) -> AheadCompiled:
    """Compile and capture ``generator``'s decode for every batch size in ``sizes`` (see the module doc)."""
    check_recompile_room(sizes, "decode sizes")
    prompts = {size: random_prompts(decoder, size, prompt_len, seed=seed + size) for size in sizes}
    warm: dict[int, torch.Tensor] = {}
    with CompileProbe() as probe:
        for size, prompt in prompts.items():
            for _ in range(CAPTURE_RUNS):
                warm[size] = generator.generate(prompt, new_tokens).tokens
    return AheadCompiled(generator, prompts, new_tokens, probe.report, warm)
