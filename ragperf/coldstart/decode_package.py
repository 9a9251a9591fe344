"""A decoder's decode step as an AOTInductor package: one fixed-shape step over a static KV cache.

AOTInductor compiles one exported graph of fixed shapes. A static-cache decode step is one: the
token [B, 1], its slot, and the cache tensors [B, heads, max_len, head_dim] that the step writes in
place. :class:`DecodeStep` takes those tensors as inputs (export records their in-place writes and
the package performs them), so the prefill can run eagerly into an ordinary ``StaticCache`` and the
package decodes from the very same tensors. A ``DynamicCache`` grows every token and is no tensor
input at all: :func:`dynamic_cache_export_problem` reports what ``torch.export`` says about it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from ragperf.coldstart.artifacts import _first_line, load_package, write_manifest
from ragperf.models.decoders import Decoder
from ragperf.models.generation import Generator, build_generator

DECODE_AOTI = "decode_step.pt2"


class DecodeStep(nn.Module):
    """``(input_ids [B,1], cache_position [1], *keys, *values, *lengths) -> logits [B, vocab]``, writing the
    new key/value into the given cache tensors."""

    def __init__(self, model: nn.Module, cache):
        super().__init__()
        self.model = model
        self.cache = cache

    def forward(self, input_ids: torch.Tensor, cache_position: torch.Tensor, *state: torch.Tensor) -> torch.Tensor:
        n = len(self.cache.layers)
        for i, layer in enumerate(self.cache.layers):
            layer.keys, layer.values, layer.cumulative_length = state[i], state[n + i], state[2 * n + i]
        return self.model(input_ids=input_ids, past_key_values=self.cache, cache_position=cache_position,
                          use_cache=True).logits[:, -1, :]


def cache_state(cache) -> list[torch.Tensor]:
    """The tensors of an initialized ``StaticCache``, in :class:`DecodeStep`'s input order."""
    layers = cache.layers
    return [x.keys for x in layers] + [x.values for x in layers] + [x.cumulative_length for x in layers]


def package_decode_step(decoder: Decoder, prompt: torch.Tensor, new_tokens: int, path: Path) -> Path:
    """Export the static-cache decode step at ``prompt``'s batch and ``len(prompt) + new_tokens`` cache slots,
    ``aoti_compile_and_package`` it into ``path`` (+ manifest)."""
    from transformers import StaticCache

    length = prompt.shape[1]
    cache = StaticCache(config=decoder.config, max_cache_len=length + new_tokens)
    with torch.no_grad():
        decoder.model(input_ids=prompt, past_key_values=cache, cache_position=torch.arange(length, device=prompt.device),
                      use_cache=True)  # initializes the cache tensors at their serving shapes
        token = prompt[:, -1:].clone()
        exported = torch.export.export(DecodeStep(decoder.model, cache),
                                       (token, torch.tensor([length], device=prompt.device), *cache_state(cache)))
        torch._inductor.aoti_compile_and_package(exported, package_path=str(path))
    write_manifest(path, "aoti-decode", decoder.device.type)
    return path


def dynamic_cache_export_problem(decoder: Decoder, prompt: torch.Tensor) -> str:
    """What ``torch.export`` says to the decode step of a ``DynamicCache`` mode, the cache length dynamic (one
    line). Registers transformers' ``DynamicCache`` pytree support for the whole process: call it in a child."""
    from transformers import DynamicCache
    from transformers.integrations.executorch import register_dynamic_cache_export_support

    register_dynamic_cache_export_support()
    cache = DynamicCache(config=decoder.config)

    class Step(nn.Module):
        def forward(self, input_ids, cache_position, past_key_values):
            out = decoder.model(input_ids=input_ids, past_key_values=past_key_values, cache_position=cache_position,
                                use_cache=True)
            return out.logits[:, -1, :], out.past_key_values

    length = prompt.shape[1]
    with torch.no_grad():
        decoder.model(input_ids=prompt, past_key_values=cache, use_cache=True)
        grows = torch.export.Dim("cache_len", min=2, max=decoder.config.max_position_embeddings - 1)
        layers = [{2: grows}] * len(cache.layers)
        try:
            torch.export.export(Step(), (prompt[:, -1:].clone(), torch.tensor([length]), cache),
                                dynamic_shapes={"input_ids": None, "cache_position": None,
                                                "past_key_values": [layers, layers]})
        except Exception as exc:  # noqa: BLE001 - what torch says is the answer
            return f"torch.export of the DynamicCache decode step: {type(exc).__name__}: {_what_torch_said(exc)}"
    return ("torch.export of the DynamicCache decode step succeeded, but AOTInductor serves fixed shapes and "
            "the cache grows every token: package a static-cache mode")


def _what_torch_said(exc: BaseException) -> str:
    """The first line, and the first detail line (`` - ...``) where torch gives one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = next((line for line in lines[1:] if line.startswith("- ")), "")
    return (_first_line(exc) + (f" {detail[2:]}" if detail else ""))[:400]


def load_decode_package(path: Path, decoder: Decoder, mode: str, backend: str = "inductor"
                        ) -> tuple[Generator, str | None]:
    """A static-cache generator whose decode steps run the package at ``path`` (prefill eager): (generator,
    fallback line). On a problem the line is printed and ``mode`` is JIT-compiled instead."""
    package, line = load_package(path, "aoti-decode", decoder.device.type, mode)
    if package is None:
        return build_generator(decoder, mode, backend=backend), line

    def decode(input_ids, past_key_values, cache_position, use_cache=True, **_):
        return SimpleNamespace(logits=package(input_ids, cache_position, *cache_state(past_key_values))[:, None, :])

    return Generator(decoder, mode, "static", decoder.model, decode, reuse_cache=True), None
