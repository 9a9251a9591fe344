"""An interleaved A/B gate: the candidate judged against a reference measured in the same minutes, not a stored baseline.

Why: on the 2-core VM a speedup's level moved 1.4-4.1% between sessions of one VM boot, and 1.6-2.2% within
40 minutes (docs/perf.md), as much as the 5% a release gate must see; no stored figure can tell such a drift
from a regression. Measuring the reference (the previous torch's environment, say) with the candidate cancels it.

* **Pairs**: every case is measured in ``pairs`` pairs of processes, a reference process on the reference's
  interpreter and a candidate process on the candidate's, alive at once and timed round by round on the same
  core (:mod:`ragperf.perf.lockstep`): one pair sees one state of the machine, so its two speedups move together.
  Pairs run one after another; a fresh pair is a fresh draw of process and machine state.
* **Estimate**: the Hodges-Lehmann estimate of the pairs' candidate/reference log ratios (the median of their
  pairwise means): a median's robustness to one odd pair at nearly the mean's efficiency (``sqrt(pi/3)`` =
  1.023 x the mean's se under a normal spread, against the median's 1.2533).
* **se**: ``1.023 x sd / sqrt(pairs)``, ``sd`` the robust spread of the pairs' ratios
  (:func:`ragperf.perf.processes.spread`), floored by a pair's own within-run se. No drift term: the
  reference shares the session, and each pair the minute.
* **Rule**: the stored gate's (:func:`ragperf.perf.gate.judge` on the candidate's value against the
  reference's, the noise being this comparison's se), and a suspect is settled like the stored gate's: ``pairs``
  more pairs are measured and the suspect judged again on all of them pooled.
* **Planned** (:func:`decide_planned`; ``--detect`` / ``--budget-s``): the pairs are not fixed but planned from
  the noise the first ``pairs`` show - as many as a change of the stated size needs at the stated false-alarm
  rate, stopping early when the answer is clear (:mod:`ragperf.perf.sequential`), or as many as a time budget
  affords. Every A/B metric's message says the smallest change its pairs could have seen.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ragperf.perf import gate, lockstep, sequential
from ragperf.perf.lockstep import CANDIDATE, REFERENCE
from ragperf.perf.processes import spread

DEFAULT_PAIRS = 3  # lockstep pairs per case; docs/perf.md "An interleaved reference" has the campaigns behind it
# Interleaved rounds a side per pair where the A/B gate's default differs from the stored gate's: decode's values
# spread 1.9% within one process at 30 rounds (the MiniLM rungs' 0.7-1.1% at 60); its lockstep campaign ran 90.
ROUNDS = {"decode": 90}
HL_EFFICIENCY = math.sqrt(math.pi / 3)  # 1.023: se(Hodges-Lehmann shift) / se(difference of means), normal spread
# (figures key, its within-run se key, metric suffix, gate kind): what an A/B run gates, as the stored gate does.
METRICS = (("speedup", "speedup_se", "speedup", "speedup"), ("median_s", "latency_se", "median_s", "latency"))


@dataclass(frozen=True)
class Environments:
    """The two interpreters of an A/B gate, checked: each runs ragperf's lockstep worker, both speak one protocol."""

    reference: str
    candidate: str
    versions: dict[str, dict]  # side -> interpreters.probe's findings (torch, transformers, ...)

    def describe(self, side: str) -> str:
        found = self.versions[side]
        return f"{getattr(self, side)} (torch {found['torch']}, transformers {found['transformers']})"


def environments(reference: str, candidate: str | None = None) -> Environments:
    """``reference`` and ``candidate`` (default: this interpreter), each a python or a venv folder, resolved and
    probed once; one line when one cannot run the worker or the two speak different protocols."""
    from ragperf import interpreters
    from ragperf.errors import RagperfError

    pythons = {REFERENCE: interpreters.resolve(reference),
               CANDIDATE: interpreters.resolve(candidate) if candidate else sys.executable}
    found = {side: interpreters.probe(python, python, lockstep.__name__) for side, python in pythons.items()}
    if found[REFERENCE]["schema"] != found[CANDIDATE]["schema"]:
        raise RagperfError(f"the reference's ragperf ({found[REFERENCE]['ragperf']}) speaks "
                           f"{found[REFERENCE]['schema']}, the candidate's {found[CANDIDATE]['schema']}: "
                           "install the same ragperf on both sides (or PYTHONPATH=CHECKOUT for both)")
    return Environments(pythons[REFERENCE], pythons[CANDIDATE], found)


def with_rounds(case, rounds: int | None = None):
    """``case`` as the A/B gate measures it: ``rounds`` when given, else :data:`ROUNDS` of its kind (else its own)."""
    return replace(case, rounds=rounds or ROUNDS.get(case.kind, case.rounds))


def measure(case, pairs: int, reference: str, candidate: str | None = None, *, slowdown: float = 0.0,
            progress: Callable[[str], None] | None = None) -> tuple[list[dict], list[dict]]:
    """``case`` in ``pairs`` lockstep pairs of processes: the figures of each pair's reference and candidate, as
    two lists in pair order. ``slowdown`` is planted in the candidate's processes only."""
    blocks = []
    for i in range(pairs):
        if progress:
            progress(f"{case.prefix}: pair {i + 1}/{pairs} of lockstep processes")
        blocks += lockstep.pair(case, reference, candidate or sys.executable, [slowdown])
    return sides(blocks)


