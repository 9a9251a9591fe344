"""Decoder LLMs through their real transformers classes: dummy weights from a config, or a local checkpoint.

The named decoders (random weights, seeded, as PyTorch's and vLLM's own harnesses do) are the decoder
rows of :data:`ragperf.models.registry.MODELS`; any local folder or hub id holding a transformers
causal-LM checkpoint works too (:func:`ragperf.models.registry.resolve_decoder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ragperf import knobs
from ragperf.errors import RagperfError
from ragperf.models.registry import DECODER, DEFAULT, resolve_decoder


@dataclass
class Decoder:
    """A causal LM ready for :mod:`ragperf.models.generation`; ``dummy`` is True for random weights."""

    name: str
    model: nn.Module
    device: torch.device
    dtype: torch.dtype
    dummy: bool

    @property
    def config(self):
        return self.model.config

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    def weight_bytes(self) -> int:
        """Bytes of parameters read per decode step (each weight once; tied weights counted once)."""
        return sum(p.numel() * p.element_size() for p in self.model.parameters())


def load_decoder(spec: str = DEFAULT[DECODER], device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, seed: int = 0) -> Decoder:
    """Load the decoder named by ``spec`` (see :func:`~ragperf.models.registry.resolve_decoder`), in eval mode."""
    source = resolve_decoder(spec)
    knobs.quiet_libraries()
    import transformers

    if isinstance(source, Path):
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise RagperfError(f"cannot load {source} as a causal LM: {str(exc).strip().splitlines()[0]}") from None
        return Decoder(name=spec, model=model.to(device).eval(), device=torch.device(device), dtype=dtype, dummy=False)
    model_type, values = source.config
    config = transformers.AutoConfig.for_model(model_type, **values)
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config).to(dtype)
    return Decoder(name=spec, model=model.eval(), device=torch.device(device), dtype=dtype, dummy=True)


def random_prompts(decoder: Decoder, batch_size: int, length: int, seed: int = 0) -> torch.Tensor:
    """Token ids [batch_size, length] drawn uniformly (seeded): dummy weights need no real text."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, decoder.vocab_size, (batch_size, length), generator=generator)
    return ids.to(decoder.device)


def ragged_prompts(decoder: Decoder, lengths: list[int], seed: int = 0) -> list[torch.Tensor]:
    """One prompt [length] per entry of ``lengths`` (seeded uniform token ids, as :func:`random_prompts`)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(1, decoder.vocab_size, (n,), generator=generator).to(decoder.device) for n in lengths]


def left_pad(prompts: list[torch.Tensor], pad_to: int | None = None, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged prompts as one batch, padded on the left (decode appends on the right): ids and a mask, [B, T].

    ``pad_to`` fixes T (>= the longest prompt) so batches of different length mixes share one shape.
    """
    length = max(len(p) for p in prompts) if pad_to is None else pad_to
    if length < max(len(p) for p in prompts):
        raise RagperfError(f"pad_to {pad_to} is shorter than the longest prompt ({max(len(p) for p in prompts)})")
    ids = torch.full((len(prompts), length), pad_id, dtype=torch.long, device=prompts[0].device)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, length - len(prompt):] = prompt
        mask[row, length - len(prompt):] = 1
    return ids, mask
