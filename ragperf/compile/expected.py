"""Expected-behaviour tables: what torch.compile is expected to do in each recompile scenario.

One CSV per torch minor version and transformers minor version, like PyTorch's
``benchmarks/dynamo/ci_expected_accuracy`` CSVs: ``baselines/expected/torch2.13-transformers5.23.csv``.
A row is keyed by (scenario, strategy, backend) and holds the counts of
:data:`ragperf.compile.probe.COUNT_FIELDS`.

Which table judges a run (its own, else the nearest earlier one) and how rows drifted from it:
:mod:`ragperf.compile.drift`. A check fails when reality differs in *either* direction - an improvement
is a change the table must record, or it stops being true - and the failure prints the row to paste and
the command that regenerates the table (``ragperf expected --update``, or ``pytest tests/recompile
--ragperf-update-expected``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from ragperf.compile.probe import COUNT_FIELDS, ProbeReport
from ragperf.errors import RagperfError
from ragperf.files import write_atomic
from ragperf.schemas import table

KEY_FIELDS = ("scenario", "strategy", "backend")
COLUMNS = KEY_FIELDS + COUNT_FIELDS
EXPECTED_DIR = Path("baselines") / "expected"
REGENERATE = "ragperf expected --update (or: pytest tests/recompile --ragperf-update-expected)"

Key = tuple[str, str, str]


def table_name(torch_version: str | None = None, transformers_version: str | None = None) -> str:
    """``torch2.13-transformers5.23.csv`` for the installed (or given) versions."""
    if torch_version is None:
        import torch

        torch_version = torch.__version__
    if transformers_version is None:
        import transformers

        transformers_version = transformers.__version__
    return f"torch{_minor(torch_version)}-transformers{_minor(transformers_version)}.csv"


def _minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def format_row(key: Key, counts: dict[str, int], count_fields: tuple[str, ...] = COUNT_FIELDS) -> str:
    return ",".join([*key, *(str(int(counts[f])) for f in count_fields)])


class ExpectationMismatch(AssertionError):
    """Reality differs from the expected-behaviour table; the message says what changed and what to do."""


@dataclass
class ExpectedTable:
    """The rows of one table file; :meth:`check` compares, :meth:`record` + :meth:`save` regenerate."""

    path: Path
    rows: dict[Key, dict[str, int]] = field(default_factory=dict)
    # A table of other behaviour (e.g. ragperf.coldstart.bypass) subclasses with its own columns.
    key_fields: tuple[str, ...] = field(default=KEY_FIELDS, init=False, repr=False)
    count_fields: tuple[str, ...] = field(default=COUNT_FIELDS, init=False, repr=False)
    regenerate: str = field(default=REGENERATE, init=False, repr=False)
    recorded: set[Key] = field(default_factory=set, repr=False)  # keys record() wrote: they win in save()

    @classmethod
    def load(cls, directory: Path | str = EXPECTED_DIR, name: str | None = None) -> ExpectedTable:
        path = Path(directory) / (name or table_name())
        table = cls(path)
        if path.exists():
            table.rows = table.parse(read(path), source=str(path))
        return table

    def check(self, key: Key, report: ProbeReport | dict[str, int]) -> None:
        """Raise :class:`ExpectationMismatch` unless ``report``'s counts equal the row for ``key``."""
        counts = self._counts(report)
        message = self.mismatch(key, counts)
        if message:
            raise ExpectationMismatch(message)

    def mismatch(self, key: Key, counts: dict[str, int]) -> str | None:
        """The failure message for ``key``, or None when the table agrees with ``counts``."""
        paste = (f"Row to paste into {self.path}:\n  {format_row(key, counts, self.count_fields)}\n"
                 f"Or regenerate the table: {self.regenerate}")
        label = " / ".join(key)
        expected = self.rows.get(key)
        if expected is None:
            where = "" if self.path.exists() else f" (no table {self.path.name} for this torch/transformers yet)"
            return f"{label}: no expected row{where}.\n{paste}"
        changes = []
        for name in self.count_fields:
            want, got = expected[name], int(counts[name])
            if want != got:
                direction = "more" if got > want else "fewer: an improvement, but the table must record it"
                changes.append(f"{name} expected {want}, got {got} ({direction})")
        if not changes:
            return None
        return f"{label}: " + "; ".join(changes) + f"\n{paste}"

    def record(self, key: Key, report: ProbeReport | dict[str, int]) -> None:
        counts = self._counts(report)
        self.rows[key] = {f: int(counts[f]) for f in self.count_fields}
        self.recorded.add(key)

    def dumps(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.key_fields + self.count_fields)
        for key in sorted(self.rows):
            writer.writerow([*key, *(self.rows[key][f] for f in self.count_fields)])
        return out.getvalue()

    def parse(self, text: str, source: str = "<table>") -> dict[Key, dict[str, int]]:
        return parse(text, source, self.key_fields, self.count_fields, self.regenerate)

    @staticmethod
    def _counts(report: ProbeReport | dict[str, int]) -> dict[str, int]:
        return report.counts() if isinstance(report, ProbeReport) else dict(report)

    def save(self) -> Path:
        """Merge this table into the file and write it atomically; safe when several processes (xdist
        workers updating the table) save at once: under a lock, rows recorded here win, the file's
        rows win over rows merely loaded here (another worker may have re-recorded them), and rows
        only here are kept - no worker's rows are lost."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with save_lock(self.path):
            on_disk = self.parse(read(self.path), str(self.path)) if self.path.exists() else {}
            mine = {k: v for k, v in self.rows.items() if k in self.recorded or k not in on_disk}
            self.rows = {**on_disk, **mine}
            write_atomic(self.path, lambda handle: handle.write(self.dumps()))
        return self.path


def save_lock(path: Path) -> FileLock:
    """The cross-process lock of one table file (kept in the temp folder, not next to the table)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"ragperf-expected-{digest}.lock")


def read(path: Path) -> str:
    """A table file's text; an unreadable or non-text file is one clear error naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RagperfError(f"cannot read expected table {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RagperfError(f"{path} is not a text CSV file; regenerate it with {REGENERATE}") from None


def parse(text: str, source: str = "<table>", key_fields: tuple[str, ...] = KEY_FIELDS,
          count_fields: tuple[str, ...] = COUNT_FIELDS, regenerate: str = REGENERATE) -> dict[Key, dict[str, int]]:
    """Rows of a table's CSV text, each read through :mod:`ragperf.schemas.table`; a malformed file (a cell
    missing or beyond the header, a count that is not a whole number of 0 or more, a row twice) is one clear
    error naming the line."""
    try:
        return _rows(text, source, key_fields, count_fields, regenerate)
    except csv.Error as exc:
        raise RagperfError(f"{source}: not a CSV table ({exc}); regenerate it with {regenerate}") from None


def _rows(text: str, source: str, key_fields: tuple[str, ...], count_fields: tuple[str, ...],
          regenerate: str) -> dict[Key, dict[str, int]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = key_fields + count_fields
    if tuple(reader.fieldnames or ()) != columns:
        raise RagperfError(f"{source}: header must be {','.join(columns)}; regenerate it with {regenerate}")
    rows: dict[Key, dict[str, int]] = {}
    for line_no, cells in enumerate(reader, start=2):
        try:
            key, counts = table.row(cells, key_fields, count_fields)
        except ValueError as exc:
            raise RagperfError(f"{source}:{line_no}: {exc}; regenerate with {regenerate}") from None
        if key in rows:
            raise RagperfError(f"{source}:{line_no}: row {' / '.join(key)} is there twice; regenerate with {regenerate}")
        rows[key] = counts  # type: ignore[index]
    return rows
