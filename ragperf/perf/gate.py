"""The perf gate: measured figures against this machine's baseline, with room for measured noise.

Rules (``noise`` = sqrt(se_measured**2 + se_baseline**2), relative standard errors):

A metric measured in N fresh processes (``--ragperf-processes``, :mod:`ragperf.perf.processes`) is
the median of their values, and its se is the *between-process* one: ``1.2533 * sd / sqrt(N)``,
with ``sd`` the baseline's stored ``process_sd`` (the spread between the processes of one recording,
pooled over its recordings - a far better estimate than N values give) when it has one, else this
run's own. Every run also carries, undivided, the baseline's ``session_sd``: how far the level moved
between its recordings beyond that spread. The baseline's se is the se of its pooled per-process
median with the drift over its K recordings (see :func:`ragperf.perf.baselines.summarize`). This
run's own spread still decides INCONCLUSIVE.

* **speedup** (eager/compiled, measured interleaved in one process): FAIL when it falls below the
  baseline by more than ``max(tolerance, 3 * noise)``; PASS when the drop is within ``tolerance``;
  in between (beyond tolerance, inside the noise) WARN.
* **latency** (absolute seconds; drifts between runs and machines): FAIL only on a >= 15% slowdown
  that also clears ``3 * noise``; a smaller slowdown over ``max(5%, 3 * noise)`` WARNs.
* INCONCLUSIVE: a change that would matter, measured by a run whose own noise (``3 * se``) exceeds
  ``max_noise`` (15%) - the run cannot tell.
* FAIL and INCONCLUSIVE are *suspects*: :func:`confirm` re-measures once (in a fresh process) and
  the second judgement stands - still inconclusive then means FAIL, the noise too high to clear. A
  median of N processes is re-measured in N more and judged on all 2N pooled.
* A speedup measured in N >= 2 processes is judged with :data:`PROCESS_TOLERANCE` (unless the metric
  or ``--ragperf-tolerance`` sets one) and :data:`PROCESS_Z` instead of :data:`Z`.
* **compile** (cold/warm first-call seconds, :mod:`ragperf.perf.compile_time`), **compile_units** (the cold
  first call in units of this machine's speed, :mod:`ragperf.perf.yardstick`) and **memory** (compiled/eager
  peak, :mod:`ragperf.perf.memory`): FAIL on an increase beyond ``max(tolerance, 2 * noise)`` with their
  own tolerances (:data:`KIND_TOLERANCE`: 5%, 5% and 10%); within the tolerance PASS, else WARN.
* No baseline for this machine, or none for a metric: REPORT (report-only), never a crash.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ragperf.perf.baselines import BaselineFile

PASS, WARN, FAIL, INCONCLUSIVE, REPORT = "PASS", "WARN", "FAIL", "INCONCLUSIVE", "REPORT"
SUSPECT = (FAIL, INCONCLUSIVE)
TOLERANCE = 0.05
LATENCY_FAIL = 0.15
LATENCY_WARN = 0.05
Z = 3.0
MAX_NOISE = 0.15
# A speedup that is the median of >= 2 fresh processes: a 5% slowdown (a 4.8% drop) must be able to fail,
# so the default tolerance is 3%, and the bound 2 x noise - a false alarm needs this run beyond it and then
# the pooled 2N processes of the confirmation too (see :func:`confirm`).
PROCESS_TOLERANCE = 0.03
PROCESS_Z = 2.0
# Compile seconds (cold/warm first call) and peak-memory ratios: FAIL on an increase beyond
# max(tolerance, PROCESS_Z x noise); their own tolerances (a metric's stored one still wins).
KIND_TOLERANCE = {"compile": 0.05, "compile_units": 0.05, "memory": 0.10}


@dataclass
class Measurement:
    """One measured figure: a speedup ratio or a latency in seconds, with its relative standard error."""

    name: str
    kind: str
    value: float
    se: float
    low: float | None = None
    high: float | None = None
    processes: list[float] | None = None  # the per-process values the value is the median of

    def shown(self) -> str:
        fmt = _fmt(self.kind)
        interval = f" (95% CI {fmt(self.low)}-{fmt(self.high)})" if self.low is not None else ""
        return f"{fmt(self.value)}{interval}"


@dataclass
class Decision:
    metric: str
    status: str
    measured: Measurement
    baseline: dict | None = None
    change: float | None = None  # measured/baseline - 1
    bound: float | None = None   # the allowed relative change
    message: str = ""
    source: str = ""
    attempts: int = 1
    first: Decision | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {"metric": self.metric, "status": self.status, "kind": self.measured.kind,
                "measured": self.measured.value, "low": self.measured.low, "high": self.measured.high,
                "se": self.measured.se, "baseline": self.baseline.get("value") if self.baseline else None,
                "baseline_source": self.source or None, "change": self.change, "bound": self.bound,
                "attempts": self.attempts, "message": self.message}


def from_figures(prefix: str, figures: dict) -> dict[str, Measurement]:
    """The gated metrics of one :meth:`ragperf.perf.timing.Comparison.figures`: speedup and median latency."""
    procs = figures.get("processes") or []
    return {
        f"{prefix}/speedup": Measurement(f"{prefix}/speedup", "speedup", figures["speedup"], figures["speedup_se"],
                                         figures["speedup_low"], figures["speedup_high"],
                                         [p["speedup"] for p in procs] or None),
        f"{prefix}/median_s": Measurement(f"{prefix}/median_s", "latency", figures["median_s"],
                                          figures["latency_se"], processes=[p["median_s"] for p in procs] or None),
    }


def measured_se(m: Measurement, base: dict) -> float:
    """The se this measurement enters the noise with: a median of N >= 2 processes uses the baseline's
    between-process spread (``process_sd``) when stored, else its own se; plus, undivided, the drift of
    the level between the baseline's recordings (``session_sd``) - more processes per run do not average
    away the session this run happens to fall in."""
    n = len(m.processes or ())
    own = m.se
    if n >= 2 and base.get("process_sd"):
        from ragperf.perf.processes import se_of_median

        own = se_of_median(float(base["process_sd"]), n)
    return math.hypot(own, float(base.get("session_sd") or 0.0))


def tolerance_for(base: dict, tolerance: float | None = None) -> float:
    """The tolerance that applies to a stored metric: an explicit one (``--ragperf-tolerance``) beats the
    metric's stored one, which beats :data:`TOLERANCE`."""
    return float(base.get("tolerance", TOLERANCE)) if tolerance is None else tolerance


