"""The optimization ladder of PyTorch's Graviton RAG blog, as named variants of an embedder.

====================================  ==========================================================
``eager``                             the model as loaded, grad off (``no_grad``) around the call
``compile``                           ``torch.compile`` of the transformer
``compile+freeze``                    + Inductor ``freezing=True`` and ``cpp.weight_prepack=True``
``compile+freeze+inference_mode``     + ``torch.inference_mode()`` instead of ``no_grad``
====================================  ==========================================================

Grad mode is always switched off *outside* the compiled call: Inductor decides whether to freeze
from ``torch.is_grad_enabled()`` before tracing, so a ``no_grad`` inside ``forward`` silently
skips freezing (pytorch/pytorch#125474).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ragperf.errors import RagperfError
from ragperf.models.embedders import Batch, Embedder

# The blog's standalone embedding benchmark: a batch of two short sentences.
BLOG_SENTENCES = ["This is an example sentence", "Each sentence is converted"]


@dataclass(frozen=True)
class Variant:
    name: str
    compiled: bool
    freezing: bool = False
    grad_mode: str = "no_grad"  # or "inference_mode"
    mode: str | None = None  # torch.compile mode

    def call_context(self) -> contextlib.ExitStack:
        """Grad mode off, and for freezing variants the Inductor settings, around one call.

        The Inductor settings are patched around every call, not passed as ``torch.compile(options=)``:
        on torch 2.13 ``options={"freezing": True}`` compiles without freezing, and a recompile
        triggered by a later call must see the same settings as the first compile.
        """
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode() if self.grad_mode == "inference_mode" else torch.no_grad())
        if self.freezing:
            import torch._inductor.config as inductor_config

            stack.enter_context(inductor_config.patch(freezing=True, **{"cpp.weight_prepack": True}))
        return stack


LADDER: dict[str, Variant] = {v.name: v for v in (
    Variant("eager", compiled=False),
    Variant("compile", compiled=True),
    Variant("compile+freeze", compiled=True, freezing=True),
    Variant("compile+freeze+inference_mode", compiled=True, freezing=True, grad_mode="inference_mode"),
)}


# GPU-only rungs: CUDA graphs, and Triton autotuning of every kernel.
GPU_VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("compile+reduce-overhead", compiled=True, grad_mode="inference_mode", mode="reduce-overhead"),
    Variant("compile+max-autotune", compiled=True, grad_mode="inference_mode", mode="max-autotune"),
)}


def variants_for(device: str) -> list[str]:
    """The variant names that make sense on ``device`` ("cpu" or "cuda")."""
    return list(LADDER) + (list(GPU_VARIANTS) if device == "cuda" else [])


def variant(name: str) -> Variant:
    try:
        return LADDER.get(name) or GPU_VARIANTS[name]
    except KeyError:
        raise RagperfError(f"unknown variant {name!r}; choose from {', '.join([*LADDER, *GPU_VARIANTS])}") from None


@dataclass
class LadderModel:
    """One rung of the ladder: calling it embeds a tokenized batch with grad off outside the model."""

    embedder: Embedder
    variant: Variant
    transformer: Callable[..., object]

    def __call__(self, batch: Batch) -> torch.Tensor:
        with self.variant.call_context():
            return self.embedder.embed(batch, self.transformer)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self(self.embedder.tokenize(texts))


def build_variant(embedder: Embedder, name: str, *, backend: str = "inductor", dynamic: bool | None = None,
                  fullgraph: bool = False) -> LadderModel:
    """Build the ladder variant ``name`` over ``embedder``'s transformer (weights are shared, not copied).

    Compilation is lazy: the first call compiles. ``backend="eager"``/``"aot_eager"`` answer
    Dynamo-only questions (graphs, guards) in about a second but cannot freeze.
    """
    chosen = variant(name)
    if not chosen.compiled:
        return LadderModel(embedder, chosen, embedder.transformer)
    if (chosen.freezing or chosen.mode) and backend != "inductor":
        raise RagperfError(f"variant {name!r} needs backend 'inductor' (got backend {backend!r})")
    kwargs: dict[str, object] = {"backend": backend, "dynamic": dynamic, "fullgraph": fullgraph}
    if chosen.mode is not None:
        if embedder.device.type != "cuda":
            raise RagperfError(f"variant {name!r} is for CUDA devices (the embedder is on {embedder.device})")
        kwargs["mode"] = chosen.mode
    return LadderModel(embedder, chosen, torch.compile(embedder.transformer, **kwargs))
