"""A repro bundle's ``env.json`` (:func:`ragperf.evidence.bundle.write`): where the test ran from, the
process-latched environment it ran with (each variable a string, or ``null``: unset), versions and parameters."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ragperf.schemas.base import FileKind, Saved

KIND = FileKind("repro bundle's env.json", "failed tests write a bundle under --ragperf-trace-dir")


class ReproEnv(Saved):
    nodeid: str = ""
    cwd: str = "."
    latched_env: dict[str, str | None]
    versions: dict[str, str | None] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    fingerprint: dict[str, Any] = Field(default_factory=dict)