def judge(m: Measurement, base: dict | None, *, tolerance: float | None = None, source: str = "",
          latency_fail: float = LATENCY_FAIL, latency_warn: float = LATENCY_WARN, z: float = Z,
          max_noise: float = MAX_NOISE) -> Decision:
    """One metric's decision against its stored figure (``None``: report-only)."""
    if base is None:
        return Decision(m.name, REPORT, m,
                        message=f"{m.name}: {m.shown()}; no baseline for this metric (report only)")
    several = len(m.processes or ()) >= 2
    if several and m.kind == "speedup":
        tolerance = float(base.get("tolerance", PROCESS_TOLERANCE)) if tolerance is None else tolerance
        z = PROCESS_Z if z == Z else z
    tolerance = tolerance_for(base, tolerance)
    noise = math.hypot(measured_se(m, base), float(base.get("se", 0.0)))
    change = m.value / base["value"] - 1
    fmt = _fmt(m.kind)
    against = f"baseline {fmt(base['value'])}{' (' + source + ')' if source else ''}"
    noisy = z * m.se > max_noise  # this run alone cannot resolve a regression we care about
    if m.kind == "speedup":
        drop, bound = -change, max(tolerance, z * noise)
        rule = f"allowed {bound:.1%} = max(tolerance {tolerance:.1%}, {z:g} x noise {noise:.1%})"
        if drop <= tolerance:
            status = PASS
        elif noisy:
            status = INCONCLUSIVE
        else:
            status = FAIL if drop > bound else WARN
        word = "below" if drop > 0 else "above"
        message = f"{m.name}: speedup {m.shown()} is {abs(drop):.1%} {word} {against}; {rule}"
    elif m.kind in KIND_TOLERANCE:
        tolerance = float(base.get("tolerance", KIND_TOLERANCE[m.kind])) if tolerance is None else tolerance
        z = PROCESS_Z if z == Z else z
        slower, bound = change, max(tolerance, z * noise)
        rule = f"allowed +{bound:.1%} = max(tolerance {tolerance:.1%}, {z:g} x noise {noise:.1%})"
        status = PASS if slower <= tolerance else (FAIL if slower > bound else WARN)
        message = f"{m.name}: {m.kind} {m.shown()} is {slower:+.1%} vs {against}; {rule}"
    else:
        slower, bound = change, max(latency_fail, z * noise)
        rule = f"fail at +{latency_fail:.0%} beyond {z:g} x noise {noise:.1%}"
        if slower >= latency_fail and noisy:
            status = INCONCLUSIVE
        elif slower >= bound:
            status = FAIL
        else:
            status = WARN if slower > max(latency_warn, z * noise) or slower >= latency_fail else PASS
        message = f"{m.name}: latency {m.shown()} is {slower:+.1%} vs {against}; {rule}"
    if status == WARN:
        message += " - a change beyond tolerance but inside the noise: warning only"
    if status == INCONCLUSIVE:
        message += f" - this run's own noise ({z:g} x {m.se:.1%}) exceeds {max_noise:.0%}: re-measure"
    return Decision(m.name, status, m, base, change, bound, message, source)


