"""Command-line value checks shared by the ``ragperf`` command and the pytest plugin.

Each function (or :class:`Count` / :class:`Amount` object: every count and duration is bounded) takes the
option's text and returns the parsed value, or raises :class:`argparse.ArgumentTypeError` with one line that
says what to give instead. Used as argparse
``type=`` (the ``ragperf`` command, and pytest's ``addoption``), so a bad value is refused while the
command line is read - before any model loads or anything is measured.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from ragperf.errors import RagperfError

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


@dataclass(frozen=True)
class Count:
    """A whole number of ``what`` from ``low`` to ``high`` (both included); as an argparse ``type``, refuses anything
    else with one line naming the bounds. Every count an option takes is one (:data:`bounds` goes in its help)."""

    low: int
    high: int
    what: str

    def __call__(self, text: str) -> int:
        give = {0: "0 or more", 1: "a positive integer"}.get(self.low, f"{self.low} or more")
        return _number(text, int, lambda v: self.low <= v <= self.high,
                       f"{text!r} is not a whole number of {self.what} from {self.low} to {self.high}; give {give}, "
                       f"at most {self.high}")

    @property
    def bounds(self) -> str:
        return f"{self.low}-{self.high}"


@dataclass(frozen=True)
class Amount:
    """A finite number of ``unit`` above 0 (or from 0, where ``zero`` says what 0 means) and at most ``high``; as an
    argparse ``type``, refuses anything else - nan and inf too - with one line naming the bounds. Every duration an
    option takes is one."""

    high: float
    zero: str = ""  # where 0 is allowed, what it does (e.g. "0 turns it off")
    unit: str = "seconds"

    def __call__(self, text: str) -> float:
        give = f"0 to {self.high:g} ({self.zero})" if self.zero else f"a positive number up to {self.high:g}"
        return _number(text, float, lambda v: (v >= 0 if self.zero else v > 0) and v <= self.high,
                       f"{text!r} is not a number of {self.unit} from {0 if self.zero else 'above 0'} to "
                       f"{self.high:g}; give {give}")

    @property
    def bounds(self) -> str:
        return f"{'0' if self.zero else '>0'}-{self.high:g} {self.unit}"


MAX_BATCH = 4096  # a batch size past this is a typo on any machine ragperf measures
MAX_TOKENS = 32_768  # a sequence, prompt or generation longer than this is one too
DAY_S = 24 * 3600.0
WEEK_S = 7 * DAY_S


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


def _path(text: str) -> Path:
    """``text`` as a path; an empty one (a variable that expanded to nothing) is refused, never read as ``.``."""
    if not text.strip():
        raise Bad("empty path; give a file or folder name")
    return Path(text).expanduser()


def nonblank(text: str) -> str:
    """A name or path that must be given when the option is: an empty one (a variable that expanded to nothing)
    is refused, never read as the option's absence."""
    if not text.strip():
        raise Bad("empty value; give one, or leave the option out")
    return text


def existing_file(text: str) -> Path:
    """A file that exists and can be read."""
    path = _path(text)
    if not path.exists():
        raise Bad(f"{text} does not exist; give an existing file")
    if not path.is_file():
        raise Bad(f"{text} is not a file; give a file")
    if not os.access(path, os.R_OK):
        raise Bad(f"{text} is not readable; fix its permissions")
    return path


def existing_dir(text: str) -> Path:
    """A folder that exists (a mistyped one must not quietly mean 'empty')."""
    path = _path(text)
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise Bad(f"{text} {what}; give an existing folder")
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: it may not exist yet, but it must not be a file and must be writable."""
    path = _path(text)
    if path.exists() and not path.is_dir():
        raise Bad(f"{text} is a file; give a folder to write into (it is created if missing)")
    parent = next((p for p in (path, *path.absolute().parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise Bad(f"cannot write into {text}: {parent} is not a writable folder; give another output folder")
    return path


def output_file(text: str) -> Path:
    """A file to write: its folder must exist and be writable; it must not be a folder."""
    path = _path(text)
    if path.is_dir():
        raise Bad(f"{text} is a folder; give a file name to write")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise Bad(f"folder {parent} does not exist; create it first or give a path in an existing folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise Bad(f"cannot write {text}: permission denied; give a writable path")
    return path


def refuse_unused(flags: dict[str, object], applies: bool, instead: str) -> None:
    """When ``applies`` is false, a RagperfError naming the first of ``flags`` (option -> parsed value) that was
    given (neither None, False nor empty): a value the command would not use is refused, never silently dropped.
    ``instead`` says what the flag needs."""
    if applies:
        return
    for flag, value in flags.items():
        if value is not None and value is not False and value != [] and value != "":
            raise RagperfError(f"{flag} does not apply here: {instead}")


def refuse_repeats(values: list, what: str) -> None:
    """A RagperfError naming the first value of ``values`` given twice (the same case, file or scenario)."""
    seen = set()
    for value in values:
        key = str(Path(value).resolve()) if isinstance(value, Path) else value
        if key in seen:
            raise RagperfError(f"{what} {value} is given twice; give each once")
        seen.add(key)


def refuse_inside(path: Path | None, folder: Path, option: str, folder_is: str) -> None:
    """A RagperfError when output ``path`` (given to ``option``) would land directly in ``folder``, whose every file
    is read back as ``folder_is`` (a report written among the baselines would be read as one - or replace one)."""
    if path is not None and Path(path).expanduser().absolute().parent == Path(folder).expanduser().absolute():
        raise RagperfError(f"{option} {path} is inside {folder}, the folder of {folder_is}: writing there would "
                           f"replace or add to them; give a path outside it")
