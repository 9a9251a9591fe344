"""Decoder LLMs through their real transformers classes: dummy weights from a config, or a local checkpoint.

Named decoders (random weights, seeded, as PyTorch's and vLLM's own harnesses do):

=================  =============================================================
``tiny-gpt2``      GPT2LMHeadModel, 2 layers, hidden 64 - for tests
``tiny-llama``     LlamaForCausalLM, 2 layers, hidden 64, GQA 4/2 heads - for tests
``gpt2``           GPT-2 124M shapes
``llama-3.2-1b``   Llama-3.2-1B shapes (16 layers, hidden 2048, GQA 32/8, vocab 128256)
=================  =============================================================

Any local folder with a transformers causal-LM checkpoint works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ragperf import knobs
from ragperf.errors import RagperfError

_TINY = {"vocab_size": 1000, "bos_token_id": 0, "eos_token_id": 0}

DECODER_CONFIGS: dict[str, tuple[str, dict]] = {
    "tiny-gpt2": ("gpt2", {**_TINY, "n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 512,
                           "initializer_range": 0.2}),
    "tiny-llama": ("llama", {**_TINY, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
                             "initializer_range": 0.2}),
    "gpt2": ("gpt2", {}),  # GPT2Config() defaults are GPT-2 124M
    "llama-3.2-1b": ("llama", {
        "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": 128001,
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 8192},
    }),
}
DECODER_NAMES = tuple(DECODER_CONFIGS)


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


def load_decoder(spec: str = "tiny-llama", device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, seed: int = 0) -> Decoder:
    """Load the decoder named by ``spec`` (a name above or a local checkpoint folder), in eval mode."""
    knobs.quiet_libraries()
    import transformers

    if spec in DECODER_CONFIGS:
        family, overrides = DECODER_CONFIGS[spec]
        config_cls, model_cls = {"gpt2": (transformers.GPT2Config, transformers.GPT2LMHeadModel),
                                 "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM)}[family]
        config = config_cls(**overrides)
        torch.manual_seed(seed)
        with torch.device(device):
            model = model_cls(config).to(dtype)
        dummy = True
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise RagperfError(f"unknown decoder {spec!r}: not one of {', '.join(DECODER_NAMES)} "
                               "and no such local checkpoint folder")
        if not (path / "config.json").exists():
            raise RagperfError(f"{path} is not a model folder: it has no config.json")
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise RagperfError(f"cannot load {path} as a causal LM: {str(exc).strip().splitlines()[0]}") from None
        model = model.to(device)
        dummy = False
    return Decoder(name=spec, model=model.eval(), device=torch.device(device), dtype=dtype, dummy=dummy)


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
