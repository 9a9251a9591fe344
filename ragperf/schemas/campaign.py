"""A saved prove-gate campaign (``ragperf baseline prove-gate --save FILE``, :func:`ragperf.perf.proof.save`).

Schema ``ragperf-prove-campaign``, version 1. Per case, (process, figures) pairs; every figures object holds
its planted ``slowdown`` (a fraction below 1) and what the gate judges from it: a process's timing figures
(``speedup``), a lockstep block's reference and candidate figures (``prove-gate --pairs``), or cold-compile
seconds (``cold_*``). Every such number is finite; speedups and times are above zero.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ragperf.schemas.base import Count, FileKind, Finite, Fraction, NonNegative, Positive, Saved

KIND = FileKind("saved ragperf prove-gate campaign", "give a file written by `ragperf baseline prove-gate --save`",
                schema="ragperf-prove-campaign")
Metric = Annotated[str, Field(pattern=r"^(speedup|cold_compile_s|cold_compile_units)$")]


class Timing(Saved):
    """One process's interleaved timing (:meth:`ragperf.perf.timing.Comparison.figures`): what the gate reads."""

    speedup: Positive
    speedup_se: NonNegative
    speedup_low: Finite | None = None
    speedup_high: Finite | None = None
    median_s: Positive
    latency_se: NonNegative


TIMING = ("speedup", "speedup_se", "median_s", "latency_se", "recompiles_while_timed")  # a single process's, required


class Value(Saved):
    """One measured value of a campaign and the slowdown planted in it: a process's timing figures, a lockstep
    block, or one cold first call's seconds."""

    slowdown: Fraction
    speedup: Positive | None = None
    speedup_se: NonNegative | None = None
    speedup_low: Finite | None = None
    speedup_high: Finite | None = None
    median_s: Positive | None = None
    latency_se: NonNegative | None = None
    recompiles_while_timed: Count | None = None
    reference: Timing | None = None
    candidate: Timing | None = None
    cold_first_call_s: NonNegative | None = None
    cold_dynamo_s: NonNegative | None = None
    cold_backend_s: NonNegative | None = None
    cold_yardstick_s: NonNegative | None = None
    cold_units: NonNegative | None = None

    @model_validator(mode="after")
    def _judgeable(self) -> Value:
        if (self.reference is None) != (self.candidate is None):
            raise ValueError("a lockstep block needs both reference and candidate figures")
        missing = [name for name in TIMING if getattr(self, name) is None]
        if self.speedup is not None and missing:
            raise ValueError(f"timing figures need {', '.join(missing)} too")
        if self.speedup is None and self.reference is None and self.cold_first_call_s is None:
            raise ValueError("a value needs timing figures (speedup, ...), a lockstep block (reference, candidate) "
                             "or a cold first call (cold_first_call_s, ...)")
        return self


COLD = {"cold_compile_s": "cold_first_call_s", "cold_compile_units": "cold_units"}  # metric -> the figure it reads


class Campaign(Saved):
    """The file: the metrics proven, the machine's fingerprint key, each case's (process, figures) pairs. A
    reader that asks for metrics (``context={"metrics": [...]}``) gets the speedup's values only for the
    speedup, and compile seconds' only for those."""

    schema_version: int
    metrics: list[Metric] = Field(min_length=1)
    fingerprint: str
    runs: dict[str, list[tuple[Count, Value]]]

    @field_validator("metrics")
    @classmethod
    def _the_metrics_asked_for(cls, metrics: list[str], info: ValidationInfo) -> list[str]:
        asked = (info.context or {}).get("metrics")
        if "speedup" in metrics and len(metrics) > 1:
            raise ValueError("speedup is another measurement than the compile metrics: give it alone")
        if asked is not None and (metrics == ["speedup"]) != (list(asked) == ["speedup"]):
            raise ValueError(f"holds {', '.join(metrics)} values; it cannot prove {', '.join(asked)}: give the "
                             "--metric it was measured for")
        return metrics

    @model_validator(mode="after")
    def _values_of_its_metrics(self) -> Campaign:
        speedup = self.metrics == ["speedup"]
        values = [(case, i, value) for case, pairs in self.runs.items() for i, (_, value) in enumerate(pairs)]
        for case, i, value in values:
            needs = ["speedup"] if speedup else [COLD[m] for m in self.metrics]
            if (speedup and value.speedup is None and value.reference is None) or any(
                    getattr(value, name) is None for name in needs if name != "speedup"):
                raise ValueError(f"runs[{case!r}][{i}] holds no {', '.join(needs)}, yet its metrics are "
                                 f"{', '.join(self.metrics)}")
        if len({value.reference is not None for _, _, value in values}) > 1:
            raise ValueError("some values are lockstep blocks and some single processes: one campaign holds one kind")
        return self
