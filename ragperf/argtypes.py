"""Command-line value checks shared by the ``ragperf`` command and the pytest plugin.

Each function takes the option's text and returns the parsed value, or raises
:class:`argparse.ArgumentTypeError` with one line that says what to give instead. Used as argparse
``type=`` (the ``ragperf`` command, and pytest's ``addoption``), so a bad value is refused while the
command line is read - before any model loads or anything is measured.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

BACKENDS = ("inductor", "aot_eager", "eager")
Bad = argparse.ArgumentTypeError


class OneLineParser(argparse.ArgumentParser):
    """Bad usage is one line on stderr (exit 2) naming the option and where the help is; subparsers inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _number(text: str, kind: type, accepts, why: str):
    """``text`` as ``kind`` when ``accepts(value)``, else :data:`Bad` with ``why`` (unparsable text too)."""
    try:
        value = kind(text)
    except ValueError:
        raise Bad(why) from None
    if not accepts(value):
        raise Bad(why)
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (rounds, tokens, processes, runs)."""
    return _number(text, int, lambda v: v >= 1, f"{text!r} is not a positive integer; give 1 or more")


def non_negative_int(text: str) -> int:
    """An integer >= 0 (an optional count: 0 means none)."""
    return _number(text, int, lambda v: v >= 0, f"{text!r} is not a count; give 0 or more")


def positive_float(text: str) -> float:
    """A number > 0 (seconds)."""
    return _number(text, float, lambda v: v > 0, f"{text!r} is not a positive number of seconds, e.g. 600")


def non_negative_float(text: str) -> float:
    """A number >= 0 (seconds, where 0 turns the thing off)."""
    return _number(text, float, lambda v: v >= 0, f"{text!r} is not a number of seconds >= 0 (0 turns it off)")


def slowdown(text: str) -> float:
    """A planted slowdown: a fraction >= 0 of the compiled path's time (0.1 = 10% slower)."""
    return _number(text, float, lambda v: 0 <= v < 10,
                   f"{text!r} is not a slowdown fraction; give 0 or more, e.g. 0.1 for 10% slower")


DETECT_RANGE = (0.005, 0.5)  # a smaller change needs more pairs than any plan allows; a larger one is no question
MAX_BUDGET_S = 24 * 3600.0


def detect_fraction(text: str) -> float:
    """The slowdown an A/B run must catch, as a fraction (0.02 = 2% slower), within :data:`DETECT_RANGE`."""
    low, high = DETECT_RANGE
    return _number(text, float, lambda v: low <= v <= high,
                   f"{text!r} is not a change to detect; give a fraction from {low:g} to {high:g}, e.g. 0.02 for 2%")


def budget_seconds(text: str) -> float:
    """A time budget in seconds, > 0 and at most :data:`MAX_BUDGET_S` (a day)."""
    return _number(text, float, lambda v: 0 < v <= MAX_BUDGET_S,
                   f"{text!r} is not a time budget; give seconds from 1 to {MAX_BUDGET_S:.0f}, e.g. 600")


def slowdowns(text: str) -> list[float]:
    """A comma list of planted slowdowns, each > 0, e.g. ``0.10,0.05``."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = [-1.0]
    if any(not 0 < v < 10 for v in values):
        raise Bad(f"{text!r} is not a comma list of slowdown fractions; write e.g. 0.10,0.05")
    return values


def device(text: str) -> str:
    """``cpu``, or ``cuda`` when this torch sees a GPU."""
    if text not in ("cpu", "cuda"):
        raise Bad(f"unknown device {text!r}; choose cpu or cuda")
    if text == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise Bad(f"cuda is not available (torch {torch.__version__}: torch.cuda.is_available() is False); "
                      "use --device cpu or a CUDA build of torch on a GPU machine")
    return text


def existing_file(text: str) -> Path:
    """A file that exists and can be read."""
    path = Path(text).expanduser()
    if not path.exists():
        raise Bad(f"{text} does not exist; give an existing file")
    if not path.is_file():
        raise Bad(f"{text} is not a file; give a file")
    if not os.access(path, os.R_OK):
        raise Bad(f"{text} is not readable; fix its permissions")
    return path


def existing_dir(text: str) -> Path:
    """A folder that exists (a mistyped one must not quietly mean 'empty')."""
    path = Path(text).expanduser()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise Bad(f"{text} {what}; give an existing folder")
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: it may not exist yet, but it must not be a file and must be writable."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise Bad(f"{text} is a file; give a folder to write into (it is created if missing)")
    parent = next((p for p in (path, *path.absolute().parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise Bad(f"cannot write into {text}: {parent} is not a writable folder; give another output folder")
    return path


def output_file(text: str) -> Path:
    """A file to write: its folder must exist and be writable; it must not be a folder."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise Bad(f"{text} is a folder; give a file name to write")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise Bad(f"folder {parent} does not exist; create it first or give a path in an existing folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise Bad(f"cannot write {text}: permission denied; give a writable path")
    return path
