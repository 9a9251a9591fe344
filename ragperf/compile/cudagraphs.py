"""What CUDA graph trees did around a block: graphs recorded (re-recordings among them), skips with
their reasons, and the memory the graph pools hold.

``mode="reduce-overhead"`` (and ``max-autotune``) replay CUDA graphs through
``torch._inductor.cudagraph_trees``. Three ways it goes silently slow, none a recompile:

- a *warm-up*: a function the tree has not seen - with ``dynamic=True`` every new size is one - runs
  its kernels one by one, without a graph, on its first call ("Running warmup function=..."), and
  records on the next;
- a *re-recording*: a replay's invariants fail (a new dynamic size, a static input at a new
  address, a pending output overwritten) and the tree records another graph - capture cost at a
  step that should only replay;
- a *skip*: Inductor gives up on graphs for the function (CPU ops, mutated inputs, too many
  re-recordings) and runs it kernel by kernel, bumping ``counters["inductor"]["cudagraph_skips"]``.

Sources: Dynamo's compilation callbacks (trigger ``CUDAGRAPH_RECORDING``, fired once per graph
recorded), the ``cudagraphs`` artifact loggers of ``cudagraph_trees`` / ``cudagraph_utils``
(recording and re-recording lines with reasons, skip messages; raised to DEBUG inside the block
only), ``counters["inductor"]`` and the allocator's segments of the trees' memory pools.

:func:`steady_graphs` is the gate for a window that should only replay: a recording or a skip in it
raises :class:`CudaGraphInSteadyState` with the reasons.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

LOGGERS = ("torch._inductor.cudagraph_trees.__cudagraphs", "torch._inductor.cudagraph_utils.__cudagraphs")


@dataclass
class CudaGraphReport:
    """CUDA graph activity over one watched block (counts are deltas over the block)."""

    recordings: int = 0  # graphs recorded; in a window after capture every one is a re-recording
    recorded: list[str] = field(default_factory=list)  # "Recording function=..." lines (inputs' shapes)
    rerecord_reasons: list[str] = field(default_factory=list)  # why a replay's invariants failed
    warmups: list[str] = field(default_factory=list)  # "Running warmup function=..." lines: run without a graph
    skips: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    pool_bytes: int | None = None  # held by the trees' graph pools at the block's end; None without CUDA

    @property
    def active(self) -> bool:
        return bool(self.recordings or self.skips or self.warmups)

    def summary(self) -> str:
        pool = "n/a" if self.pool_bytes is None else f"{self.pool_bytes / 2**20:.1f} MiB"
        lines = [f"cudagraphs: {self.recordings} recorded, {len(self.warmups)} warmed up, {self.skips} skipped, "
                 f"graph pool {pool}"]
        lines += [f"  warm-up (no graph): {w}" for w in self.warmups]
        lines += [f"  re-recorded: {r}" for r in self.rerecord_reasons]
        lines += [f"  skipped: {r}" for r in self.skip_reasons]
        return "\n".join(lines)


class _Lines(logging.Handler):
    """Keeps every message; passes warnings on to where they went before (the DEBUG lines stay quiet)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.propagated: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if record.levelno >= logging.WARNING and record.name in self.propagated:
            logging.getLogger(record.name.rsplit(".", 1)[0]).handle(record)


class RecordingCount:
    """Graphs CUDA graph trees record while registered (Dynamo's ``CUDAGRAPH_RECORDING`` callback), in ``.count``;
    stays 0 where no graph runs. Cheap enough to stay registered for a server's lifetime."""

    def __init__(self) -> None:
        self.count = 0

    def _on_start(self, args) -> None:
        from torch._dynamo.callback import CallbackTrigger

        if args.callback_trigger == CallbackTrigger.CUDAGRAPH_RECORDING:
            self.count += 1

    def register(self) -> RecordingCount:
        from torch._dynamo.callback import callback_handler

        callback_handler.register_start_callback(self._on_start)
        return self

    def remove(self) -> None:
        from torch._dynamo.callback import callback_handler

        callback_handler.remove_start_callback(self._on_start)


