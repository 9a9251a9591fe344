"""An interleaved A/B gate: the candidate judged against a reference measured in the same minutes, not a stored baseline.

Why: on the 2-core VM a speedup's level moved 1.4-4.1% between sessions of one VM boot, and 1.6-2.2% within
40 minutes (docs/perf.md), as much as the 5% a release gate must see; no stored figure can tell such a drift
from a regression. Measuring the reference (the previous torch's environment, say) alternately with the
candidate cancels it, leaving only the draw of each fresh process (memory layout, thread placement).

* **Order**: ``pairs`` reference and ``pairs`` candidate processes, one after another (never side by side),
  in ABBA order - reference, candidate, candidate, reference, ... - so a linear drift cancels in each
  pair of pairs. Each process interleaves eager and compiled as every gated case does
  (``python -m ragperf.perf.cases``), on its own interpreter.
* **Estimate**: the Hodges-Lehmann shift - the median of all candidate/reference ratios of per-process
  values, taken on logs - which keeps the median's robustness to one odd process at nearly the mean's
  efficiency (``sqrt(pi/3)`` = 1.023 x the mean's se under a normal spread, against the median's 1.2533).
* **se**: ``1.023 x sd x sqrt(1/n + 1/m)``, ``sd`` the robust spread of both sides' values around their own
  side's median (:func:`ragperf.perf.processes.spread`), floored by the processes' own within-run se.
  There is no drift term: the reference shares the session.
* **Rule**: the stored gate's (:func:`ragperf.perf.gate.judge` on the candidate's value against the
  reference's, the noise being this comparison's se), and a suspect is settled like the stored gate's: ``pairs``
  more pairs are measured and the suspect judged again on all of them pooled.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ragperf.perf import gate
from ragperf.perf.processes import spread

DEFAULT_PAIRS = 5  # reference and candidate processes per case; docs/perf.md "An interleaved reference" says why
# Interleaved rounds per process where the A/B gate's default differs from the stored gate's: decode's values spread
# 1.9% within one process at 30 rounds (the MiniLM rungs' 0.7-1.1% at 60); a planted 5% was caught 7/10 at 30
# rounds, 8/10 at 90 (5 pairs, docs/perf.md); an A/B process is mostly its compile, so 60 more rounds cost ~3 s.
ROUNDS = {"decode": 90}
HL_EFFICIENCY = math.sqrt(math.pi / 3)  # 1.023: se(Hodges-Lehmann shift) / se(difference of means), normal spread
REFERENCE, CANDIDATE = "reference", "candidate"
# (figures key, its within-run se key, metric suffix, gate kind): what an A/B run gates, as the stored gate does.
METRICS = (("speedup", "speedup_se", "speedup", "speedup"), ("median_s", "latency_se", "median_s", "latency"))


def order(pairs: int) -> list[str]:
    """The sides of ``2 * pairs`` processes in ABBA order: a drift linear in time cancels in every 4."""
    first, second = (REFERENCE, CANDIDATE), (CANDIDATE, REFERENCE)
    return [side for i in range(pairs) for side in (first if i % 2 == 0 else second)]


def with_rounds(case, rounds: int | None = None):
    """``case`` as the A/B gate measures it: ``rounds`` when given, else :data:`ROUNDS` of its kind (else its own)."""
    return replace(case, rounds=rounds or ROUNDS.get(case.kind, case.rounds))


def measure(case, pairs: int, reference: str, candidate: str | None = None, *, slowdown: float = 0.0,
            progress: Callable[[str], None] | None = None) -> tuple[list[dict], list[dict]]:
    """``case`` in ``pairs`` reference and ``pairs`` candidate processes (ABBA order): their figures, per side.
    ``slowdown`` is planted in the candidate's processes only."""
    from ragperf.subproc import run_json

    sides: dict[str, list[dict]] = {REFERENCE: [], CANDIDATE: []}
    for i, side in enumerate(order(pairs)):
        if progress:
            progress(f"{case.prefix}: process {i + 1}/{2 * pairs} ({side})")
        python, planted = (reference, 0.0) if side == REFERENCE else (candidate or sys.executable, slowdown)
        sides[side].append(run_json("ragperf.perf.cases", case.args(planted), python=python))
    return sides[REFERENCE], sides[CANDIDATE]


def shift(reference: list[float], candidate: list[float], within: float = 0.0) -> tuple[float, float]:
    """(candidate/reference - 1 by the Hodges-Lehmann estimate, its relative se); ``within``: the processes'
    own relative se, the floor of the per-process spread."""
    ref, cand = np.log(reference), np.log(candidate)
    change = math.expm1(float(np.median(np.subtract.outer(cand, ref))))
    around = [*(np.asarray(reference) / np.median(reference)), *(np.asarray(candidate) / np.median(candidate))]
    sd = max(spread(around), within)
    return change, HL_EFFICIENCY * sd * math.sqrt(1 / len(ref) + 1 / len(cand))


def judge(prefix: str, reference: list[dict], candidate: list[dict], source: str = "", **rules) -> list[gate.Decision]:
    """Each metric of :data:`METRICS`: the candidate's processes against the reference's, by the gate's rule."""
    decisions = []
    for key, se_key, suffix, kind in METRICS:
        name = f"{prefix}/{suffix}"
        ref, cand = [f[key] for f in reference], [f[key] for f in candidate]
        within = statistics.median(f[se_key] for f in [*reference, *candidate])
        change, se = shift(ref, cand, within)
        level = statistics.median(ref)
        value = level * (1 + change)
        interval = (value * (1 - 1.96 * se), value * (1 + 1.96 * se)) if kind == "speedup" else (None, None)
        measured = gate.Measurement(name, kind, value, se, *interval, processes=cand)
        base = {"kind": kind, "value": level, "se": 0.0}  # the reference's noise is inside the shift's se
        decisions.append(gate.judge(measured, base, source=source, **rules))
    return decisions


def decide(prefix: str, measure: Callable[[], tuple[list[dict], list[dict]]], source: str = "",
           report_only: dict[str, str] | None = None, **rules) -> list[gate.Decision]:
    """One A/B judgement of ``measure()``'s (reference, candidate) figures; a suspect is settled on a second
    ``measure()`` pooled with the first (:func:`ragperf.perf.gate.settle`). ``report_only`` metrics (name ->
    the measured reason) are judged and shown but never fail."""
    reference, candidate = measure()
    decisions = gate.report_only(judge(prefix, reference, candidate, source, **rules), report_only)
    if not any(d.status in gate.SUSPECT for d in decisions):
        return decisions
    more_reference, more_candidate = measure()
    again = {d.metric: d for d in judge(prefix, reference + more_reference, candidate + more_candidate, source,
                                        **rules)}
    how = f"in {len(more_reference)} more pairs of processes, judged pooled"
    return [gate.settle(d, again[d.metric], how) if d.status in gate.SUSPECT else d for d in decisions]
