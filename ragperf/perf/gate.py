"""The perf gate: measured figures against this machine's baseline, with room for measured noise.

Rules (``noise`` = sqrt(se_measured**2 + se_baseline**2), relative standard errors):

A metric measured in N fresh processes (``--ragperf-processes``, :mod:`ragperf.perf.processes`) is
the median of their values, and its se is the *between-process* one: ``1.2533 * sd / sqrt(N)``,
with ``sd`` the baseline's stored ``process_sd`` (the spread between the processes of one recording,
pooled over its recordings - a far better estimate than N values give) when it has one, else this
run's own. Every run also carries, undivided, the baseline's ``session_sd``: how far the level moved
between its recordings beyond that spread. The baseline's se is the se of its pooled per-process
median with the level's shift over its K recordings (see :func:`ragperf.perf.baselines.summarize`). This
run's own spread still decides INCONCLUSIVE.

* Each metric is judged by its kind's rule (:mod:`ragperf.perf.metrics`): a **speedup** (eager/compiled,
  measured interleaved in one process) FAILs on a drop beyond ``max(tolerance 5%, 3 x noise)`` (a median of
  N >= 2 processes: ``max(3%, 2 x noise)``, unless the metric or ``--ragperf-tolerance`` sets a tolerance); a **latency**
  (absolute seconds, which move between runs and machines) only on a >= 15% slowdown that also clears
  ``3 x noise``; **compile** and **compile_units** seconds (:mod:`ragperf.perf.compile_time`) and **memory**
  (compiled/eager peak, :mod:`ragperf.perf.memory`) on an increase beyond ``max(tolerance, 2 x noise)``, their
  tolerances 5%, 5% and 10%. Beyond the tolerance but inside the noise: WARN.
* INCONCLUSIVE (speedup and latency): a change that would matter, measured by a run whose own noise
  (``z * se``) exceeds :data:`ragperf.perf.metrics.MAX_NOISE` (15%) - the run cannot tell.
* FAIL and INCONCLUSIVE are *suspects*: :func:`confirm` re-measures once (in a fresh process) and
  the second judgement stands - still inconclusive then means FAIL, the noise too high to clear. A
  median of N processes is re-measured in N more and judged on all 2N pooled.
* No baseline for this machine, or none for a metric: REPORT (report-only), never a crash.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ragperf.perf import metrics
from ragperf.perf.baselines import BaselineFile
from ragperf.perf.metrics import FAIL, INCONCLUSIVE, MAX_NOISE, PASS, REPORT, WARN

SUSPECT = (FAIL, INCONCLUSIVE)


@dataclass
class Measurement:
    """One measured figure of a kind (its name in :data:`ragperf.perf.metrics.KINDS`), with its relative
    standard error."""

    name: str
    kind: str
    value: float
    se: float
    low: float | None = None
    high: float | None = None
    processes: list[float] | None = None  # the per-process values the value is the median of

    def shown(self) -> str:
        fmt = metrics.kind(self.kind).shown
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
    machine: dict | None = field(default=None, repr=False)  # the machine's state (ragperf.perf.machine_state)
    band: float | None = None  # the change that counts as none, when the comparison set its own (a sequential call: 0)

    def to_json(self) -> dict:
        return {"metric": self.metric, "status": self.status, "kind": self.measured.kind,
                "measured": self.measured.value, "low": self.measured.low, "high": self.measured.high,
                "se": self.measured.se, "baseline": self.baseline.get("value") if self.baseline else None,
                "baseline_source": self.source or None, "change": self.change, "bound": self.bound,
                "attempts": self.attempts, "message": self.message, "machine": self.machine}


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
    between-process spread (``process_sd``) when stored, else its own se; plus, undivided, the shift of
    the level between the baseline's recordings (``session_sd``) - more processes per run do not average
    away the session this run happens to fall in."""
    n = len(m.processes or ())
    own = m.se
    if n >= 2 and base.get("process_sd"):
        from ragperf.perf.processes import se_of_median

        own = se_of_median(float(base["process_sd"]), n)
    return math.hypot(own, float(base.get("session_sd") or 0.0))


def judge(m: Measurement, base: dict | None, *, tolerance: float | None = None, source: str = "") -> Decision:
    """One metric's decision against its stored figure (``None``: report-only), by its kind's rule;
    ``tolerance``: an explicit one (``--ragperf-tolerance``), which beats the stored and the kind's."""
    if base is None:
        return Decision(m.name, REPORT, m,
                        message=f"{m.name}: {m.shown()}; no baseline for this metric (report only)")
    kind = metrics.kind(m.kind)
    several = len(m.processes or ()) >= 2
    tolerance, z = kind.tolerance_for(base, tolerance, several), kind.z_for(several)
    noise = math.hypot(measured_se(m, base), float(base.get("se", 0.0)))
    change = m.value / base["value"] - 1
    status, bound = kind.status(kind.regression(change), noise, m.se, tolerance, z)
    against = f"baseline {kind.shown(base['value'])}{' (' + source + ')' if source else ''}"
    message = f"{m.name}: {kind.compared(m.shown(), change, against)}; {kind.rule(tolerance, bound, z, noise)}"
    if status == WARN:
        message += " - a change beyond tolerance but inside the noise: warning only"
    if status == INCONCLUSIVE:
        message += f" - this run's own noise ({z:g} x {m.se:.1%}) exceeds {MAX_NOISE:.0%}: re-measure"
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
    from ragperf.perf.machine_state import mark

    flagged = any(mark(d.machine) for d in decisions)  # a column only when a row was measured while not quiet
    header = ("metric", "status", "measured", "baseline", "change", "allowed", "source") + ("machine",) * flagged
    rows = []
    for d in decisions:
        kind = metrics.kind(d.measured.kind)
        base = kind.shown(d.baseline["value"]) if d.baseline else "-"
        change = f"{d.change:+.1%}" if d.change is not None else "-"
        bound = kind.allowed(d.bound)
        status = d.status + (" (2nd run)" if d.attempts > 1 else "")
        rows.append((d.metric, status, d.measured.shown(), base, change, bound, d.source or "-")
                    + (mark(d.machine) or "-",) * flagged)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])

