"""Interleaved timing: eager and candidates measured side by side in one process, reported as ratios.

Noise between processes and machines dwarfs noise within a run, so every comparison here is made
inside one process, in randomized round order, and the speedup comes with a bootstrap confidence
interval over rounds.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Samples:
    """Per-call seconds for one function, in the order measured."""

    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p90(self) -> float:
        return float(np.percentile(self.seconds, 90))


@dataclass
class Speedup:
    """baseline median / candidate median, with a bootstrap confidence interval over paired rounds."""

    ratio: float
    low: float
    high: float
    confidence: float

    @property
    def noise(self) -> float:
        """Half-width of the interval relative to the ratio: the measurement's own noise."""
        return (self.high - self.low) / 2 / self.ratio


def now(device=None) -> float:
    """perf_counter, after synchronizing ``device`` if it is a GPU."""
    if device is not None and getattr(device, "type", device) == "cuda":
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, *, calls_per_round: int = 1,
                seed: int = 0, device=None) -> dict[str, Samples]:
    """Time each function ``rounds`` times, the order shuffled every round; a sample is one call's mean."""
    order = list(fns)
    rng = random.Random(seed)
    out = {name: Samples(name, []) for name in order}
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            fn = fns[name]
            start = now(device)
            for _ in range(calls_per_round):
                fn()
            out[name].seconds.append((now(device) - start) / calls_per_round)
    return out


def speedup(baseline: Samples, candidate: Samples, confidence: float = 0.95, seed: int = 0) -> Speedup:
    """Median ratio baseline/candidate with a paired bootstrap interval (rounds resampled together)."""
    from scipy.stats import bootstrap

    base = np.asarray(baseline.seconds)
    cand = np.asarray(candidate.seconds)
    ratio = float(np.median(base) / np.median(cand))
    if len(base) < 3:
        return Speedup(ratio, ratio, ratio, confidence)
    result = bootstrap((base, cand), lambda b, c, axis=-1: np.median(b, axis=axis) / np.median(c, axis=axis),
                       paired=True, vectorized=True, confidence_level=confidence, n_resamples=2000,
                       method="percentile", random_state=np.random.default_rng(seed))
    interval = result.confidence_interval
    return Speedup(ratio, float(interval.low), float(interval.high), confidence)
