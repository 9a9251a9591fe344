"""A plain greedy prefill + decode loop with a KV cache, and the compile modes of the overhead paper.

Compile modes ("Studying the Overhead of torch.compile() in LLM Inference", Table 1):

==========================  ========================================================
``eager``                   prefill and decode run the model as loaded
``compile-decode``          prefill eager; decode steps through ``torch.compile``
``compile-prefill-decode``  both phases through one ``torch.compile``d model
``static-cudagraphs``       as deployed on GPUs: static KV cache, decode through
                            ``torch.compile(mode="reduce-overhead", fullgraph=True)``
                            (CUDA graphs); prefill eager
``static-max-autotune``     the same with ``mode="max-autotune"``
==========================  ========================================================

The static modes compile with ``dynamic=False`` and keep one :class:`StaticCache` per generator,
reset between generations (as ``generate`` does), so a second generation of the same shape replays
the captured graph. Off CUDA they compile with the default inductor mode (CUDA graphs are
CUDA-only), which is the static-cache setting of the overhead paper.

The loop times each phase with :class:`~ragperf.models.clock.StepClock` (CUDA events, one
synchronization per generation), so the first decode step - where the decode compile lands - is
visible on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ragperf.errors import RagperfError
from ragperf.models.clock import StepClock
from ragperf.models.decoders import Decoder

COMPILE_MODES = ("eager", "compile-decode", "compile-prefill-decode")
STATIC_MODES = {"static-cudagraphs": "reduce-overhead", "static-max-autotune": "max-autotune"}
DECODE_MODES = COMPILE_MODES + tuple(STATIC_MODES)
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
    reuse_cache: bool = False
    _cache: object = field(default=None, repr=False)
    _cache_key: tuple = field(default=(), repr=False)

    def generate(self, prompt: torch.Tensor, new_tokens: int, record_logits: bool = False) -> Generation:
        model = self.decoder.model
        length = prompt.shape[1]
        recorded: list[torch.Tensor] = []
        clock = StepClock(self.decoder.device)
        with torch.inference_mode():
            past = self._cache_for(model.config, prompt.shape[0], length + new_tokens)
            # An inference tensor like the decode tokens: a normal-tensor prompt would add a guard
            # failure (dispatch keys) and a recompile when one compiled model serves both phases.
            prompt = prompt.clone()
            clock.mark()
            logits = _step(self.prefill_fn, prompt, past, torch.arange(length, device=prompt.device))
            token = logits.argmax(-1, keepdim=True)
            clock.mark()
            tokens = [token]
            if record_logits:
                recorded.append(logits.float().clone())
            for pos in range(length, length + new_tokens - 1):
                logits = _step(self.decode_fn, token, past, torch.tensor([pos], device=prompt.device))
                # argmax makes a fresh tensor: a CUDA-graph replay overwrites its own outputs
                token = logits.argmax(-1, keepdim=True)
                clock.mark()
                tokens.append(token)
                if record_logits:
                    recorded.append(logits.float().clone())
        prefill_s, *steps = clock.intervals()
        return Generation(torch.cat(tokens, dim=1), prefill_s, steps, recorded)

    def _cache_for(self, config, batch: int, max_len: int):
        if not self.reuse_cache:
            return _make_cache(self.cache, config, max_len)
        if self._cache is None or self._cache_key != (batch, max_len):
            self._cache, self._cache_key = _make_cache(self.cache, config, max_len), (batch, max_len)
        else:
            self._cache.reset()
        return self._cache


def build_generator(decoder: Decoder, mode: str = "eager", *, dynamic: bool | None = None,
                    cache: str = "dynamic", backend: str = "inductor", fullgraph: bool = False,
                    compile_mode: str | None = None) -> Generator:
    """Apply compile ``mode`` to ``decoder`` (compilation is lazy: it lands in the first call it serves).

    A static mode overrides ``cache``, ``dynamic``, ``fullgraph`` and ``compile_mode`` with its recipe.
    """
    if mode not in DECODE_MODES:
        raise RagperfError(f"unknown decode mode {mode!r}; choose from {', '.join(DECODE_MODES)}")
    if cache not in CACHE_KINDS:
        raise RagperfError(f"unknown KV cache {cache!r}; choose from {', '.join(CACHE_KINDS)}")
    eager = decoder.model
    if mode in STATIC_MODES:
        on_cuda = decoder.device.type == "cuda" and backend == "inductor"
        compiled = torch.compile(eager, backend=backend, dynamic=False, fullgraph=True,
                                 mode=STATIC_MODES[mode] if on_cuda else None)
        return Generator(decoder, mode, "static", eager, compiled, reuse_cache=True)
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

