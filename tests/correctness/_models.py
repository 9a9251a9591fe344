"""Shared by the correctness tests: skipping (with the reason) a check a model cannot take."""

import pytest
import torch

from ragperf.models.under_test import label


def require_pooler_output(embedder) -> None:
    """Skip unless ``embedder``'s transformer returns a ``pooler_output`` (BERT's pooler; DistilBERT has none)."""
    with torch.no_grad():
        out = embedder.transformer(**embedder.tokenize(["pooler probe"]))
    if getattr(out, "pooler_output", None) is None:
        pytest.skip(f"{label(embedder.name)}'s transformer ({type(embedder.transformer).__name__}) returns no pooler_output: "
                    "the seed's pooler_output embedding does not exist for it")


def build_generator_or_skip(decoder, mode: str, **kwargs):
    """``build_generator(decoder, mode)``; a reference mode (a plain-PyTorch Llama) on a decoder it does not
    implement skips with the reason, as the mode is tied to Llama by nature."""
    from ragperf.errors import RagperfError
    from ragperf.models import decode_modes
    from ragperf.models.generation import build_generator

    try:
        return build_generator(decoder, mode, **kwargs)
    except RagperfError as exc:
        if decode_modes.mode(mode).family != "reference":
            raise
        pytest.skip(f"{mode} mirrors Llama, not {label(decoder.name)}: {exc}")
