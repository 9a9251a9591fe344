"""A plain greedy prefill + decode loop with a KV cache, and the compile modes of the overhead paper.

Compile modes ("Studying the Overhead of torch.compile() in LLM Inference", Table 1):

==========================  ========================================================
``eager``                   prefill and decode run the model as loaded
``compile-decode``          prefill eager; decode steps through ``torch.compile``
``compile-prefill-decode``  both phases through one ``torch.compile``d model
==========================  ========================================================

The loop times each phase (synchronizing on GPU) so the first decode step - where the decode
compile lands - is visible on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ragperf.errors import RagperfError
from ragperf.models.clock import now as _now
from ragperf.models.decoders import Decoder

COMPILE_MODES = ("eager", "compile-decode", "compile-prefill-decode")
CACHE_KINDS = ("dynamic", "static")


@dataclass
class Generation:
    """Greedy tokens [B, new_tokens] and where the time went, in seconds."""

    tokens: torch.Tensor
    prefill_s: float
    step_s: list[float]
    logits: list[torch.Tensor] = field(default_factory=list, repr=False)  # per step, if recorded

    @property
    def first_decode_s(self) -> float:
        return self.step_s[0] if self.step_s else 0.0

    @property
    def rest_decode_s(self) -> float:
        return sum(self.step_s[1:])

    @property
    def total_s(self) -> float:
        return self.prefill_s + sum(self.step_s)


@dataclass
class Generator:
    """A decoder with its compile mode applied; call :meth:`generate` as often as you like."""

    decoder: Decoder
    mode: str
    cache: str
    prefill_fn: Callable[..., object]
    decode_fn: Callable[..., object]

    def generate(self, prompt: torch.Tensor, new_tokens: int, record_logits: bool = False) -> Generation:
        model = self.decoder.model
        length = prompt.shape[1]
        past = _make_cache(self.cache, model.config, length + new_tokens)
        recorded: list[torch.Tensor] = []
        with torch.inference_mode():
            # An inference tensor like the decode tokens: a normal-tensor prompt would add a guard
            # failure (dispatch keys) and a recompile when one compiled model serves both phases.
            prompt = prompt.clone()
            start = _now(self.decoder.device)
            logits = _step(self.prefill_fn, prompt, past, torch.arange(length, device=prompt.device))
            token = logits.argmax(-1, keepdim=True)
            prefill_s = _now(self.decoder.device) - start
            tokens, steps = [token], []
            if record_logits:
                recorded.append(logits.float().clone())
            for pos in range(length, length + new_tokens - 1):
                start = _now(self.decoder.device)
                logits = _step(self.decode_fn, token, past, torch.tensor([pos], device=prompt.device))
                token = logits.argmax(-1, keepdim=True)
                steps.append(_now(self.decoder.device) - start)
                tokens.append(token)
                if record_logits:
                    recorded.append(logits.float().clone())
        return Generation(torch.cat(tokens, dim=1), prefill_s, steps, recorded)


def build_generator(decoder: Decoder, mode: str = "eager", *, dynamic: bool | None = None,
                    cache: str = "dynamic", backend: str = "inductor", fullgraph: bool = False,
                    compile_mode: str | None = None) -> Generator:
    """Apply compile ``mode`` to ``decoder`` (compilation is lazy: it lands in the first call it serves)."""
    if mode not in COMPILE_MODES:
        raise RagperfError(f"unknown decode mode {mode!r}; choose from {', '.join(COMPILE_MODES)}")
    if cache not in CACHE_KINDS:
        raise RagperfError(f"unknown KV cache {cache!r}; choose from {', '.join(CACHE_KINDS)}")
    eager = decoder.model
    if mode == "eager":
        return Generator(decoder, mode, cache, eager, eager)
    compiled = torch.compile(eager, backend=backend, dynamic=dynamic, fullgraph=fullgraph, mode=compile_mode)
    prefill = compiled if mode == "compile-prefill-decode" else eager
    return Generator(decoder, mode, cache, prefill, compiled)


def recompute_greedy(decoder: Decoder, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy tokens computed without any KV cache (the whole sequence every step): the reference."""
    sequence = prompt
    with torch.inference_mode():
        for _ in range(new_tokens):
            logits = decoder.model(input_ids=sequence, use_cache=False).logits[:, -1, :]
            sequence = torch.cat([sequence, logits.argmax(-1, keepdim=True)], dim=1)
    return sequence[:, prompt.shape[1]:]


def _step(fn: Callable[..., object], ids: torch.Tensor, past, cache_position: torch.Tensor) -> torch.Tensor:
    out = fn(input_ids=ids, past_key_values=past, cache_position=cache_position, use_cache=True)
    return out.logits[:, -1, :]


def _make_cache(kind: str, config, max_len: int):
    from transformers import DynamicCache, StaticCache

    if kind == "dynamic":
        return DynamicCache(config=config)
    return StaticCache(config=config, max_cache_len=max_len)

