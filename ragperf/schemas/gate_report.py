"""A gate report: the JSON ``pytest -m perf --ragperf-perf-report PATH`` and ``ragperf baseline compare
--report`` write (:func:`ragperf.perf.plugin.report_json`), read by ``baseline summary`` and ``baseline merge``.

It has no schema string (its format predates one). Every measured figure is finite and above zero, every se
and bound not negative; a status and a kind are the registry's (given by the reader as context).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ragperf.schemas.base import FileKind, Finite, GateStatus, MetricKind, NonNegative, Positive, Saved

KIND = FileKind("ragperf gate report", "write one with `pytest -m perf --ragperf-perf-report PATH`")


class Fingerprint(Saved):
    """The runner's hardware fingerprint; its ``key`` groups reports by machine."""

    key: str


class GateDecision(Saved):
    """One metric's decision, as :meth:`ragperf.perf.gate.Decision.to_json` writes it."""

    metric: str
    status: GateStatus
    kind: MetricKind
    measured: Positive
    se: NonNegative
    low: Finite | None = None
    high: Finite | None = None
    baseline: Positive | None = None
    baseline_source: str | None = None
    change: Finite | None = None
    bound: NonNegative | None = None
    attempts: Annotated[int, Field(ge=1)] = 1
    message: str = ""
    machine: dict | None = None  # the machine's state while it was measured (ragperf.perf.machine_state)

    @model_validator(mode="after")
    def _a_change_needs_its_baseline(self) -> GateDecision:
        if self.baseline is None and (self.change is not None or self.bound is not None):
            raise ValueError("a change or bound without the baseline it was judged against")
        return self


class GateReport(Saved):
    """One runner's report: its fingerprint, the baseline file it was gated against (``None``: report only),
    each decision, and the verdict it printed (when written)."""

    verdict: GateStatus | None = None
    fingerprint: Fingerprint
    baseline: str | None
    decisions: list[GateDecision]
