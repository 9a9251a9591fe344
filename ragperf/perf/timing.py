"""Interleaved timing: eager and candidates measured side by side in one process, reported as ratios.

Noise between processes and machines dwarfs noise within a run, so every comparison here is made
inside one process, in randomized round order, and the speedup comes with a bootstrap confidence
interval over rounds.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ragperf.errors import RagperfError
from ragperf.perf import clocks


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

    @property
    def se(self) -> float:
        """Relative standard error of the ratio, read off the interval (half-width / z)."""
        from scipy.stats import norm

        return self.noise / float(norm.ppf(0.5 + self.confidence / 2))


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, *, calls_per_round: int = 1,
                seed: int = 0, device=None) -> dict[str, Samples]:
    """Time each function ``rounds`` times, the order shuffled every round; a sample is one call's mean."""
    order = list(fns)
    rng = random.Random(seed)
    now = clocks.active().now
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
    """Median of the per-round ratios baseline/candidate, with a bootstrap interval over rounds.

    Rounds are paired (both timed back to back in random order), so a load burst that hits a
    whole round cancels in its ratio instead of widening the interval.
    """
    from scipy.stats import bootstrap

    ratios = np.asarray(baseline.seconds) / np.asarray(candidate.seconds)
    ratio = float(np.median(ratios))
    if len(ratios) < 3:
        return Speedup(ratio, ratio, ratio, confidence)
    result = bootstrap((ratios,), lambda r, axis=-1: np.median(r, axis=axis), vectorized=True,
                       confidence_level=confidence, n_resamples=2000, method="percentile",
                       random_state=np.random.default_rng(seed))
    interval = result.confidence_interval
    return Speedup(ratio, float(interval.low), float(interval.high), confidence)


# --- the measurement core: warm up, interleave, and report a comparison -------------------------


def compile_count() -> int:
    """Graphs Dynamo has compiled in this process so far (``counters["recompiles"]`` is never filled on 2.13)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def warm_up(fns: dict[str, Callable[[], object]], *, stable_calls: int = 3, max_calls: int = 30) -> int:
    """Call every function until ``stable_calls`` calls in a row compile nothing; returns the calls made.

    Raises RagperfError when compiles keep coming after ``max_calls``: timing such a model measures
    the compiler, not the model.
    """
    quiet = 0
    for calls in range(1, max_calls + 1):
        before = compile_count()
        for fn in fns.values():
            fn()
        quiet = quiet + 1 if compile_count() == before else 0
        if quiet >= stable_calls:
            return calls
    raise RagperfError(f"still compiling after {max_calls} warm-up calls ({compile_count()} graphs): the "
                       "candidate recompiles on every call; fix its shapes/guards before timing it")


def slowed(fn: Callable[[], object], fraction: float) -> Callable[[], object]:
    """``fn`` made ``fraction`` slower by spinning after each call: a planted regression to prove the gate."""
    if fraction <= 0:
        return fn
    clock = clocks.active()

    def slow():
        start = clock.now()
        result = fn()
        clock.spin_until(start + (clock.now() - start) * (1 + fraction))
        return result

    return slow


def interleaved_benchmark(benchmark, eager: Callable[[], object], candidate: Callable[[], object], rounds: int,
                          *, calls_per_round: int = 1, seed: int = 0, device=None) -> dict[str, Samples]:
    """Like :func:`interleaved` for two functions, with pytest-benchmark's fixture timing the candidate.

    Each round runs eager in ``setup`` or ``teardown`` (chosen at random), so the rounds stay
    randomized and interleaved while ``--benchmark-json`` receives the candidate's stats (per round
    of ``calls_per_round`` calls).
    """
    rng = random.Random(seed)
    now = clocks.active().now
    out = {"eager": Samples("eager", []), "candidate": Samples("candidate", [])}

    def time_into(name, fn):
        start = now(device)
        for _ in range(calls_per_round):
            fn()
        out[name].seconds.append((now(device) - start) / calls_per_round)

    def before():
        if rng.random() < 0.5:
            time_into("eager", eager)

    def after():
        if len(out["eager"].seconds) < len(out["candidate"].seconds):
            time_into("eager", eager)

    benchmark.pedantic(lambda: time_into("candidate", candidate), setup=before, teardown=after,
                       rounds=rounds, iterations=1, warmup_rounds=0)
    if len(out["candidate"].seconds) < rounds:  # --benchmark-disable runs the target once
        return interleaved({"eager": eager, "candidate": candidate}, rounds, calls_per_round=calls_per_round,
                           seed=seed, device=device)
    return out


@dataclass
class Comparison:
    """Eager vs one compiled candidate, measured side by side after warm-up."""

    eager: Samples
    candidate: Samples
    speedup: Speedup
    first_call_s: float
    warmup_calls: int
    graphs: int
    recompiles_while_timed: int
    calls_per_round: int = 1

    @property
    def saving_s(self) -> float:
        return self.eager.median - self.candidate.median

    @property
    def break_even_calls(self) -> float:
        """Calls after which compiling has paid for itself: first call's extra cost / per-call saving."""
        extra = self.first_call_s - self.candidate.median
        return extra / self.saving_s if self.saving_s > 0 else float("inf")

    def figures(self) -> dict:
        """JSON-ready figures (for ``benchmark.extra_info`` and the child-process protocol)."""
        return {
            "speedup": self.speedup.ratio, "speedup_low": self.speedup.low, "speedup_high": self.speedup.high,
            "speedup_se": self.speedup.se, "confidence": self.speedup.confidence,
            "eager_median_s": self.eager.median, "eager_p90_s": self.eager.p90,
            "median_s": self.candidate.median, "p90_s": self.candidate.p90,
            "latency_se": latency_se(self.candidate),
            "rounds": len(self.candidate.seconds), "first_call_s": self.first_call_s,
            "break_even_calls": self.break_even_calls, "warmup_calls": self.warmup_calls,
            "graphs": self.graphs, "recompiles_while_timed": self.recompiles_while_timed,
            "calls_per_round": self.calls_per_round,
        }


