"""A structured compile trace (what ``TORCH_TRACE`` writes) for one stretch of code, in-process.

``TORCH_TRACE`` is read once when torch is imported. :class:`StructuredTrace` instead adds its own
:class:`torch._logging._internal.LazyTraceHandler` to ``torch._logging._internal.trace_log`` for the
duration of a ``with`` block, so each test gets its own raw trace that ``tlparse`` can render.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TLPARSE_TIMEOUT_S = 120


class StructuredTrace:
    """``with StructuredTrace(folder) as trace: ...``: every compile inside writes to ``folder/*.log``.

    Nothing is created until torch logs its first structured event, so code that compiles nothing
    leaves no files (:attr:`raw_files` is then empty).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._handler = None
        self._saved: tuple[int, bool] = (0, False)

    def __enter__(self) -> StructuredTrace:
        from torch._logging import _internal, structured

        # Interned frame strings are logged once per process; restart the table so this trace is
        # self-contained (tlparse resolves stack frames only from strings in the same file).
        structured.INTERN_TABLE.clear()
        self._handler = _internal.LazyTraceHandler(str(self.folder))
        self._handler.setFormatter(_internal.TorchLogsFormatter(trace=True))
        log = _internal.trace_log
        self._saved = (log.level, log.propagate)
        # DEBUG: the trace log is always at debug level. It must not propagate (see detach_foreign_handlers).
        log.setLevel(10)
        log.propagate = False
        log.addHandler(self._handler)
        return self

    def __exit__(self, *exc) -> None:
        from torch._logging import _internal

        log = _internal.trace_log
        log.removeHandler(self._handler)
        log.setLevel(self._saved[0])
        log.propagate = self._saved[1]
        self._handler.close()

    @property
    def raw_files(self) -> list[Path]:
        return sorted(self.folder.glob("*.log")) if self.folder.is_dir() else []

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def detach_foreign_handlers() -> None:
    """Leave only torch's own trace handlers on torch's trace log (a no-op before torch is imported).

    pytest's log capture attaches its handlers to every non-propagating logger, torch's trace log
    included, and torch builds every structured-trace event whenever that log has any handler: so
    every compile of every test paid for events nobody reads, and failure reports printed them as
    empty DEBUG lines.
    """
    internal = sys.modules.get("torch._logging._internal")
    if internal is None:
        return
    for handler in list(internal.trace_log.handlers):
        if not isinstance(handler, internal.LazyTraceHandler):
            internal.trace_log.removeHandler(handler)


def tlparse_command() -> str | None:
    """The ``tlparse`` executable beside this Python, else on PATH; None when it is not installed."""
    beside = Path(sys.executable).with_name("tlparse")
    return str(beside) if beside.is_file() else shutil.which("tlparse")


def render(raw: Path, out: Path) -> tuple[Path | None, str]:
    """Render one raw trace with tlparse into ``out``; returns (``out/index.html`` or None, why not)."""
    exe = tlparse_command()
    if exe is None:
        return None, "tlparse is not installed (pip install tlparse)"
    try:
        proc = subprocess.run([exe, str(raw), "-o", str(out), "--overwrite", "--no-browser"],
                              capture_output=True, text=True, timeout=TLPARSE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"tlparse took over {TLPARSE_TIMEOUT_S} s"
    index = out / "index.html"
    if proc.returncode != 0 or not index.is_file():
        return None, f"tlparse exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return index, ""
