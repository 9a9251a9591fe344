"""Which expected table a run is judged against, and how each scenario row drifted from it.

Resolution (:func:`resolve`): the exact ``torch<minor>-transformers<minor>.csv`` of the installed versions
when it is recorded; otherwise the nearest *earlier* recorded table - torch minor the same or earlier,
transformers minor the same or earlier, the latest such pair in version order - is the reference. A run
on an unrecorded version is therefore judged by what the previous release did, not failed for having no
table.

Each row then compares (:func:`compare`) as ``same``, ``changed`` (field by field, old -> new, with the
recompile reasons of the new run) or ``new`` (the reference has no such row). :func:`summary_lines` is
what the pytest terminal summary and ``ragperf expected`` print about a whole run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ragperf.compile.expected import (
    COUNT_FIELDS,
    EXPECTED_DIR,
    ExpectedTable,
    Key,
    _minor,
    format_row,
    table_name,
)

NAME = re.compile(r"^torch(\d+)\.(\d+)-transformers(\d+)\.(\d+)\.csv$")
RECORD = "ragperf expected --update"
Version = tuple[int, int]


def record_command(target: Path) -> str:
    """The exact command that records the table of the installed versions."""
    try:
        target = target.relative_to(Path.cwd())
    except ValueError:
        pass
    return f"{RECORD}   (writes {target}; or: pytest tests/recompile --ragperf-update-expected)"


def _pair(name: str) -> tuple[Version, Version] | None:
    match = NAME.match(name)
    if not match:
        return None
    a, b, c, d = (int(g) for g in match.groups())
    return (a, b), (c, d)


def _version(text: str) -> Version:
    major, minor = (_minor(text).split(".") + ["0"])[:2]
    return int(major), int(re.match(r"\d*", minor).group() or 0)


@dataclass
class Reference:
    """The table a run is judged against. ``exact``: it is the installed versions' own table."""

    torch_version: str
    transformers_version: str
    target: Path  # the table of the installed versions (where a recording goes)
    table: ExpectedTable  # the rows judged against (empty when nothing earlier is recorded)

    @property
    def exact(self) -> bool:
        return self.table.path == self.target

    @property
    def name(self) -> str:
        return self.table.path.stem

    @property
    def found(self) -> bool:
        return self.table.path.exists()


def resolve(directory: Path | str = EXPECTED_DIR, torch_version: str | None = None,
            transformers_version: str | None = None) -> Reference:
    """The exact table, else the nearest earlier recorded one (see the module docstring)."""
    if torch_version is None:
        import torch

        torch_version = torch.__version__
    if transformers_version is None:
        import transformers

        transformers_version = transformers.__version__
    directory = Path(directory)
    target = directory / table_name(torch_version, transformers_version)
    if target.exists():
        return Reference(torch_version, transformers_version, target, ExpectedTable.load(directory, target.name))
    want_torch, want_tf = _version(torch_version), _version(transformers_version)
    earlier = sorted((pair, path) for path in directory.glob("torch*-transformers*.csv")
                     for pair in [_pair(path.name)] if pair and pair[0] <= want_torch and pair[1] <= want_tf)
    chosen = earlier[-1][1].name if earlier else target.name
    return Reference(torch_version, transformers_version, target, ExpectedTable.load(directory, chosen))


@dataclass
class RowOutcome:
    """How one scenario row compares with the reference table."""

    key: Key
    status: str  # same | changed | new
    counts: dict[str, int]
    changes: list[tuple[str, int, int]] = field(default_factory=list)  # (field, old, new)
    reasons: list[str] = field(default_factory=list)  # "[kind] reason" of the new run's recompiles

    @property
    def label(self) -> str:
        return " / ".join(self.key)

    def describe(self) -> str:
        """One line (plus the recompile reasons when changed): what differs from the reference."""
        if self.status == "same":
            return f"{self.label}: same"
        if self.status == "new":
            return f"{self.label}: new (no such row): {format_row(self.key, self.counts)}"
        text = f"{self.label}: changed: " + ", ".join(f"{f} {old} -> {new}" for f, old, new in self.changes)
        if self.reasons:
            text += "\n    recompile reasons now: " + "\n                           ".join(self.reasons)
        return text

    def to_dict(self) -> dict:
        return {"key": list(self.key), "status": self.status, "counts": self.counts,
                "changes": [list(c) for c in self.changes], "reasons": self.reasons}

    @classmethod
    def from_dict(cls, data: dict) -> RowOutcome:
        return cls(tuple(data["key"]), data["status"], dict(data["counts"]),
                   [tuple(c) for c in data["changes"]], list(data["reasons"]))


def compare(reference: ExpectedTable, key: Key, counts: dict[str, int], reasons: list[str] | None = None) -> RowOutcome:
    """``key``'s measured ``counts`` against ``reference``'s row: same, changed (field by field) or new."""
    counts = {f: int(counts[f]) for f in COUNT_FIELDS}
    old = reference.rows.get(key)
    if old is None:
        return RowOutcome(key, "new", counts, reasons=list(reasons or []))
    changes = [(f, old[f], counts[f]) for f in COUNT_FIELDS if old[f] != counts[f]]
    return RowOutcome(key, "changed" if changes else "same", counts, changes, list(reasons or []))


def failure(outcome: RowOutcome, ref: Reference) -> str:
    """The failure message of a row that is not ``same``: its diff, and the command that records the table."""
    against = (f"vs {ref.name}" if ref.found else f"(no table {ref.target.name} and none earlier recorded)")
    own = "" if ref.exact else f"; torch {ref.torch_version} + transformers {ref.transformers_version} has no table of its own"
    return (f"{outcome.describe()}\n  {against}{own}\n"
            f"  row to record: {format_row(outcome.key, outcome.counts)}\n"
            f"  if the change is real, record the table: {record_command(ref.target)}")


def summary_lines(ref: Reference, outcomes: list[RowOutcome], mode: str) -> list[str]:
    """What a run says about its reference: one headline, then each row that is not ``same``."""
    if not outcomes:
        return []
    same = sum(o.status == "same" for o in outcomes)
    versions = f"torch {ref.torch_version} + transformers {ref.transformers_version}"
    if ref.exact:
        head = f"{versions}: {same}/{len(outcomes)} rows equal {ref.name}"
    elif ref.found:
        head = f"{versions}: no table of its own; {same}/{len(outcomes)} rows equal {ref.name}"
    else:
        head = f"{versions}: no table {ref.target.name} and none earlier recorded"
    unrun = len(set(ref.table.rows) - {o.key for o in outcomes})
    if ref.found and unrun:
        head += f" ({unrun} of its rows not run)"
    lines = [head]
    drifted = [o for o in outcomes if o.status != "same"]
    if drifted:
        verdict = "reported, not failed (--ragperf-drift=report)" if mode == "report" else "failed"
        lines.append(f"{len(drifted)} row(s) differ, {verdict}:")
        lines += ["  " + o.describe().replace("\n", "\n  ") for o in sorted(drifted, key=lambda o: o.key)]
        lines.append(f"record the table once reviewed: {record_command(ref.target)}")
    return lines
