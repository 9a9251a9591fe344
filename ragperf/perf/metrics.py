"""Metric kinds: what a gated figure measures, which way it gets worse, the change always allowed, how many
noise units a regression must clear, how it is shown - and so how the gate judges it.

A figure's kind is stored by name beside it, in baselines (``"kind": "speedup"``) and gate reports; :data:`KINDS`
maps every name to its :class:`MetricKind`, and :func:`kind` looks one up. A new kind is one object given to
:func:`register`: the gate judges it, the summary table and ``ragperf baseline compare`` show it, baselines store
and load it, and the proof campaigns' tables show it, with no other change.

Rules (``regression`` = the relative change in the worse direction; ``noise`` as :mod:`ragperf.perf.gate` sets it):

* :class:`MetricKind` (ratios and costs): PASS when the regression is within ``tolerance``; beyond it FAIL when it
  also clears ``z x noise``, else WARN (beyond tolerance, inside the noise). A kind with ``inconclusive`` says
  INCONCLUSIVE instead when this run's own noise (``z x se``) exceeds :data:`MAX_NOISE`: the run cannot tell.
* :class:`AbsoluteKind` (absolute seconds, which move between runs and machines): FAIL only at ``fail_at`` or
  more that also clears ``z x noise``; a smaller regression over ``max(tolerance, z x noise)`` WARNs.

The tolerance that applies: an explicit one (``--ragperf-tolerance``) beats the metric's stored one, which beats
the kind's (``process_tolerance`` for a median of >= 2 fresh processes, when the kind has one); a median of
processes also uses ``process_z``. An absolute kind's thresholds are its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ragperf.errors import RagperfError

PASS, WARN, FAIL, INCONCLUSIVE, REPORT = "PASS", "WARN", "FAIL", "INCONCLUSIVE", "REPORT"
MAX_NOISE = 0.15  # a run whose own 3-sigma noise exceeds this cannot resolve a regression we care about
HIGHER, LOWER = "higher", "lower"  # which way is better


@dataclass(frozen=True)
class MetricKind:
    """One kind of gated figure; judged by the tolerance rule (see the module docstring)."""

    name: str
    better: str  # HIGHER: a drop is the regression (a speedup); LOWER: a rise is (seconds, bytes)
    tolerance: float  # the regression always allowed
    z: float  # noise units a regression must clear to FAIL
    formatter: Callable[[float], str]  # a value as shown, e.g. "1.502x"
    about: str  # one line: what the figure is
    process_tolerance: float | None = None  # for a median of >= 2 fresh processes (None: ``tolerance``)
    process_z: float | None = None  # likewise for ``z``
    inconclusive: bool = False  # whether a run too noisy to tell is INCONCLUSIVE rather than judged
    # when set: judged against a *stored* baseline, a figure of this kind is shown with its judgement but never
    # fails, for this measured reason (an A/B comparison, both sides measured in the same minutes, still gates it)
    stored_report_only: str = ""

    def __post_init__(self) -> None:
        if self.better not in (HIGHER, LOWER):
            raise RagperfError(f"metric kind {self.name!r}: better must be {HIGHER!r} or {LOWER!r}, "
                               f"not {self.better!r}")

    def shown(self, value: float | None) -> str:
        return "-" if value is None else self.formatter(value)

    def regression(self, change: float) -> float:
        """``change`` (measured/baseline - 1) as a regression: positive is worse."""
        return -change if self.better == HIGHER else change

    def tolerance_for(self, base: dict, explicit: float | None, several: bool) -> float:
        """Explicit, else the metric's stored tolerance, else the kind's (for ``several`` processes, its process one)."""
        if explicit is not None:
            return explicit
        own = self.process_tolerance if several and self.process_tolerance is not None else self.tolerance
        return float(base.get("tolerance", own))

    def z_for(self, several: bool) -> float:
        return self.process_z if several and self.process_z is not None else self.z

    def status(self, regression: float, noise: float, se: float, tolerance: float, z: float) -> tuple[str, float]:
        """(status, the allowed regression) of one figure; ``se``: this run's own relative standard error."""
        bound = max(tolerance, z * noise)
        if regression <= tolerance:
            return PASS, bound
        if self.inconclusive and z * se > MAX_NOISE:
            return INCONCLUSIVE, bound
        return (FAIL if regression > bound else WARN), bound

    def rule(self, tolerance: float, bound: float, z: float, noise: float) -> str:
        sign = "" if self.better == HIGHER else "+"
        return f"allowed {sign}{bound:.1%} = max(tolerance {tolerance:.1%}, {z:g} x noise {noise:.1%})"

    def compared(self, shown: str, change: float, against: str) -> str:
        """``speedup 1.380x (...) is 8.0% below baseline 1.500x`` / ``compile 21.00s is +5.0% vs baseline ...``."""
        if self.better == HIGHER:
            return f"{self.name} {shown} is {abs(change):.1%} {'above' if change >= 0 else 'below'} {against}"
        return f"{self.name} {shown} is {change:+.1%} vs {against}"

    def allowed(self, bound: float | None) -> str:
        """The allowed change as the summary table shows it (``-3.0%`` for a higher-is-better kind)."""
        return f"{'-' if self.better == HIGHER else '+'}{bound:.1%}" if bound else "-"


