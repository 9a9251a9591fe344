"""Writing a file so that a reader never finds half of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def write_atomic(path: Path, write: Callable[[TextIO], object]) -> Path:
    """Call ``write`` on a uniquely named temporary file in ``path``'s folder, then ``os.replace`` it onto
    ``path``: readers see the old file or the new one, and a write that fails leaves no temporary file
    behind. Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
