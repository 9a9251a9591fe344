"""The clocks every timing in ragperf reads: a synchronized wall clock, and a sync-free step clock."""

from __future__ import annotations

import itertools
import time


def now(device=None) -> float:
    """perf_counter, after synchronizing ``device`` if it is a GPU."""
    if device is not None and getattr(device, "type", device) == "cuda":
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


class StepClock:
    """Marks between steps; :meth:`intervals` gives the seconds between consecutive marks.

    On CUDA a mark records an event on the current stream and never blocks the host: the only
    synchronization is the one in :meth:`intervals` (one per generation), so launch latency that
    CUDA graphs hide is not put back by the timer. Elsewhere a mark reads perf_counter.
    """

    def __init__(self, device=None) -> None:
        self.cuda = device is not None and getattr(device, "type", device) == "cuda"
        self._marks: list = []

    def mark(self) -> None:
        if self.cuda:
            import torch

            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append(event)
        else:
            self._marks.append(time.perf_counter())

    def intervals(self) -> list[float]:
        if self.cuda:
            if self._marks:
                self._marks[-1].synchronize()
            return [a.elapsed_time(b) / 1e3 for a, b in itertools.pairwise(self._marks)]
        return [b - a for a, b in itertools.pairwise(self._marks)]
