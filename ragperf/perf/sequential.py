"""How many lockstep pairs a change needs, planned from the noise the first pairs show, and the sequential rule
that stops as soon as the answer is clear (``--detect``); what a time budget can see (``--budget-s``).

Model. Pair i's *regression* is ``r_i = log(reference speedup_i / candidate speedup_i)`` (a planted slowdown f
gives ``log(1 + f)``); pairs are independent draws - each a fresh pair of processes - ``r_i ~ N(mu, sigma^2)``.
The change to catch, ``detect`` (0.02: the candidate 2% slower), is ``theta = log(1 + detect)``.

* **sigma**: the sample sd of the pairs so far, floored by a pair's own within-run se, raised to its upper
  :data:`SIGMA_CONFIDENCE` confidence bound (``sd * sqrt((n - 1) / chi2.ppf(1 - SIGMA_CONFIDENCE, n - 1))``):
  three pilot pairs often undershoot the spread, and an undershot sigma would promise too few pairs and call
  too early.
* **plan** (the fixed-sample size of a one-sided z-test at false-alarm rate ``alpha`` with power ``power``):
  ``n = ceil(((z(1 - alpha) + z(power)) * sigma / theta)^2)``, at least the pilot's pairs.
* **smallest change n pairs could see** (minimum detectable effect): ``expm1((z(1 - alpha) + z(power)) * se)``
  with ``se`` the comparison's relative se (``sigma / sqrt(n)`` here; :func:`ragperf.perf.ab.judge` shows it
  for every A/B metric).
* **sequential rule** (Wald's SPRT of ``mu = 0`` against ``mu = theta``, sigma re-estimated after every pair):
  ``LLR_n = theta / sigma^2 * sum(r_i - theta / 2)``; FAIL when ``LLR_n >= log(power / alpha)``, PASS when
  ``LLR_n <= log((1 - power) / (1 - alpha))``, else one more pair. No call before the pilot's pairs. Wald's
  bounds keep the error rates near ``alpha`` and ``1 - power`` (false alarms ``<= alpha / power``), and a clear
  answer stops after about half the plan's pairs.
* **truncation**: with no crossing by ``max_pairs`` (``ceil(TRUNCATE x plan)``, at most the cap and what the
  budget affords), the fixed-sample test decides: FAIL when ``mean(r) > z(1 - alpha) * sigma / sqrt(n)``. Its
  false-alarm rate is ``alpha`` at that n; the union with the SPRT's stays near ``alpha`` because a stream that
  reaches the truncation rarely crossed before (measured on synthetic streams in
  ``tests/harness/perf/test_sequential.py``: A/A and planted rates at several noise levels).
* **budget**: the pairs a budget affords are ``floor(budget_s / seconds of one pilot pair)``; the plan is capped
  there, and the outcome says what change those pairs can see.

Every count is bounded: the pilot by its caller, the pairs by :data:`MAX_PAIRS`, a budget and the change to detect
by their option types (:func:`ragperf.argtypes.budget_seconds`, :func:`ragperf.argtypes.detect_fraction`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

ALPHA = 0.05  # false-alarm rate of one sequential comparison
POWER = 0.90  # chance of catching a change of the stated size
SIGMA_CONFIDENCE = 0.8  # sigma is raised to this upper confidence bound of the pairs' sd
TRUNCATE = 1.5  # the sequential test stops at this many times the plan's pairs
MAX_PAIRS = 40  # pairs per case at most (at 45 s a pair: half an hour)
FAIL, PASS = "FAIL", "PASS"


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    """``z(1 - alpha) + z(power)``: the noise units between no change and a change caught with ``power``."""
    return float(stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))


@functools.lru_cache(maxsize=256)
def _inflation(n: int) -> float:
    return math.sqrt((n - 1) / float(stats.chi2.ppf(1 - SIGMA_CONFIDENCE, n - 1)))


def sigma_upper(regressions: list[float], within: float = 0.0) -> float:
    """The pairs' sd (floored by ``within``) raised to its upper :data:`SIGMA_CONFIDENCE` bound."""
    n = len(regressions)
    if n < 2:
        return max(within, 0.0)
    return max(float(np.std(regressions, ddof=1)), within) * _inflation(n)