@dataclass(frozen=True)
class AbsoluteKind(MetricKind):
    """An absolute figure that moves between runs and machines: FAIL only at ``fail_at`` or more (and beyond
    ``z x noise``); a regression over ``max(tolerance, z x noise)`` WARNs. INCONCLUSIVE when a regression of
    ``fail_at`` or more comes from a run too noisy to tell."""

    fail_at: float = 0.15

    def tolerance_for(self, base: dict, explicit: float | None, several: bool) -> float:
        return self.tolerance  # ratios' tolerances do not apply: an absolute figure has its own thresholds

    def status(self, regression: float, noise: float, se: float, tolerance: float, z: float) -> tuple[str, float]:
        bound = max(self.fail_at, z * noise)
        if regression >= self.fail_at and z * se > MAX_NOISE:
            return INCONCLUSIVE, bound
        if regression >= bound:
            return FAIL, bound
        warn = regression > max(tolerance, z * noise) or regression >= self.fail_at
        return (WARN if warn else PASS), bound

    def rule(self, tolerance: float, bound: float, z: float, noise: float) -> str:
        return f"fail at +{self.fail_at:.0%} beyond {z:g} x noise {noise:.1%}"


def _ratio(value: float) -> str:
    return f"{value:.3f}x"


# A speedup median of >= 2 fresh processes: a 5% slowdown (a 4.8% drop) must be able to fail, so its tolerance is
# 3% and the bound 2 x noise - a false alarm needs this run beyond it and then the pooled 2N processes of the
# confirmation too (see ragperf.perf.gate.confirm).
SPEEDUP = MetricKind("speedup", HIGHER, 0.05, 3.0, _ratio, "eager/compiled seconds, timed interleaved in one process",
                     process_tolerance=0.03, process_z=2.0, inconclusive=True)
LATENCY = AbsoluteKind("latency", LOWER, 0.05, 3.0, lambda v: f"{v * 1e3:.2f}ms",
                       "absolute seconds of a call (the compiled side's median)", fail_at=0.15)
# Compile seconds and peak-memory ratios come from fresh processes, judged at 2 x noise. A stored compile time does
# not survive a new boot of the same VM kind (docs/results/compile-across-boots.md): against a stored baseline it is
# report-only; `ragperf release`'s compile part (OLD and NEW paired in the same minutes) is its gate.
STORED_COMPILE = ("a stored compile time does not hold across boots (a fresh boot of the same VM kind: +14.6% in "
                  "units, +26.5% in seconds, nothing changed; band 5%); `ragperf release` gates it A/B - "
                  "docs/results/compile-across-boots.md")
COMPILE = MetricKind("compile", LOWER, 0.05, 2.0, lambda v: f"{v:.2f}s",
                     "first-call seconds of a fresh process, cold (empty Inductor cache) or warm",
                     stored_report_only=STORED_COMPILE)
COMPILE_UNITS = MetricKind("compile_units", LOWER, 0.05, 2.0, lambda v: f"{v:.1f} units",
                           "the cold first call in units of this machine's speed (seconds / yardstick seconds)",
                           stored_report_only=STORED_COMPILE)
MEMORY = MetricKind("memory", LOWER, 0.10, 2.0, _ratio, "compiled/eager peak memory, each in its own fresh process")

KINDS: dict[str, MetricKind] = {}


def register(new: MetricKind) -> MetricKind:
    """Add ``new`` to :data:`KINDS`; another kind under its name is one error (the stored name must mean one thing)."""
    if KINDS.get(new.name, new) is not new:
        raise RagperfError(f"metric kind {new.name!r} is already registered as another kind")
    KINDS[new.name] = new
    return new


for _builtin in (SPEEDUP, LATENCY, COMPILE, COMPILE_UNITS, MEMORY):
    register(_builtin)


def stored_report_only(names_to_kinds: dict[str, str]) -> dict[str, str]:
    """Of ``{metric name: kind name}``, the metrics judged report-only against a stored baseline, with the reason."""
    return {name: kind(k).stored_report_only for name, k in names_to_kinds.items() if kind(k).stored_report_only}


def kind(name: str) -> MetricKind:
    """The registered kind called ``name``; an unknown one is one line naming the known ones."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise RagperfError(f"unknown metric kind {name!r}; choose from {', '.join(KINDS)}") from None
