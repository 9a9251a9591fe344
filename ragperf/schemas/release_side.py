"""A saved release side (``ragperf release PYTHON --save FILE``, :mod:`ragperf.jobs.release_side`).

Schema ``ragperf-release-side/1``; a side saved before parity lanes and memory were measured
(``ragperf-drift-side/1``) is read too. A recompile row holds non-negative whole counts (or why it was
skipped), a parity row a finite RMSE (``null``: not finite when measured) and its verdict, a memory row at
least one compiled/eager ratio, each finite and above zero.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ragperf.schemas.base import Count, FileKind, NonNegative, Positive, Saved

KIND = FileKind("saved release side", "record it again with `ragperf release PYTHON --save FILE`",
                schema="ragperf-release-side", suffixed=True, aliases=("ragperf-drift-side/1",))


class Versions(Saved):
    """The side's fingerprint and versions (:func:`ragperf.jobs.release_side.versions`); all optional."""

    key: str | None = None
    torch: str | None = None
    transformers: str | None = None
    onednn: str | None = None
    python: str | None = None
    ragperf: str | None = None


class RecompileRow(Saved):
    """One (scenario, strategy) row: its counts, error and recompile reasons - or why it was skipped."""

    key: str
    counts: dict[str, Count] | None = None
    error: str | None = None
    reasons: list[str] = Field(default_factory=list)
    skipped: str | None = None

    @model_validator(mode="after")
    def _counted_or_skipped(self) -> RecompileRow:
        if self.counts is None and self.skipped is None:
            raise ValueError("a recompile row needs counts, or skipped with the reason")
        return self


class ParityRow(Saved):
    """One ladder variant or decode mode in one fastmath lane: RMSE against fp64, eager's, the verdict."""

    key: str
    rmse: NonNegative | None = None
    rmse_eager: NonNegative | None = None
    verdict: Literal["pass", "fail"]
    status: str


class MemoryRow(Saved):
    """One variant's compiled/eager steady peak, once per fresh process."""

    key: str
    ratios: list[Positive] = Field(min_length=1)
    peak_bytes: list[Count] = Field(default_factory=list)


class ReleaseSide(Saved):
    """One environment's untimed answers."""

    settings: dict[str, Any] = Field(default_factory=dict)
    versions: Versions
    recompile: list[RecompileRow]
    parity: list[ParityRow]
    memory: list[MemoryRow] = Field(default_factory=list)  # a drift-side/1 has none
