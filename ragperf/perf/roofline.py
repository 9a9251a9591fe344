"""How close a decode step comes to the GPU's memory-bandwidth roofline.

At batch 1 a decode step reads every weight once plus the KV cache written so far; nothing else
comes close in bytes, so ``bytes_read / step_time`` against the GPU's peak bandwidth says how much of
the hardware the step uses. Peak figures are the vendors' datasheet numbers for the named boards;
:func:`measured_copy_bandwidth` gives the achievable figure on the machine at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ragperf.models.decoders import Decoder

# Datasheet peak memory bandwidth in bytes/s, matched against torch.cuda.get_device_name().
PEAK_BANDWIDTH = (
    ("H200", 4.8e12),
    ("H100 80GB HBM3", 3.35e12),  # SXM
    ("H100 PCIe", 2.0e12),
    ("H100 NVL", 3.9e12),
    ("A100-SXM4-80GB", 2.039e12),
    ("A100 80GB PCIe", 1.935e12),
    ("A100-SXM4-40GB", 1.555e12),
    ("L40S", 0.864e12),
    ("A10G", 0.6e12),
    ("L4", 0.3e12),
)


@dataclass(frozen=True)
class Roofline:
    bytes_per_token: float
    seconds_per_token: float
    peak_bytes_per_s: float

    @property
    def achieved_bytes_per_s(self) -> float:
        return self.bytes_per_token / self.seconds_per_token

    @property
    def fraction(self) -> float:
        return self.achieved_bytes_per_s / self.peak_bytes_per_s


def peak_bandwidth(device_name: str) -> float | None:
    """Datasheet bandwidth of the named GPU, or None when ragperf does not know the board."""
    return next((bw for key, bw in PEAK_BANDWIDTH if key in device_name), None)


def kv_cache_bytes(decoder: Decoder, batch: int, positions: int) -> int:
    """Bytes of K and V held for ``positions`` tokens of ``batch`` sequences (all layers)."""
    config = decoder.config
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    element = torch.empty((), dtype=decoder.dtype).element_size()
    return 2 * layers * batch * kv_heads * head_dim * positions * element


def decode_bytes_per_token(decoder: Decoder, batch: int, prompt_len: int, new_tokens: int) -> float:
    """Mean bytes read per decode step: all weights, plus the KV cache at the step's mean position."""
    mean_position = prompt_len + new_tokens / 2
    return decoder.weight_bytes() + kv_cache_bytes(decoder, batch, round(mean_position))


def decode_roofline(decoder: Decoder, batch: int, prompt_len: int, new_tokens: int, seconds_per_token: float,
                    peak_bytes_per_s: float) -> Roofline:
    return Roofline(decode_bytes_per_token(decoder, batch, prompt_len, new_tokens), seconds_per_token,
                    peak_bytes_per_s)


def measured_copy_bandwidth(device: torch.device, megabytes: int = 1024, repeats: int = 10) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second) on ``device``."""
    src = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    torch.cuda.synchronize(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        dst.copy_(src)
    end.record()
    torch.cuda.synchronize(device)
    return 2 * src.numel() * repeats / (start.elapsed_time(end) / 1e3)
