"""Shared by the correctness tests: the lanes, and skipping (with the reason) a lane inactive here."""

import pytest

from ragperf.numerics import fastmath

LANES = fastmath.LANES


def require_lane(lane: str, device) -> None:
    status = fastmath.lane_status(lane, device.type)
    if not status.active:
        pytest.skip(f"fastmath lane {lane!r} inactive: {status.reason}")
