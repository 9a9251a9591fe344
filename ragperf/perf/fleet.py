"""Fleet reports: the gate reports of many runners (x86, Graviton, GPU) merged into one view of a release.

A gate report is the JSON that ``pytest -m perf --ragperf-perf-report PATH`` (or ``ragperf baseline
compare --report``) writes: the runner's fingerprint, the baseline it was gated against, and every
metric's decision. :func:`merge` renders one Markdown section per fingerprint - every metric with its
verdict - under one overall verdict: FAIL if any runner failed a metric (then INCONCLUSIVE, WARN, PASS,
and REPORT when no runner had a baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragperf.perf import gate, metrics
from ragperf.schemas import base as schemas
from ragperf.schemas import gate_report as schema

STATUSES = (gate.PASS, gate.WARN, gate.FAIL, gate.INCONCLUSIVE, gate.REPORT)


@dataclass
class Report:
    """One runner's gate report."""

    path: Path
    fingerprint: dict
    baseline: str | None
    decisions: list[gate.Decision]

    @property
    def key(self) -> str:
        return self.fingerprint["key"]


def load_report(path: Path | str) -> Report:
    """Read a gate report through its schema (:mod:`ragperf.schemas.gate_report`); a missing, corrupt, foreign or
    non-finite one - or one whose verdict its decisions do not give - is one :class:`RagperfError` line."""
    path = Path(path)
    read = schemas.load(path, schema.GateReport, schema.KIND,
                        context={"kinds": tuple(metrics.KINDS), "statuses": STATUSES})
    decisions = [_decision(d) for d in read.decisions]
    if read.verdict is not None and decisions and read.verdict != gate.overall(decisions):
        raise schema.KIND.refuse(path, f"verdict {read.verdict!r}, but its decisions give "
                                       f"{gate.overall(decisions)!r}")
    return Report(path, read.fingerprint.data(), read.baseline, decisions)


def _decision(d: schema.GateDecision) -> gate.Decision:
    measured = gate.Measurement(d.metric, d.kind, d.measured, d.se, d.low, d.high)
    return gate.Decision(d.metric, d.status, measured, {"value": d.baseline} if d.baseline is not None else None,
                         d.change, d.bound, d.message, d.baseline_source or "", d.attempts,
                         machine=d.machine)


def by_fingerprint(reports: list[Report]) -> dict[str, list[Report]]:
    """Reports grouped by the runner's fingerprint key, in the order first seen."""
    groups: dict[str, list[Report]] = {}
    for report in reports:
        groups.setdefault(report.key, []).append(report)
    return groups


def overall(reports: list[Report]) -> str:
    """The fleet's verdict: the worst decision of any runner (FAIL if any failed)."""
    return gate.overall([d for r in reports for d in r.decisions])


def merge(reports: list[Report]) -> str:
    """One Markdown view: the overall verdict, then a section per fingerprint with every metric's verdict."""
    groups = by_fingerprint(reports)
    lines = [f"## ragperf fleet perf gate: {overall(reports)}", "",
             f"{len(reports)} reports from {len(groups)} fingerprints: "
             + ", ".join(f"`{key}` {overall(group)}" for key, group in groups.items())]
    for key, group in groups.items():
        lines += ["", f"### `{key}`: {overall(group)}"]
        for report in group:
            lines += ["", f"report `{report.path}`, baseline: {report.baseline or 'none (report only)'}", ""]
            lines.append(gate.table(report.decisions, markdown=True) if report.decisions else "(no metrics)")
    return "\n".join(lines)
