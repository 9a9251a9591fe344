"""pytest side of the lanes that must run alone - perf (timings), coldstart (first calls) and arm64 (an emulated
CPU under QEMU): co-running pytest-xdist workers corrupt what they measure, so such a run is refused at start-up
(``-m`` asks for them with ``-n`` > 0) and a test of theirs that still reaches a worker fails instead of running.
Loaded by :mod:`ragperf.plugin`.
"""

from __future__ import annotations

import re

import pytest

ALONE_MARKERS = ("perf", "coldstart", "arm64")


def pytest_configure(config: pytest.Config) -> None:
    """An xdist run whose ``-m`` asks for a lane of :data:`ALONE_MARKERS` is one usage line: use -n 0."""
    workers = _xdist_workers(config)
    markexpr = config.getoption("markexpr", "") or ""
    alone = [m for m in ALONE_MARKERS if re.search(rf"\b{m}\b", markexpr) and _selects(markexpr, m)]
    if workers and alone:
        raise pytest.UsageError(f"{' and '.join(alone)} tests must not share the machine with other workers "
                                f"(got -n {workers} with -m '{markexpr}'): run them with -n 0")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A perf, coldstart or arm64 test that still reached an xdist worker (no -m naming it) fails instead of timing."""
    alone = [m for m in ALONE_MARKERS if item.get_closest_marker(m)]
    if alone and hasattr(item.config, "workerinput"):
        pytest.fail(f"{alone[0]} tests must not share the machine with other workers: run them with -n 0",
                    pytrace=False)


def _xdist_workers(config: pytest.Config) -> int:
    """How many xdist workers this (controller) run starts; 0 when it is not distributed."""
    if hasattr(config, "workerinput"):  # a worker: its controller already decided
        return 0
    if config.getoption("dist", "no") == "no":
        return 0
    return len(config.getoption("tx", None) or [])


def _selects(markexpr: str, marker: str) -> bool:
    """Whether ``-m markexpr`` keeps a test that carries only ``marker``."""
    if not markexpr.strip():
        return True
    from _pytest.mark.expression import Expression  # the -m parser itself; no public API evaluates it

    try:
        return Expression.compile(markexpr).evaluate(lambda name, **kwargs: name == marker and not kwargs)
    except (SyntaxError, pytest.UsageError):
        return False  # pytest reports a malformed -m itself


