"""The decoder side of the cold-start matrix: one decode mode of a decoder, started like a ladder rung.

A :class:`DecoderStart` plugs into :func:`ragperf.coldstart.start.start`; the first call is one greedy
generation (a 32-token prompt, :data:`NEW_TOKENS` new tokens), whose decode steps are where a decode
mode compiles. Steady state is the median decode step, timed interleaved against eager (with the
mode's own kind of KV cache) in the same process; parity is the decoder parity rule (greedy tokens
equal to eager's, or a near-tie at the first differing step). The AOTInductor start serves the
decode steps from a package of the static-cache decode step (:mod:`ragperf.coldstart.decode_package`);
a dynamic-cache mode has no fixed-shape step, and its package row says what ``torch.export`` said.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from ragperf.models import decode_modes

PROMPT_LEN = 32
NEW_TOKENS = 16
COLDSTART_MODES = decode_modes.names("paper", "static", compiled=True)
DEFAULT_MODES = ("compile-decode", "compile-prefill-decode", "static-cudagraphs")


class DecoderStart:
    """Decode mode ``variant`` of decoder ``model`` (batch 1, :data:`PROMPT_LEN` prompt tokens)."""

    def __init__(self, model: str, variant: str, device: str, backend: str):
        from ragperf.models.decoders import load_decoder, random_prompts

        self.variant, self.device, self.backend = variant, device, backend
        self.decoder = load_decoder(model, device=device)
        self.prompt = random_prompts(self.decoder, 1, PROMPT_LEN, seed=1)
        self.cache = "static" if decode_modes.mode(variant).static_cache else "dynamic"

    def package(self, artifacts: Path) -> dict:
        from ragperf.coldstart import decode_package

        if self.cache != "static":
            return {"error": decode_package.dynamic_cache_export_problem(self.decoder, self.prompt)}
        path = decode_package.package_decode_step(self.decoder, self.prompt, NEW_TOKENS,
                                                  artifacts / decode_package.DECODE_AOTI)
        return {"bytes": path.stat().st_size}

    def jit(self):
        from ragperf.models.generation import build_generator

        return build_generator(self.decoder, self.variant, cache=self.cache, backend=self.backend)

    def from_aoti(self, artifacts: Path):
        from ragperf.coldstart import decode_package

        return decode_package.load_decode_package(artifacts / decode_package.DECODE_AOTI, self.decoder,
                                                  self.variant, self.backend)

    def first_call(self, started) -> None:
        started.generate(self.prompt, NEW_TOKENS)

    def steady(self, started, rounds: int) -> dict:
        """Median decode step against eager's, interleaved; tokens/s; greedy-token parity vs eager."""
        import torch

        from ragperf.compile.probe import CompileProbe
        from ragperf.models.generation import build_generator
        from ragperf.numerics.parity import greedy_agreement
        from ragperf.numerics.tolerances import lookup

        eager = build_generator(self.decoder, "eager", cache=self.cache)
        eager.generate(self.prompt, 2)  # eager's own first-call costs out of its timing
        steps, eager_steps = [], []
        with CompileProbe() as probe:
            for _ in range(rounds):
                eager_steps.append(statistics.median(eager.generate(self.prompt, NEW_TOKENS).step_s))
                steps.append(statistics.median(started.generate(self.prompt, NEW_TOKENS).step_s))
        ratios = sorted(e / s for e, s in zip(eager_steps, steps, strict=True))
        median_s, eager_median_s = statistics.median(steps), statistics.median(eager_steps)
        reference = eager.generate(self.prompt, NEW_TOKENS, record_logits=True)
        candidate = started.generate(self.prompt, NEW_TOKENS, record_logits=True)
        agree, detail = greedy_agreement(reference, candidate, lookup(self.device, "float32", "off"))
        status = "equal" if detail.startswith("greedy tokens equal") else ("near-tie" if agree else "DIFFER")
        shared = [i for i in range(NEW_TOKENS) if torch.equal(reference.tokens[:, :i], candidate.tokens[:, :i])]
        max_abs = max(float((reference.logits[i] - candidate.logits[i]).abs().max()) for i in shared)
        return {"median_s": median_s, "eager_median_s": eager_median_s, "speedup": eager_median_s / median_s,
                "speedup_low": ratios[len(ratios) // 10], "speedup_high": ratios[-1 - len(ratios) // 10],
                "tok_s": self.prompt.shape[0] / median_s, "eager_tok_s": self.prompt.shape[0] / eager_median_s,
                "recompiles_while_timed": probe.report.graphs,
                "parity": {"passed": agree, "status": status, "max_abs": max_abs, "message": detail}}
