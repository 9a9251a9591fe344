"""Run one process-latched configuration in a child Python process and read back its JSON result.

The child prints its result as the last line of stdout. Ctrl-C (or any exception) in the parent
terminates the child and waits for it, so no orphan keeps a core busy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable

from ragperf import knobs
from ragperf.errors import RagperfError


def run_json(module: str, args: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
             progress: Callable[[str], None] | None = None) -> dict:
    """``python -m module *args`` with ``env`` overrides; returns the JSON object on its last stdout line.

    With ``progress``, the child's stderr lines that start with ``[ragperf]`` are passed to it as
    they arrive (the child says what it is compiling or timing).
    """
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.Popen(cmd, env=knobs.subprocess_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out, None), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err, progress), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout)
        for reader in readers:
            reader.join()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    lines = "".join(out).strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = ("".join(err).strip().splitlines() or ["(no output)"])[-1]
        raise RagperfError(f"{module} {' '.join(args)} failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])


def _drain(stream, sink: list[str], progress: Callable[[str], None] | None) -> None:
    for line in stream:
        sink.append(line)
        if progress is not None and line.startswith("[ragperf]"):
            progress(line.rstrip("\n"))


def child_progress(enabled: bool, line: str) -> None:
    """In a child job: a progress line on stderr, in the form :func:`run_json` passes through."""
    if enabled:
        print(f"[ragperf]   {line}", file=sys.stderr, flush=True)
