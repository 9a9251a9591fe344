"""A release report (``ragperf release OLD NEW --json FILE``, :func:`ragperf.jobs.release_report.build`), read
back by ``ragperf release --merge``.

Schema ``ragperf-release/1``. Its verdict and every row's status are among the report's words; a timed row
that was compared holds finite figures (change, se, band, p-values, both sides' values); counts and the
shard are whole numbers. The two sides a report embeds are not read back, so not validated here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field, model_validator

from ragperf.schemas.base import Count, FileKind, Finite, MetricKind, NonNegative, Positive, Saved
from ragperf.schemas.release_side import Versions

KIND = FileKind("release report", "give files written by `ragperf release OLD NEW --json FILE`",
                schema="ragperf-release", suffixed=True)
VERDICTS = ("regression", "improvement", "same")
STATUSES = ("same", "changed", "regression", "improvement", "new", "gone", "not compared", "report only",
            "not significant")


class Row(Saved):
    """One row: its section, key, both sides' values and the status; a timed row its gate figures."""

    section: Literal["versions", "timed", "recompile", "parity", "warm"]
    key: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    a: str | Count | None = None
    b: str | Count | None = None
    changes: list[str] = Field(default_factory=list)
    kind: MetricKind | None = None
    change: Finite | None = None
    se: NonNegative | None = None
    band: NonNegative | None = None
    p_worse: NonNegative | None = None
    p_better: NonNegative | None = None
    old: Positive | None = None
    new: Positive | None = None
    attempts: Count = 1

    @model_validator(mode="after")
    def _timed_rows_hold_their_figures(self) -> Row:
        if self.section != "timed":
            if not {"a", "b"} <= self.model_fields_set:
                raise ValueError(f"a {self.section} row needs both sides' values, a and b")
            return self
        if self.kind is None:
            raise ValueError("a timed row needs the kind of its metric")
        if self.change is not None and (self.se is None or self.band is None):
            raise ValueError("a compared timed row needs its se and band")
        if (self.status in ("regression", "not significant") and self.p_worse is None) or (
                self.status == "improvement" and self.p_better is None):
            raise ValueError(f"a timed row called {self.status} needs its p-value")
        return self


class Sides(Saved):
    old: Versions
    new: Versions


class ReleaseReport(Saved):
    """One runner's report (one shard of it): labels, machine, versions, the tally, the verdict, the rows."""

    labels: list[str] = Field(min_length=2, max_length=2)
    machine: str | None = None
    versions: Sides
    settings: dict[str, Any] = Field(default_factory=dict)
    shard: list[Count] = Field(default_factory=lambda: [0, 1], min_length=2, max_length=2)
    timed_note: str | None = None
    counts: dict[str, Count] = Field(default_factory=dict)
    verdict: Literal[VERDICTS]  # type: ignore[valid-type]
    seconds: NonNegative | None = None
    rows: list[Row]

    @model_validator(mode="after")
    def _agrees_with_its_rows(self) -> ReleaseReport:
        index, count = self.shard
        if not 0 <= index < count:
            raise ValueError(f"shard {index} of {count}: give an index below the count")
        statuses = {row.status for row in self.rows}
        verdict = next((v for v in ("regression", "improvement") if v in statuses), "same")
        if self.verdict != verdict:
            raise ValueError(f"verdict {self.verdict!r}, but its rows give {verdict!r}")
        tally = dict(Counter(row.status for row in self.rows))
        if self.counts and self.counts != tally:
            raise ValueError(f"counts {self.counts}, but its rows give {tally}")
        return self
