"""The Inductor cache folder a run will use: checked once, before any measuring starts.

Inductor writes generated code and compiled libraries into ``$TORCHINDUCTOR_CACHE_DIR`` (default:
a folder under the temp dir). A folder it cannot write stops a compile deep inside a child job with
a traceback; :func:`check_cache_dir` turns that into one line up front (``$TORCHINDUCTOR_CACHE_DIR`` itself is
checked with every variable ragperf reads, :func:`ragperf.knobs.check_environment`). A cache whose entries
are corrupt needs nothing from ragperf: Inductor logs a warning and compiles afresh.
"""

from __future__ import annotations

from pathlib import Path

from ragperf import knobs

ENV = "TORCHINDUCTOR_CACHE_DIR"


def check_cache_dir(path: Path | str) -> Path:
    """``path``, created if missing and proven writable by writing a file in it; else a RagperfError
    naming it and what to do."""
    return knobs.check_folder(ENV, path)
