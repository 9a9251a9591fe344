"""A carried compile artifact's manifest (``<artifact>.json``, :mod:`ragperf.coldstart.artifacts`): what the
artifact is, which torch, machine architecture and device wrote it, its byte count and SHA-256."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ragperf.schemas.base import Count, FileKind, Saved

KIND = FileKind("compile artifact manifest", "delete the artifact and its manifest; the next run writes both")


class Manifest(Saved):
    kind: str
    torch: str
    arch: str
    device: str
    bytes: Count
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