def sides(blocks: list[dict]) -> tuple[list[dict], list[dict]]:
    """Lockstep ``blocks`` (:func:`ragperf.perf.lockstep.pair`) as :func:`measure` returns them: (reference figures,
    candidate figures), paired by position."""
    return [b[REFERENCE] for b in blocks], [b[CANDIDATE] for b in blocks]


def shift(reference: list[float], candidate: list[float], within: float = 0.0) -> tuple[float, float]:
    """(candidate/reference - 1 by the Hodges-Lehmann estimate over the pairs, its relative se); the lists are
    paired (pair i's reference and candidate); ``within``: a pair's own relative se, the floor of the spread."""
    ratios = np.log(candidate) - np.log(reference)
    walsh = [(a + b) / 2 for i, a in enumerate(ratios) for b in ratios[i:]]
    sd = max(spread(list(np.exp(ratios))), within)
    return math.expm1(float(np.median(walsh))), HL_EFFICIENCY * sd / math.sqrt(len(ratios))


def judge(prefix: str, reference: list[dict], candidate: list[dict], source: str = "", **rules) -> list[gate.Decision]:
    """Each metric of :data:`METRICS`: the candidate's processes against the reference's, by the gate's rule."""
    decisions = []
    for key, se_key, suffix, kind in METRICS:
        name = f"{prefix}/{suffix}"
        ref, cand = [f[key] for f in reference], [f[key] for f in candidate]
        within = statistics.median(math.hypot(r[se_key], c[se_key]) for r, c in zip(reference, candidate, strict=True))
        change, se = shift(ref, cand, within)
        level = statistics.median(ref)
        value = level * (1 + change)
        interval = (value * (1 - 1.96 * se), value * (1 + 1.96 * se)) if kind == "speedup" else (None, None)
        measured = gate.Measurement(name, kind, value, se, *interval, processes=cand)
        base = {"kind": kind, "value": level, "se": 0.0}  # the reference's noise is inside the shift's se
        decision = gate.judge(measured, base, source=source, **rules)
        decision.message += (f"; the smallest change {len(ref)} pairs could see: {sequential.detectable(se):.1%} "
                             f"({sequential.ALPHA:.0%} false alarms, {sequential.POWER:.0%} power)")
        decisions.append(decision)
    return decisions


def decide(prefix: str, measure: Callable[[], tuple[list[dict], list[dict]]], source: str = "",
           report_only: dict[str, str] | None = None, suspect: Callable[[gate.Decision], bool] | None = None,
           **rules) -> list[gate.Decision]:
    """One A/B judgement of ``measure()``'s (reference, candidate) figures; a suspect (``suspect(decision)``,
    default: the gate's suspect statuses) is settled on a second ``measure()`` pooled with the first
    (:func:`ragperf.perf.gate.settle`). ``report_only`` metrics (name -> the measured reason) are judged and shown
    but never fail."""
    suspect = suspect or (lambda d: d.status in gate.SUSPECT)
    reference, candidate = measure()
    decisions = gate.report_only(judge(prefix, reference, candidate, source, **rules), report_only)
    if not any(suspect(d) for d in decisions):
        return decisions
    more_reference, more_candidate = measure()
    again = {d.metric: d for d in judge(prefix, reference + more_reference, candidate + more_candidate, source,
                                        **rules)}
    how = f"in {len(more_reference)} more pairs of processes, judged pooled"
    return [gate.settle(d, again[d.metric], how) if suspect(d) else d for d in decisions]


def decide_planned(prefix: str, next_pair: Callable[[], tuple[dict, dict]], *, detect: float | None = None,
                   budget_s: float | None = None, pilot: int = DEFAULT_PAIRS, source: str = "",
                   report_only: dict[str, str] | None = None, **rules) -> list[gate.Decision]:
    """The A/B judgement with its pairs planned from the noise of the first ``pilot`` (:mod:`ragperf.perf.sequential`):
    with ``detect``, the speedup is called by the sequential rule (FAIL: a slowdown of about ``detect``), its
    message saying how many pairs it planned, took and why; with only ``budget_s``, the pairs the budget affords
    are judged by the gate's rule. The latency is judged by the gate's rule on the same pairs; nothing is
    re-measured (the plan is the re-measure)."""
    reference, candidate, outcome = sequential.run(next_pair, detect, pilot=pilot, budget_s=budget_s)
    decisions = judge(prefix, reference, candidate, source, **rules)
    for d in decisions:
        if d.measured.kind == "speedup":
            if outcome.status:  # the sequential rule's null hypothesis is no change: its band is 0
                d.status, d.bound, d.band = outcome.status, detect, 0.0
            d.message += f"; {outcome.line()}"
    return gate.report_only(decisions, report_only)


def next_pair(case, reference: str, candidate: str | None = None, *, slowdown: float = 0.0,
              progress: Callable[[str], None] | None = None) -> Callable[[], tuple[dict, dict]]:
    """A callable measuring one more lockstep pair of ``case`` per call: (reference figures, candidate figures)."""
    count = [0]

    def one() -> tuple[dict, dict]:
        count[0] += 1
        if progress:
            progress(f"{case.prefix}: pair {count[0]} of lockstep processes (planned from the noise)")
        (block,) = lockstep.pair(case, reference, candidate or sys.executable, [slowdown])
        return block[REFERENCE], block[CANDIDATE]

    return one
