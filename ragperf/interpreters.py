"""Another Python environment that runs ragperf: a side of ``ragperf release`` or the ``--reference`` of an A/B
gate. Given as an interpreter or a venv folder; checked with one quick start before anything is measured.

ragperf passes its own environment on to the children it starts, so ``PYTHONPATH=CHECKOUT`` makes every
side run one checkout's ragperf.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ragperf.errors import RagperfError

INSTALL = "install ragperf and torch there (pip install -e CHECKOUT), or run with PYTHONPATH=CHECKOUT"


def resolve(spec: str, other: str = "") -> str:
    """The interpreter ``spec`` names: itself, or a venv folder's ``bin/python``; one line when there is none
    (``other``: what else the caller would have accepted, said in that line)."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise RagperfError(f"{spec} does not exist; give a python interpreter{other or ' or a venv folder'}")
    if path.is_dir():
        python = path / "bin" / "python"
        if not python.exists():
            raise RagperfError(f"{spec} is a folder without bin/python; give a venv folder or its python")
        path = python
    return str(path)


def probe(python: str, spec: str, module: str) -> dict:
    """One quick start of ``python``: it must import ragperf, torch, transformers and ``module`` (the job it will
    run). Returns what it found: ``ragperf`` (the file), ``torch``, ``transformers`` and ``schema`` (``module``'s
    ``SCHEMA``, ``None`` without one)."""
    from ragperf import knobs
    from ragperf.subproc import last_line

    code = ("import importlib, json, ragperf, torch, transformers; "
            f"job = importlib.import_module({module!r}); "
            "print(json.dumps({'ragperf': ragperf.__file__, 'torch': torch.__version__, "
            "'transformers': transformers.__version__, 'schema': getattr(job, 'SCHEMA', None)}))")
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300,
                              env=knobs.subprocess_env())
    except (OSError, subprocess.SubprocessError) as exc:
        raise RagperfError(f"{spec} cannot be run as a python interpreter ({type(exc).__name__}: {exc})") from None
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (IndexError, ValueError):
        found = None
    if not isinstance(found, dict):
        last = last_line(done.stderr)
        raise RagperfError(f"{spec} cannot run ragperf's measurement set ({last}): {INSTALL}")
    return found
