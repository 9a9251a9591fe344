"""The Inductor cache folder a run will use: checked once, before any measuring starts.

Inductor writes generated code and compiled libraries into ``$TORCHINDUCTOR_CACHE_DIR`` (default:
a folder under the temp dir). A folder it cannot write stops a compile deep inside a child job with
a traceback; :func:`check_env_cache_dir` turns that into one line up front. A cache whose entries
are corrupt needs nothing from ragperf: Inductor logs a warning and compiles afresh.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ragperf.errors import RagperfError

ENV = "TORCHINDUCTOR_CACHE_DIR"


def check_cache_dir(path: Path | str) -> Path:
    """``path``, created if missing and proven writable by writing a file in it; else a RagperfError
    naming it and what to do."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise RagperfError(f"Inductor cache folder {path} ({ENV}) is not usable: {exc.strerror or exc}; "
                           f"point {ENV} at a writable folder, or unset it") from None
    return path


def check_env_cache_dir(env: dict[str, str] | None = None) -> Path | None:
    """:func:`check_cache_dir` on ``$TORCHINDUCTOR_CACHE_DIR`` when it is set; None when it is not."""
    value = (os.environ if env is None else env).get(ENV, "").strip()
    return check_cache_dir(value) if value else None
