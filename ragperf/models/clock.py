"""The device-synchronized wall clock every timing in ragperf reads."""

from __future__ import annotations

import time


def now(device=None) -> float:
    """perf_counter, after synchronizing ``device`` if it is a GPU."""
    if device is not None and getattr(device, "type", device) == "cuda":
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()
