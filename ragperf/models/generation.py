"""A plain greedy prefill + decode loop with a KV cache, run in any decode mode of :mod:`ragperf.models.decode_modes`.

:func:`build_generator` applies a mode's row: which phases go through ``torch.compile``, with which KV
cache and compile settings. The static and reference modes keep one static cache per generator, reset
between generations (as ``generate`` does), so a second generation of the same shape replays the
captured graph.

The loop times each phase with :class:`~ragperf.models.clock.StepClock` (CUDA events, one
synchronization per generation), so the first decode step - where the decode compile lands - is
visible on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ragperf.errors import RagperfError
from ragperf.models import decode_modes
from ragperf.models.clock import StepClock
from ragperf.models.decoders import Decoder
from ragperf.models.reference_llama import ReferenceGenerator

CACHE_KINDS = ("dynamic", "static")  # the KV cache a paper-family mode runs with (the caller's choice)
# Cache lengths one served generator may compile a decode graph for: below Dynamo's default recompile
# limit (8 per code object), leaving one for a batch size compiled beside them.
MAX_BUCKETS = 7


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
    """A decoder with its compile mode applied; call :meth:`generate` as often as you like.

    With ``reuse_cache`` (the static modes) it keeps one KV cache per (batch, length), reset between
    generations, so every batch size compiled ahead keeps its captured graph and cache addresses.
    With ``cache_lengths`` as well (a server's :func:`length_buckets`) that length is the smallest bucket
    holding prompt + new tokens, not their sum: one decode graph per bucket serves every prompt length, with
    the same greedy tokens (the cache's unused tail is masked out). Without it, one cache per exact length.
    """

    decoder: Decoder
    mode: str
    cache: str
    prefill_fn: Callable[..., object]
    decode_fn: Callable[..., object]
    reuse_cache: bool = False
    cache_lengths: tuple[int, ...] = ()
    _caches: dict = field(default_factory=dict, repr=False)

    def generate(self, prompt: torch.Tensor, new_tokens: int, record_logits: bool = False,
                 attention_mask: torch.Tensor | None = None, on_token: Callable | None = None) -> Generation:
        """Greedy tokens after ``prompt`` [B, T]; ``attention_mask`` [B, T] (0 = left padding) for ragged rows;
        ``on_token`` as :func:`greedy_loop`'s."""
        config = self.decoder.model.config

        def step(fn, past):
            def run(ids, cache_position, positions, mask):
                extra = {} if mask is None else {"attention_mask": mask, "position_ids": positions}
                out = fn(input_ids=ids, past_key_values=past, cache_position=cache_position, use_cache=True,
                         **extra)
                return out.logits[:, -1, :]
            return run

        with torch.inference_mode():
            past = self._cache_for(config, prompt.shape[0], prompt.shape[1] + new_tokens)
            return greedy_loop(step(self.prefill_fn, past), step(self.decode_fn, past), prompt, new_tokens,
                               self.decoder.device, record_logits, attention_mask, on_token)

    def _cache_for(self, config, batch: int, max_len: int):
        if not self.reuse_cache:
            return _make_cache(self.cache, config, max_len)
        if self.cache_lengths:
            max_len = bucket_for(self.cache_lengths, max_len)
        if (batch, max_len) in self._caches:
            self._caches[batch, max_len].reset()
        else:
            self._caches[batch, max_len] = _make_cache(self.cache, config, max_len)
        return self._caches[batch, max_len]


def length_buckets(context: int, smallest: int = 64) -> tuple[int, ...]:
    """Cache lengths for serving up to ``context`` tokens: powers of two from ``smallest``, then ``context``
    itself (each a decode graph of its own, so at most :data:`MAX_BUCKETS` of them)."""
    if context < 1 or smallest < 1:
        raise RagperfError(f"length buckets need a context and a smallest length of at least 1 (got {context}, "
                           f"{smallest})")
    out, length = [], smallest
    while length < context:
        out.append(length)
        length *= 2
    out.append(context)
    if len(out) > MAX_BUCKETS:
        raise RagperfError(f"a context of {context} tokens needs {len(out)} cache lengths from {smallest}; at most "
                           f"{MAX_BUCKETS} fit torch's recompile limit: serve a shorter context")
    return tuple(out)


def bucket_for(lengths: tuple[int, ...], needed: int) -> int:
    """The smallest of ``lengths`` (ascending) that holds ``needed`` tokens; RagperfError when none does."""
    for length in lengths:
        if length >= needed:
            return length
    raise RagperfError(f"{needed} tokens pass the longest cache length served ({lengths[-1]}): shorten the prompt "
                       "or ask for fewer tokens")


def greedy_loop(prefill: Callable, decode: Callable, prompt: torch.Tensor, new_tokens: int, device,
                record_logits: bool = False, attention_mask: torch.Tensor | None = None,
                on_token: Callable[[torch.Tensor], None] | None = None) -> Generation:
    """Prefill then ``new_tokens - 1`` decode steps, timed by a :class:`StepClock`; call under inference_mode.

    ``on_token(token)`` [B, 1] runs as each token is chosen (a server streams it); an exception it raises
    ends the generation there and propagates.

    ``prefill``/``decode`` take ``(ids, cache_position, positions, mask)`` and return last-position
    logits [B, vocab]. Without ``attention_mask`` positions and mask are None. With it (left padding,
    0 = pad) ``mask`` is [B, T + new_tokens] (fixed for the whole generation, so the decode step keeps
    one shape) and ``positions`` [B, steps] are each row's own token positions, padding shifted out.
    """
    batch, length = prompt.shape
    recorded: list[torch.Tensor] = []
    clock = StepClock(device)
    # An inference tensor like the decode tokens: a normal-tensor prompt would add a guard
    # failure (dispatch keys) and a recompile when one compiled model serves both phases.
    prompt = prompt.clone()
    mask = positions = pad = None
    if attention_mask is not None:
        attention_mask = attention_mask.to(device=prompt.device, dtype=torch.long)
        mask = torch.cat([attention_mask, attention_mask.new_ones(batch, new_tokens)], dim=1)
        pad = length - attention_mask.sum(dim=1, keepdim=True)
        positions = (torch.arange(length, device=prompt.device)[None, :] - pad).clamp(min=0)
    clock.mark()
    logits = prefill(prompt, torch.arange(length, device=prompt.device), positions, mask)
    token = logits.argmax(-1, keepdim=True)
    clock.mark()
    tokens = [token]
    if on_token is not None:
        on_token(token)
    if record_logits:
        recorded.append(logits.float().clone())
    # Slots made once, sliced per step: a torch.tensor per step would copy from pageable host memory,
    # which synchronizes the host with the GPU every token.
    slots = torch.arange(length, length + new_tokens - 1, device=prompt.device)
    for step in range(new_tokens - 1):
        where = slots[step:step + 1]
        logits = decode(token, where, None if pad is None else where[None, :] - pad, mask)
        # argmax makes a fresh tensor: a CUDA-graph replay overwrites its own outputs
        token = logits.argmax(-1, keepdim=True)
        clock.mark()
        tokens.append(token)
        if on_token is not None:
            on_token(token)
        if record_logits:
            recorded.append(logits.float().clone())
    prefill_s, *steps = clock.intervals()
    return Generation(torch.cat(tokens, dim=1), prefill_s, steps, recorded)


def build_generator(decoder: Decoder, mode: str = "eager", *, dynamic: bool | None = None,
                    cache: str = "dynamic", backend: str = "inductor", fullgraph: bool = False,
                    compile_mode: str | None = None) -> Generator:
    """Apply decode ``mode`` to ``decoder`` (compilation is lazy: it lands in the first call it serves).

    ``cache``, ``dynamic``, ``fullgraph`` and ``compile_mode`` apply to the paper family; a static or
    reference mode overrides them with its recipe (:class:`~ragperf.models.decode_modes.DecodeMode`),
    and a reference mode runs :mod:`ragperf.models.reference_llama` on the decoder's weights instead.
    """
    chosen = decode_modes.mode(mode)
    if chosen.family == "reference":
        return ReferenceGenerator(decoder, mode, backend=backend)
    if cache not in CACHE_KINDS:
        raise RagperfError(f"unknown KV cache {cache!r}; choose from {', '.join(CACHE_KINDS)}")
    eager, static = decoder.model, chosen.static_cache
    settings = {"dynamic": False, "fullgraph": True} if static else \
        {"dynamic": dynamic, "fullgraph": fullgraph, "mode": compile_mode}
    if decoder.device.type == "cuda" and backend == "inductor":
        settings.update(chosen.cuda)
    compiled = torch.compile(eager, backend=backend, **settings) if chosen.compiles else eager
    prefill, decode = (compiled if phase in chosen.compiles else eager for phase in decode_modes.PHASES)
    return Generator(decoder, mode, "static" if static else cache, prefill, decode, reuse_cache=static)


def recompute_greedy(decoder: Decoder, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy tokens computed without any KV cache (the whole sequence every step): the reference."""
    sequence = prompt
    with torch.inference_mode():
        for _ in range(new_tokens):
            logits = decoder.model(input_ids=sequence, use_cache=False).logits[:, -1, :]
            sequence = torch.cat([sequence, logits.argmax(-1, keepdim=True)], dim=1)
    return sequence[:, prompt.shape[1]:]


def _make_cache(kind: str, config, max_len: int):
    from transformers import DynamicCache, StaticCache

    if kind == "dynamic":
        return DynamicCache(config=config)
    return StaticCache(config=config, max_cache_len=max_len)

