"""Run one process-latched configuration in a child Python process and read back its JSON result.

The child prints its result as the last line of stdout. Ctrl-C (or any exception) in the parent
terminates the child and waits for it, so no orphan keeps a core busy.
"""

from __future__ import annotations

import json
import subprocess
import sys

from ragperf import knobs
from ragperf.errors import RagperfError


def run_json(module: str, args: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict:
    """``python -m module *args`` with ``env`` overrides; returns the JSON object on its last stdout line."""
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.Popen(cmd, env=knobs.subprocess_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RagperfError(f"{module} {' '.join(args)} failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])
