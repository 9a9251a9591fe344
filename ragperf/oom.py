"""pytest side of GPU out-of-memory (loaded by :mod:`ragperf.plugin`).

A test or fixture that runs the GPU out of memory fails with one line - which test, what it tried
to allocate, what to do - instead of a page of traceback; the allocator's cached blocks are
released before the next test, so one oversized test does not take the rest of the run with it.
The error is recognised by type (``torch.OutOfMemoryError``) or message, also when wrapped (a
compile error whose cause is the OOM).
"""

from __future__ import annotations

import gc
import sys

import pytest

MARKERS = ("CUDA out of memory", "out of memory on device", "HIP out of memory")
ADVICE = "free the GPU (other processes?) or run smaller shapes/batches"


def out_of_memory(exc: BaseException | None) -> BaseException | None:
    """The GPU out-of-memory error in ``exc``'s cause/context chain, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        torch = sys.modules.get("torch")
        if (torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ()))) or \
                any(marker in str(exc) for marker in MARKERS):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _release_gpu_memory() -> None:
    gc.collect()  # the failed test's frames held its tensors
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _guarded(item: pytest.Item, phase: str):
    reason = None
    try:
        return (yield)
    except Exception as exc:  # noqa: BLE001 - anything but an OOM is re-raised as it was
        oom = out_of_memory(exc)
        if oom is None:
            raise
        first = (str(oom).strip().splitlines() or [type(oom).__name__])[0]
        reason = f"GPU out of memory in {phase} of {item.nodeid}: {first} - {ADVICE}"
    finally:
        if reason is not None:
            _release_gpu_memory()
    pytest.fail(reason, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    return (yield from _guarded(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _guarded(item, "the test"))