class CudaGraphWatch:
    """Context manager recording a :class:`CudaGraphReport` (in ``.report``); harmless where no graph runs."""

    def __init__(self) -> None:
        self.report = CudaGraphReport()
        self._handler = _Lines()
        self._levels: dict[str, tuple[int, bool]] = {}
        self._recordings = RecordingCount()
        self._skips_before = 0

    def __enter__(self) -> CudaGraphWatch:
        from torch._dynamo.utils import counters

        self._skips_before = counters["inductor"]["cudagraph_skips"]
        self._recordings.register()
        for name in LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = (logger.level, logger.propagate)
            if logger.propagate:
                self._handler.propagated.add(name)
            logger.setLevel(logging.DEBUG)  # re-record reasons are only computed at DEBUG
            logger.propagate = False
            logger.addHandler(self._handler)
        return self

    def __exit__(self, *exc_info) -> None:
        from torch._dynamo.utils import counters

        self._recordings.remove()
        for name, (level, propagate) in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self._handler)
            logger.setLevel(level)
            logger.propagate = propagate
        messages = self._handler.messages
        recorded = [m.split("] ", 1)[-1] for m in messages if "] Recording function=" in m]
        self.report = CudaGraphReport(
            recordings=max(self._recordings.count, len(recorded)),
            recorded=recorded,
            rerecord_reasons=[m.split("] ", 1)[-1] for m in messages if "Re-recording function=" in m],
            warmups=[m.split("] ", 1)[-1] for m in messages if "] Running warmup function=" in m],
            skips=counters["inductor"]["cudagraph_skips"] - self._skips_before,
            skip_reasons=[m for m in messages if m.startswith("skipping cudagraph")],
            pool_bytes=graph_pool_bytes())


def graph_pool_bytes() -> int | None:
    """Bytes the allocator holds in CUDA graph trees' memory pools (all devices); None without CUDA."""
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return None
    from torch._inductor import cudagraph_trees

    try:  # private internals of cudagraph_trees: a torch that moved them costs this figure, not the run
        pools = set()
        for device in range(torch.cuda.device_count()):
            manager = cudagraph_trees.get_manager(device, create_if_none_exists=False)
            if manager is not None:
                pools.add(tuple(manager.cuda_graphs_thread_pool))
        if not pools:
            return 0
        return sum(segment["total_size"] for segment in torch.cuda.memory_snapshot()
                   if tuple(segment.get("segment_pool_id", ())) in pools)
    except (AttributeError, KeyError, TypeError, RuntimeError):
        return None


class CudaGraphInSteadyState(AssertionError):
    """A CUDA graph warm-up, recording or skip inside a :func:`steady_graphs` window; the message says why."""


@contextlib.contextmanager
def steady_graphs() -> Iterator[CudaGraphWatch]:
    """Fail when the block warms up a function the graph tree has not seen (a new shape: it runs without a
    graph), records a CUDA graph (a re-recording, after capture) or skips graphs."""
    with CudaGraphWatch() as watch:
        yield watch
    report = watch.report
    if report.active:
        detail = [f"  - warm-up without a graph (a shape not captured before the window): {w}"
                  for w in report.warmups] + \
                 [f"  - recorded: {r}" for r in report.recorded] + \
                 [f"  - re-record reason: {r}" for r in report.rerecord_reasons] + \
                 [f"  - skipped: {r}" for r in report.skip_reasons]
        raise CudaGraphInSteadyState(
            f"CUDA graphs in a steady-state window: {len(report.warmups)} warmed up, {report.recordings} recorded "
            f"(the window should only replay), {report.skips} skipped:\n"
            + "\n".join(detail or ["  - (no reason logged)"]))
