"""A perf baseline file (``baselines/perf/*.json``, written by :mod:`ragperf.perf.baselines`).

Schema ``ragperf-perf-baseline``, versions 1 (one value per recorded run) and 2 (per-process values kept).
Every stored figure is finite; a value, a run's value and a process's value are above zero (a ratio or a
time), a standard error or spread is not negative, a tolerance is a fraction below 1.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ragperf.schemas.base import FileKind, Fraction, MetricKind, NonNegative, Positive, Saved

KIND = FileKind("ragperf perf baseline", "re-record it with `ragperf baseline record`, or move it out of the "
                "baselines folder", schema="ragperf-perf-baseline", newest=2)


class Run(Saved):
    """One recording of a metric: its value and se, and (schema 2) the value of each process."""

    value: Positive
    se: NonNegative
    processes: list[Positive] | None = None


class Figure(Saved):
    """One stored metric: its kind's name, value and se, the spreads derived from ``history``, its tolerance."""

    kind: MetricKind
    value: Positive
    se: NonNegative = 0.0
    process_sd: NonNegative | None = None
    session_sd: NonNegative | None = None
    tolerance: Fraction | None = None
    history: list[Run] = Field(default_factory=list)


class Baseline(Saved):
    """The file: which machines it applies to (``match``), where its figures come from, the figures."""

    schema_version: int
    key: str | None = None
    source: Literal["measured", "published"]
    match: dict[str, Any]
    metrics: dict[str, Figure] = Field(min_length=1)  # a file with no figure gates nothing
    fingerprint: dict[str, Any] = Field(default_factory=dict)
    recorded: str = ""
    note: str = ""
