"""Decode compiled ahead for a list of batch sizes (vLLM-style), then timed without a recompile.

::

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

from dataclasses import dataclass, field

import torch

from ragperf.compile.probe import CompileProbe, ProbeReport, RecompileInSteadyState, steady_decode
from ragperf.compile.sizes import parse_sizes as _parse_sizes
from ragperf.errors import RagperfError
from ragperf.models.decoders import Decoder, random_prompts

CAPTURE_RUNS = 2  # compile (+ CUDA-graph warm-up), then record


def parse_sizes(text: str) -> tuple[int, ...]:
    """The decode sizes of ``--ragperf-decode-sizes`` (see :func:`ragperf.compile.sizes.parse_sizes`)."""
    return _parse_sizes(text, "decode sizes")


def check_recompile_room(sizes: tuple[int, ...]) -> None:
    """One decode graph per size must fit Dynamo's recompile limit: past it a size falls back to eager silently."""
    limit = torch._dynamo.config.recompile_limit
    if len(sizes) > limit:
        raise RagperfError(f"{len(sizes)} decode sizes need {len(sizes)} graphs, more than Dynamo's recompile limit "
                           f"{limit}: use fewer sizes or raise torch._dynamo.config.recompile_limit")


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
    check_recompile_room(sizes)
    prompts = {size: random_prompts(decoder, size, prompt_len, seed=seed + size) for size in sizes}
    warm: dict[int, torch.Tensor] = {}
    with CompileProbe() as probe:
        for size, prompt in prompts.items():
            for _ in range(CAPTURE_RUNS):
                warm[size] = generator.generate(prompt, new_tokens).tokens
    return AheadCompiled(generator, prompts, new_tokens, probe.report, warm)
