"""Fleet reports: the gate reports of many runners (x86, Graviton, GPU) merged into one view of a release.

A gate report is the JSON that ``pytest -m perf --ragperf-perf-report PATH`` (or ``ragperf baseline
compare --report``) writes: the runner's fingerprint, the baseline it was gated against, and every
metric's decision. :func:`merge` renders one Markdown section per fingerprint - every metric with its
verdict - under one overall verdict: FAIL if any runner failed a metric (then INCONCLUSIVE, WARN, PASS,
and REPORT when no runner had a baseline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ragperf.errors import RagperfError
from ragperf.perf import gate, metrics

STATUSES = (gate.PASS, gate.WARN, gate.FAIL, gate.INCONCLUSIVE, gate.REPORT)
WRITE_ONE = "write one with `pytest -m perf --ragperf-perf-report PATH`"


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
    """Read a gate report; a missing, corrupt or foreign file is one :class:`RagperfError` line."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RagperfError(f"cannot read gate report {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RagperfError(f"{path} is not JSON ({exc}), so not a ragperf gate report; {WRITE_ONE}") from None
    try:
        decisions = [_decision(d) for d in data["decisions"]]
        fingerprint, baseline = data["fingerprint"], data["baseline"]
        if not isinstance(fingerprint, dict) or not isinstance(fingerprint["key"], str):
            raise TypeError("fingerprint has no key")
    except (KeyError, TypeError, ValueError) as exc:
        raise RagperfError(f"{path} is not a ragperf gate report (missing or bad {exc}); {WRITE_ONE}") from None
    return Report(path, fingerprint, baseline, decisions)


def _decision(d: dict) -> gate.Decision:
    if d["status"] not in STATUSES:
        raise ValueError(f"status {d['status']!r}")
    if d["kind"] not in metrics.KINDS:
        raise ValueError(f"kind {d['kind']!r}")
    measured = gate.Measurement(d["metric"], d["kind"], float(d["measured"]), float(d["se"]), d["low"], d["high"])
    return gate.Decision(d["metric"], d["status"], measured,
                         {"value": d["baseline"]} if d["baseline"] is not None else None, d["change"],
                         d["bound"], d["message"], d.get("baseline_source") or "", d.get("attempts", 1),
                         machine=d.get("machine"))


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
