"""The timed half of ``ragperf release``: OLD and NEW measured against each other, never against a stored figure.

* **Speed**: every case (each ladder rung on the embedder, each decode mode on the decoder) in lockstep pairs
  of processes (:mod:`ragperf.perf.lockstep`, judged by :func:`ragperf.perf.ab.decide`): a reference process
  on OLD's interpreter and a candidate on NEW's, alive at once, taking ABBA rounds on one pinned core.
* **Compile time**: the cold first call of the embedder's ``compile`` rung, from an empty Inductor cache, in
  ``pairs`` pairs of fresh processes (OLD then NEW, NEW then OLD, ...), each pinned to the timing core; the
  change is the Hodges-Lehmann shift of the pairs' NEW/OLD ratios (:func:`ragperf.perf.ab.shift`). The
  first pair's cache is then started warm once on each side: its cache hits (FX graph, AOTAutograd) are the
  *warm start* rows - a cache that stopped hitting on NEW is a behaviour change.
* **Family**: a release report gates a dozen metrics; each at 1 in 20 would cry wolf about 4 times in 10. So
  a metric is called a regression (or an improvement) only when (1) the gate's rule calls it beyond its band,
  (2) a re-measure in as many more pairs, judged pooled, agrees (:func:`ragperf.perf.gate.settle`), and (3) its
  p-value - of "no change at all" - survives Holm's step-down correction over every timed metric of the report
  at :data:`FAMILY_ALPHA`. See :func:`family`.

Timed parts never share a core with each other: they run one after another on the last core, while the
untimed sides (:mod:`ragperf.jobs.release_side`) run on the others.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable

from ragperf.perf import ab, gate, metrics
from ragperf.perf.cases import EMBED_LADDER, Case

FAMILY_ALPHA = 0.05
DECODE_MODES = ("compile-decode", "compile-prefill-decode")
QUICK = {"variants": ("compile",), "modes": ("compile-decode",), "pairs": 2}
COMPILE_VARIANT = "compile"  # freezing bypasses the FX graph and AOTAutograd caches: no warm start to judge


def cases(embedder: str, decoder: str, quick: bool, backend: str = "inductor", device: str = "cpu") -> list[Case]:
    """The speed cases of a release report: the ladder rungs on ``embedder`` and the decode modes on ``decoder``."""
    chosen = QUICK if quick else {"variants": EMBED_LADDER, "modes": DECODE_MODES}
    return ([Case("embed", embedder, v, backend=backend, device=device) for v in chosen["variants"]]
            + [Case("decode", decoder, m, rounds=30, backend=backend, device=device) for m in chosen["modes"]])


def speed(case: Case, pairs: int, old: str, new: str, slowdown: float = 0.0, rounds: int | None = None,
          progress: Callable[[str], None] | None = None, detect: float | None = None,
          budget_s: float | None = None) -> list[gate.Decision]:
    """``case`` gated NEW against OLD in lockstep pairs of ``rounds`` (default: the A/B gate's for its kind),
    settled on as many more pairs when suspect - or, with ``detect`` or ``budget_s``, the pairs planned from the
    noise of the first ``pairs`` (:func:`ragperf.perf.ab.decide_planned`)."""
    case = ab.with_rounds(case, rounds)
    if detect or budget_s:
        return ab.decide_planned(case.prefix, ab.next_pair(case, old, new, slowdown=slowdown, progress=progress),
                                 detect=detect, budget_s=budget_s, pilot=pairs, source=f"A/B {old}",
                                 report_only=case.report_only())
    return ab.decide(case.prefix, lambda: ab.measure(case, pairs, old, new, slowdown=slowdown, progress=progress),
                     source=f"A/B {old}", report_only=case.report_only(), suspect=suspect)


def suspect(decision: gate.Decision) -> bool:
    """Re-measured before it is called: what the gate calls suspect or warns about (beyond the band, inside the
    noise: more pairs decide it - a planted 5% measured -3.4% with se 2.4% was left at a warning), and a change
    beyond the band the better way - an improvement is called only as a regression is, settled (a lone round of
    noise made a rung 5% faster in a report whose only plant slowed another)."""
    better = -(regression(decision) or 0.0)
    return (decision.status in (*gate.SUSPECT, gate.WARN)
            or (decision.status != gate.REPORT and better > _band(decision)))


def timing_core() -> set[int] | None:
    """The core the timed parts share, one after another: the last of this process's; ``None`` on one core."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    return {cores[-1]} if len(cores) > 1 else None


def other_cores() -> set[int] | None:
    """The cores the untimed sides run on: all but :func:`timing_core`'s."""
    timed = timing_core()
    return None if timed is None else set(os.sched_getaffinity(0)) - timed


def _first_call(case: Case, python: str, cache_dir: str, slowdown: float = 0.0) -> dict:
    from ragperf.subproc import run_job

    return run_job("compile-time", [*case.args(), "--compile-slowdown", str(slowdown)],
                   env={"TORCHINDUCTOR_CACHE_DIR": cache_dir}, python=python, cores=timing_core())


def _warm_start(case: Case, python: str, cache_dir: str) -> dict:
    """``case``'s model compiled once more in a fresh process from ``cache_dir``: where the time went, cache hits."""
    from ragperf.subproc import run_job

    return run_job("compile-cost", ["--model", case.model, "--device", case.device, "--backend", case.backend],
                   env={"TORCHINDUCTOR_CACHE_DIR": cache_dir}, python=python, cores=timing_core())


def compile_pairs(case: Case, pairs: int, old: str, new: str, slowdown: float = 0.0, *, warm: bool = False,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Cold first calls of ``case`` in ``pairs`` pairs of fresh processes, each from its own empty cache, in
    ABBA order; with ``warm``, the first pair's caches started once more on each side (cache hits)."""
    sides = {"old": old, "new": new}
    runs, warm_starts = [], {}
    for i in range(pairs):
        order = ("old", "new") if i % 2 == 0 else ("new", "old")
        caches = {name: tempfile.mkdtemp(prefix=f"ragperf-release-{name}-cache-") for name in sides}
        try:
            got = {}
            for name in order:
                if progress:
                    progress(f"compile time {case.prefix}: pair {i + 1}/{pairs}, {name.upper()} cold")
                got[name] = _first_call(case, sides[name], caches[name], slowdown if name == "new" else 0.0)
            runs.append(got)
            if warm and i == 0:
                for name in sides:
                    if progress:
                        progress(f"warm start {case.prefix}: {name.upper()} from its own cache")
                    warm_starts[name] = _warm_start(case, sides[name], caches[name])
        finally:
            for folder in caches.values():
                shutil.rmtree(folder, ignore_errors=True)
    return {"case": case.prefix, "runs": runs, "warm": warm_starts}


def judge_compile(figures: dict, source: str = "") -> gate.Decision:
    """NEW's cold first call against OLD's, paired: a ``compile`` metric whose value is NEW's level."""
    old = [r["old"]["first_call_s"] for r in figures["runs"]]
    new = [r["new"]["first_call_s"] for r in figures["runs"]]
    change, se = ab.shift(old, new)
    level = statistics.median(old)
    name = f"{figures['case']}/cold_compile_s"
    measured = gate.Measurement(name, "compile", level * (1 + change), se, processes=new)
    return gate.judge(measured, {"kind": "compile", "value": level, "se": 0.0}, source=source)


def compile_decisions(case: Case, pairs: int, old: str, new: str, slowdown: float = 0.0,
                      progress: Callable[[str], None] | None = None) -> tuple[list[gate.Decision], dict]:
    """The compile-time decision (settled on ``pairs`` more pairs when suspect) and the first run's warm starts."""
    figures = compile_pairs(case, pairs, old, new, slowdown, warm=True, progress=progress)
    decision = judge_compile(figures, f"A/B {old}")
    if suspect(decision):
        more = compile_pairs(case, pairs, old, new, slowdown, progress=progress)
        again = judge_compile({**figures, "runs": figures["runs"] + more["runs"]}, f"A/B {old}")
        decision = gate.settle(decision, again, f"in {pairs} more pairs of processes, judged pooled")
    return [decision], figures


def compile_case(embedder: str, backend: str = "inductor", device: str = "cpu") -> Case:
    return Case("embed", embedder, COMPILE_VARIANT, backend=backend, device=device)


def memory_decisions(old_rows: list[dict], new_rows: list[dict], source: str = "") -> list[gate.Decision]:
    """Each memory row both sides measured: NEW's compiled/eager peak against OLD's (kind ``memory``)."""
    decisions = []
    old_by_key = {r["key"]: r for r in old_rows}
    for row in new_rows:
        old = old_by_key.get(row["key"])
        if old is None or len(old["ratios"]) != len(row["ratios"]):
            continue
        change, se = ab.shift(old["ratios"], row["ratios"])
        level = statistics.median(old["ratios"])
        measured = gate.Measurement(row["key"], "memory", level * (1 + change), se, processes=row["ratios"])
        decisions.append(gate.judge(measured, {"kind": "memory", "value": level, "se": 0.0}, source=source))
    return decisions


def band(kind: str) -> float:
    """The change a timed kind may show before the gate can call it: an absolute kind's fail threshold, else the
    kind's tolerance for a figure from several processes (what an A/B pair is)."""
    found = metrics.kind(kind)
    return getattr(found, "fail_at", None) or found.tolerance_for({}, None, several=True)


def _band(decision: gate.Decision) -> float:
    """The decision's own band when its comparison set one (a sequential call's null is no change), else its kind's."""
    return decision.band if decision.band is not None else band(decision.measured.kind)


def regression(decision: gate.Decision) -> float | None:
    """How much worse NEW is, as a positive fraction (negative: better); ``None`` when not measured."""
    if decision.change is None:
        return None
    return metrics.kind(decision.measured.kind).regression(decision.change)


def p_value(decision: gate.Decision, improvement: bool = False) -> float:
    """One-sided p of "NEW is not worse (``improvement``: not better) than OLD at all": the normal tail of the
    measured change in units of its se. Whether a change matters is the band's question (the gate's rule);
    this asks only whether it is there."""
    worse, se = regression(decision), decision.measured.se
    if worse is None or se is None or not math.isfinite(se):
        return 1.0
    moved = -worse if improvement else worse
    if se <= 0:  # an exact figure (the harness's virtual clock): moved or not, with certainty
        return 0.0 if moved > 0 else 1.0
    return 0.5 * math.erfc(moved / se / math.sqrt(2))


def holm(p_values: list[float], alpha: float = FAMILY_ALPHA) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected with the family-wise error rate held at ``alpha``."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected


def family(decisions: list[gate.Decision], alpha: float = FAMILY_ALPHA) -> list[dict]:
    """Each timed decision as a report row: ``regression`` (a settled FAIL - beyond its band - whose p of "no
    change at all" survives Holm over the whole family), ``improvement`` (beyond the band the other way,
    likewise), ``not significant`` (the gate called it, the family does not), else ``same``. Report-only metrics
    are shown with the gate's status and never count.

    Holm holds the chance that noise alone makes any metric of the report a call at ``alpha``; the band says which
    real changes matter. Testing "no worse than the band" instead asked for both at once: a planted 5% slowdown
    (a 4.8% speedup loss against a 3% band) then went uncalled about as often as not."""
    counted = [d for d in decisions if d.status != gate.REPORT]
    worse = dict(zip(map(id, counted), holm([p_value(d) for d in counted], alpha), strict=True))
    better = dict(zip(map(id, counted), holm([p_value(d, improvement=True) for d in counted], alpha), strict=True))
    rows = []
    for d in decisions:
        if d.status == gate.REPORT:
            status = "report only"
        elif d.status == gate.FAIL:
            status = "regression" if worse[id(d)] else "not significant"
        elif better[id(d)] and -(regression(d) or 0.0) > _band(d):
            status = "improvement"
        else:
            status = "same"
        rows.append({"section": "timed", "key": d.metric, "kind": d.measured.kind, "status": status,
                     "gate": d.status, "change": d.change, "se": d.measured.se,
                     "band": _band(d), "p_worse": p_value(d),
                     "p_better": p_value(d, improvement=True), "old": d.baseline.get("value") if d.baseline else None,
                     "new": d.measured.value, "attempts": d.attempts, "message": d.message,
                     "machine": d.machine})
    return rows