def latency_se(samples: Samples) -> float:
    """Relative standard error of the median (normal approximation from the IQR)."""
    q1, q3 = np.percentile(samples.seconds, [25, 75])
    sigma = (q3 - q1) / 1.349
    return float(1.2533 * sigma / np.sqrt(len(samples.seconds)) / samples.median)


def prepare(eager: Callable[[], object], candidate: Callable[[], object], device=None,
            block_s: float = 0.01) -> tuple[float, int, int, int]:
    """Ready two functions for timing: the candidate's first call timed (its compile), warm-up until quiet
    (:func:`warm_up`), the graphs compiled so far and the calls per round (:func:`calls_per_round`) - as
    ``(first_call_s, warmup_calls, graphs, calls)``."""
    now = clocks.active().now
    start = now(device)
    candidate()
    first_call_s = now(device) - start
    warmup_calls = warm_up({"eager": eager, "candidate": candidate})
    return first_call_s, warmup_calls, compile_count(), calls_per_round(eager, device, block_s)


def calls_per_round(fn: Callable[[], object], device=None, block_s: float = 0.01) -> int:
    """Calls of ``fn`` that last about ``block_s`` seconds (1-100): a round that long averages out timer and
    scheduler jitter."""
    probe = interleaved({"fn": fn}, 3, device=device)["fn"].median
    return max(1, min(100, round(block_s / max(probe, 1e-6))))


def check_quiet(recompiles: int, warmup_calls: int) -> None:
    """Raise RagperfError when graphs compiled while timing: those timings include compile time."""
    if recompiles:
        raise RagperfError(f"{recompiles} graph(s) compiled while timing, after {warmup_calls} quiet warm-up "
                           "calls: the timings include compile time; find the recompile with "
                           "TORCH_LOGS=recompiles")


def compare(eager: Callable[[], object], candidate: Callable[[], object], rounds: int, *, seed: int = 0,
            device=None, benchmark=None, slowdown: float = 0.0, block_s: float = 0.01) -> Comparison:
    """Time ``candidate`` against ``eager``: first call (compile), warm-up until no more compiles, then
    ``rounds`` randomized interleaved rounds with no compile allowed, and the speedup with its CI.

    ``benchmark`` (pytest-benchmark's fixture) times the candidate arm too; ``slowdown`` plants a
    regression of that fraction in the candidate (see :func:`slowed`). A round times enough calls
    of each function to last about ``block_s`` seconds, so timer and scheduler jitter average out.
    Under :mod:`ragperf.perf.clocks`' virtual clock (tests) every figure is exact.
    """
    clock = clocks.active()
    eager, candidate = clock.charged(eager), slowed(clock.charged(candidate), slowdown)
    first_call_s, warmup_calls, graphs, calls = prepare(eager, candidate, device, block_s)
    if benchmark is not None:
        samples = interleaved_benchmark(benchmark, eager, candidate, rounds, calls_per_round=calls, seed=seed,
                                        device=device)
    else:
        samples = interleaved({"eager": eager, "candidate": candidate}, rounds, calls_per_round=calls, seed=seed,
                              device=device)
    recompiles = compile_count() - graphs
    check_quiet(recompiles, warmup_calls)
    return Comparison(samples["eager"], samples["candidate"], speedup(samples["eager"], samples["candidate"], seed=seed),
                      first_call_s, warmup_calls, graphs, recompiles, calls)