def pairs_needed(detect: float, sigma: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """The fixed-sample pairs that catch a ``detect`` slowdown with ``power`` at false-alarm rate ``alpha``."""
    return max(1, math.ceil((z_sum(alpha, power) * sigma / math.log1p(detect)) ** 2))


def detectable(se: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest slowdown a comparison of relative se ``se`` catches with ``power`` at rate ``alpha``."""
    return math.expm1(z_sum(alpha, power) * se)


@dataclass
class Outcome:
    """What the sequential rule decided, on how many pairs, and why (``why`` is one line for the report)."""

    status: str
    pairs: int
    planned: int
    max_pairs: int
    sigma: float
    detect: float
    seconds: float
    why: str = ""
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return "; ".join([self.why, *self.notes])


def regression(reference: dict, candidate: dict) -> float:
    """One pair's regression of the speedup: ``log(reference / candidate)`` (positive: the candidate slower)."""
    return math.log(reference["speedup"] / candidate["speedup"])


def run(next_pair: Callable[[], tuple[dict, dict]], detect: float | None, *, pilot: int = 3,
        budget_s: float | None = None, alpha: float = ALPHA, power: float = POWER, cap: int = MAX_PAIRS,
        clock: Callable[[], float] = time.monotonic) -> tuple[list[dict], list[dict], Outcome]:
    """Pairs from ``next_pair()`` (one pair's reference and candidate figures) until the answer is clear: the
    pilot's ``pilot`` pairs, then - with ``detect`` - the sequential rule, or - with only ``budget_s`` - the pairs
    the budget affords. Returns (reference figures, candidate figures, the outcome) in pair order."""
    reference, candidate = [], []
    start = clock()
    for _ in range(min(pilot, cap)):
        ref, cand = next_pair()
        reference.append(ref)
        candidate.append(cand)
    per_pair = (clock() - start) / len(reference)
    within = float(np.median([math.hypot(r.get("speedup_se", 0.0), c.get("speedup_se", 0.0))
                              for r, c in zip(reference, candidate, strict=True)]))
    afford = max(len(reference), math.floor(budget_s / per_pair)) if budget_s and per_pair > 0 else cap
    limit = min(cap, afford)
    values = [regression(r, c) for r, c in zip(reference, candidate, strict=True)]
    sigma = sigma_upper(values, within)
    theta = math.log1p(detect) if detect else None
    planned = pairs_needed(detect, sigma, alpha, power) if detect else limit
    max_pairs = max(len(values), min(limit, math.ceil(TRUNCATE * planned))) if detect else limit
    notes = [f"noise of one pair {sigma:.2%} (upper {SIGMA_CONFIDENCE:.0%} bound, from {len(values)} pairs), "
             f"{per_pair:.0f} s a pair"]
    if detect and planned > limit:
        reach = detectable(sigma / math.sqrt(limit), alpha, power)
        notes.append(f"a {detect:.1%} change needs {planned} pairs at this noise; "
                     f"{'the budget affords' if afford < cap else 'capped at'} {limit}: the smallest change "
                     f"{limit} pairs can see is {reach:.1%}")
    elif budget_s:
        notes.append(f"the budget of {budget_s:.0f} s affords {afford} pairs: the smallest change they can see is "
                     f"{detectable(sigma / math.sqrt(min(afford, cap)), alpha, power):.1%}")
    upper, lower = math.log(power / alpha), math.log((1 - power) / (1 - alpha))
    while True:
        n = len(values)
        sigma = sigma_upper(values, within)
        if theta is not None and sigma > 0:
            llr = theta / sigma**2 * sum(v - theta / 2 for v in values)
            if llr >= upper or llr <= lower:
                status = FAIL if llr >= upper else PASS
                why = (f"sequential test: {status} after {n} pairs (planned {planned} for a {detect:.1%} change at "
                       f"{alpha:.0%} false alarms, {power:.0%} power; log-likelihood ratio {llr:+.2f}, stops at "
                       f"{lower:+.2f} / {upper:+.2f})")
                break
        if n >= max_pairs:
            se = sigma / math.sqrt(n)
            mean = float(np.mean(values))
            status = FAIL if theta is not None and mean > stats.norm.ppf(1 - alpha) * se else PASS
            why = (f"{'no early stop: the fixed-sample test at' if theta is not None else 'measured'} {n} pairs "
                   f"(mean slowdown {math.expm1(mean):+.2%}, se {se:.2%})")
            if theta is None:
                status = ""  # a budget alone measures; the gate's rule judges
            break
        ref, cand = next_pair()
        reference.append(ref)
        candidate.append(cand)
        values.append(regression(ref, cand))
    outcome = Outcome(status, len(values), planned, max_pairs, sigma, detect or 0.0, clock() - start, why, notes)
    return reference, candidate, outcome