def gate(measured: dict[str, Measurement], baseline: BaselineFile | None, **rules) -> list[Decision]:
    """Decisions for every measured metric; all REPORT when this machine has no baseline."""
    if baseline is None:
        return [Decision(name, REPORT, m, message=f"{name}: {m.shown()}; {NO_BASELINE}") for name, m in measured.items()]
    source = f"{baseline.source} {baseline.path.name if baseline.path else baseline.key}"
    return [judge(m, baseline.metrics.get(name), source=source, **rules) for name, m in measured.items()]


def fraction(text: str) -> float:
    """A command-line fraction in (0, 1), e.g. a tolerance of 0.03 (3%)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction between 0 and 1 (e.g. 0.05 for 5%)")
    return value


NO_BASELINE = ("no baseline matches this machine's fingerprint (report only); record one with "
               "`ragperf baseline record` or `pytest -m perf --ragperf-update-baselines`")


def report_only(decisions: list[Decision], reasons: dict[str, str] | None) -> list[Decision]:
    """``decisions`` with those of the metrics in ``reasons`` (name -> the measured reason) made REPORT: judged and
    shown, the judgement and the reason in the message, never failing and never a suspect to re-measure."""
    for d in decisions:
        if d.metric in (reasons or {}):
            d.message += f" [{d.status}; report only: {reasons[d.metric]}]"
            d.status = REPORT
    return decisions


def confirm(decisions: list[Decision], baseline: BaselineFile | None,
            remeasure: Callable[[], dict[str, Measurement]], **rules) -> list[Decision]:
    """Re-measure once when any decision is a suspect; the second judgement of each suspect stands."""
    if not any(d.status in SUSPECT for d in decisions):
        return decisions
    again = {d.metric: d for d in gate(remeasure(), baseline, **rules)}
    out = []
    for d in decisions:
        if d.status not in SUSPECT or d.metric not in again:
            out.append(d)
            continue
        second = again[d.metric]
        if d.measured.processes and second.measured.processes:
            second = judge(pooled(d.measured, second.measured), baseline.metrics.get(d.metric) if baseline else None,
                           source=second.source, **rules)
        out.append(settle(d, second))
    return out


def settle(first: Decision, second: Decision, how: str = "in a fresh process") -> Decision:
    """``second`` - the judgement of the suspect ``first`` re-measured ``how`` - as the one that stands: still
    inconclusive means FAIL (the noise too high to clear)."""
    second.attempts, second.first = 2, first
    if second.status == INCONCLUSIVE:
        second.status = FAIL
        second.message += f" - still inconclusive after a re-measure {how}: too noisy to clear"
    elif second.status in (FAIL, PASS, WARN):
        second.message += f" (re-measured {how}; first: {first.status})"
    return second


def pooled(a: Measurement, b: Measurement) -> Measurement:
    """Two medians of processes as one median of all their processes (se: their between-process spread)."""
    import statistics

    from ragperf.perf.processes import se_of_median, spread

    values = [*a.processes, *b.processes]
    se = max(se_of_median(spread(values), len(values)), min(a.se, b.se) / math.sqrt(2))
    value = statistics.median(values)
    interval = (value * (1 - 1.96 * se), value * (1 + 1.96 * se)) if a.low is not None else (None, None)
    return Measurement(a.name, a.kind, value, se, *interval, processes=values)


def overall(decisions: list[Decision]) -> str:
    statuses = {d.status for d in decisions}
    for status in (FAIL, INCONCLUSIVE, WARN, PASS):
        if status in statuses:
            return status
    return REPORT


def table(decisions: list[Decision], markdown: bool = False) -> str:
    """Each metric vs its baseline: status, measured (with CI), baseline, change, allowed change."""
    header = ("metric", "status", "measured", "baseline", "change", "allowed", "source")
    rows = []
    for d in decisions:
        fmt = _fmt(d.measured.kind)
        base = fmt(d.baseline["value"]) if d.baseline else "-"
        change = f"{d.change:+.1%}" if d.change is not None else "-"
        bound = (f"-{d.bound:.1%}" if d.measured.kind == "speedup" else f"+{d.bound:.1%}") if d.bound else "-"
        status = d.status + (" (2nd run)" if d.attempts > 1 else "")
        rows.append((d.metric, status, d.measured.shown(), base, change, bound, d.source or "-"))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def _fmt(kind: str) -> Callable[[float | None], str]:
    if kind in ("speedup", "memory"):
        return lambda v: "-" if v is None else f"{v:.3f}x"
    if kind == "compile":
        return lambda v: "-" if v is None else f"{v:.2f}s"
    if kind == "compile_units":  # compile seconds / yardstick seconds (ragperf.perf.yardstick)
        return lambda v: "-" if v is None else f"{v:.1f} units"
    return lambda v: "-" if v is None else f"{v * 1e3:.2f}ms"
