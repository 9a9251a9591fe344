"""Stored perf baselines: one schema-versioned JSON file per hardware fingerprint under ``baselines/perf/``.

A file holds the figures of one machine kind (``source: measured``) or figures published elsewhere
for a machine kind (``source: published``, never measured here). Its ``match`` object lists the
fingerprint fields a machine must have for the file to apply; a measured file matches on every
hard field of :data:`ragperf.perf.machine.KEY_FIELDS`, a published one on fewer (say, arch and CPU part).

Files are written atomically (temporary file, then ``os.replace``); a recording holds the file's
lock from read to write, so concurrent recordings (two processes, ``-n N``) each add their run; a
file that is not valid JSON, not a ragperf baseline, or from a newer schema stops with one clear line.

Schema 2 stores, for each recorded run, the per-process values (``history[i]["processes"]``, see
:mod:`ragperf.perf.processes`); a schema-1 file (one value per run) is upgraded when read - each
stored run counts as one process and every metric is re-summarized by the schema-2 rule - and
:func:`schema_line` says so in one line; the next recording writes schema 2. Every metric's figures
(``value``, ``se``, ``process_sd``, ``session_sd``) are derived from its history when read
(:func:`summarize`), so a file recorded under an older rule is judged by the current one.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import math
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from ragperf.errors import RagperfError
from ragperf.files import write_atomic
from ragperf.perf.machine import KEY_FIELDS
from ragperf.perf.metrics import KINDS
from ragperf.perf.metrics import kind as metric_kind
from ragperf.schemas import base as schemas
from ragperf.schemas import baseline as schema

SCHEMA = schema.KIND.schema
SCHEMA_VERSION = schema.KIND.newest
DEFAULT_DIR = Path("baselines") / "perf"


@dataclass
class BaselineFile:
    """The baselines of one machine kind. ``metrics`` maps a metric name to its stored figure."""

    key: str
    source: str
    match: dict
    metrics: dict[str, dict]
    fingerprint: dict = field(default_factory=dict)
    recorded: str = ""
    note: str = ""
    path: Path | None = None
    upgraded_from: int | None = None

    def matches(self, fp: dict) -> bool:
        if fp.get("emulated"):  # timings under emulation say nothing about the emulated hardware
            return False
        return all(fp.get(name) == value for name, value in self.match.items())

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "key": self.key, "source": self.source,
                "match": self.match, "recorded": self.recorded, "note": self.note,
                "fingerprint": self.fingerprint, "metrics": dict(sorted(self.metrics.items()))}


def metric(kind: str, value: float, se: float, **extra) -> dict:
    """One stored figure of a registered ``kind`` (:mod:`ragperf.perf.metrics`): ``value`` and its relative
    standard error."""
    metric_kind(kind)  # an unknown kind is one line naming the registered ones
    return {"kind": kind, "value": float(value), "se": float(se), **extra}


def load(path: Path) -> BaselineFile:
    """Read one baseline file through its schema (:mod:`ragperf.schemas.baseline`): anything missing, mistyped,
    not finite, or of a newer schema version is one line naming the file and the field."""
    path = Path(path)
    read = schemas.load(path, schema.Baseline, schema.KIND, context={"kinds": tuple(KINDS)})
    metrics = {name: summarized(figure.data()) for name, figure in read.metrics.items()}
    return BaselineFile(key=read.key or path.stem, source=read.source, match=read.match, metrics=metrics,
                        fingerprint=read.fingerprint, recorded=read.recorded, note=read.note, path=path,
                        upgraded_from=read.schema_version if read.schema_version < SCHEMA_VERSION else None)


def summarized(entry: dict) -> dict:
    """``entry`` with its figures derived from its recorded runs by today's :func:`summarize` (the stored
    figures are a cache of that rule: a file recorded under an older rule, or schema 1 - one value per
    run - is judged by the current one). An entry without history (a published figure) is kept as is."""
    if not entry.get("history"):
        return entry
    return {**entry, **summarize(entry["history"])}


def schema_line(baseline: BaselineFile) -> str | None:
    """One line when ``baseline`` was read from an older schema (None otherwise)."""
    if baseline.upgraded_from is None:
        return None
    return (f"baseline {baseline.path.name if baseline.path else baseline.key}: schema {baseline.upgraded_from} "
            f"upgraded to {SCHEMA_VERSION} on read (each stored run counts as one process); the next recording "
            f"(--ragperf-update-baselines) writes schema {SCHEMA_VERSION}")


def save(baseline: BaselineFile, path: Path) -> Path:
    """Write atomically: readers see the old file or the new one, never half of one."""
    def write(handle) -> None:
        json.dump(baseline.to_json(), handle, indent=1, sort_keys=False)
        handle.write("\n")

    baseline.path = write_atomic(Path(path), write)
    return baseline.path


def load_all(directory: Path = DEFAULT_DIR) -> list[BaselineFile]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return [load(path) for path in sorted(directory.glob("*.json"))]


def find(fp: dict, directory: Path = DEFAULT_DIR) -> BaselineFile | None:
    """The baseline for this fingerprint: a measured file before a published one, then the most specific."""
    candidates = [b for b in load_all(directory) if b.matches(fp)]
    if not candidates:
        return None
    return max(candidates, key=lambda b: (b.source == "measured", len(b.match)))


def path_for(fp: dict, directory: Path = DEFAULT_DIR) -> Path:
    return Path(directory) / f"{fp['key']}.json"


HISTORY = 10
SHAMOS = 1.0483  # sd of a normal sample / median |x_i - x_j| of its pairs


def run_values(run: dict) -> list[float]:
    """The per-process values of one recorded run (a schema-1 run: its one value)."""
    return list(run.get("processes") or [run["value"]])


def summarize(runs: list[dict]) -> dict:
    """``value``, ``se``, ``process_sd`` and ``session_sd`` of recorded ``runs`` (one-way random effects:
    a recording's processes share that session's level, and the level moves between sessions).

    * ``value``: the median of all their per-process values pooled;
    * ``process_sd``: the spread between processes *of one recording*, robustly: 1.0483 x the median
      relative difference between two processes of the same recording (Shamos' estimator, pooled over
      recordings; a normal sd, and one odd process does not blow it up); when no recording has two
      processes, the robust spread of the values (each recording one process: the two spreads cannot be
      told apart);
    * ``session_sd``: the level's shift between recordings beyond what ``process_sd`` explains - the variance of
      the recordings' medians less a median-of-n's share of ``process_sd``, floored at 0 (one recording: 0,
      unknown). That shift does not shrink with more processes per run: the gate adds it undivided;
    * ``se``: the se of ``value`` - ``session_sd / sqrt(K)`` and the median-of-all-processes term combined,
      floored by the runs' within-run se over ``sqrt(K)``.
    """
    from ragperf.perf.processes import se_of_median, spread

    per_run = [run_values(r) for r in runs]
    pooled = [v for values in per_run for v in values]
    groups = [values for values in per_run if len(values) >= 2]
    value = statistics.median(pooled)
    if groups:
        sd = SHAMOS * statistics.median(abs(a - b) / statistics.median(g) for g in groups
                                        for a, b in itertools.combinations(g, 2))
        medians = [statistics.median(values) / value for values in per_run]
        n = statistics.harmonic_mean([len(values) for values in per_run])
        between = statistics.variance(medians) if len(medians) >= 2 else 0.0
        session = math.sqrt(max(0.0, between - se_of_median(sd, n) ** 2))
    else:
        sd, session = spread(pooled), 0.0
    within = statistics.median(r["se"] for r in runs) / math.sqrt(len(runs))
    se = math.hypot(session / math.sqrt(len(runs)), se_of_median(sd, len(pooled)))
    return {"value": value, "se": max(se, within), "process_sd": sd, "session_sd": session}


def with_history(old: dict | None, new: dict, keep: int = HISTORY) -> dict:
    """``new`` merged with the last ``keep`` recorded runs, summarized by :func:`summarize` (each run
    keeps its per-process values under ``processes`` when it was measured in several)."""
    run = {"value": new["value"], "se": new["se"]}
    if new.get("processes"):
        run["processes"] = list(new["processes"])
    runs = ((old or {}).get("history", []) + [run])[-keep:]
    extra = {k: v for k, v in new.items() if k not in ("value", "se", "kind", "history", "processes")}
    if old and "tolerance" in old and "tolerance" not in extra:
        extra["tolerance"] = old["tolerance"]
    summary = summarize(runs)
    return metric(new["kind"], summary["value"], summary["se"], process_sd=summary["process_sd"],
                  session_sd=summary["session_sd"], history=runs,
                  **{k: v for k, v in extra.items() if k in ("tolerance",)}, last=extra)


def check_recordable(fp: dict, directory: Path = DEFAULT_DIR) -> Path:
    """The file :func:`record` will write for ``fp``, once it is known a record can land there - call it before
    measuring, so a measurement is never lost to a refusal after it: RagperfError under emulation, or when the
    file already there is not a valid baseline (it is merged into, never overwritten)."""
    if fp.get("emulated"):
        raise RagperfError(f"not recording a baseline on {fp['emulated']}: timings under emulation are not "
                           "the hardware's; record on a real machine")
    path = path_for(fp, directory)
    if path.exists():
        load(path)
    return path


def record(fp: dict, metrics: dict[str, dict], directory: Path = DEFAULT_DIR, note: str = "") -> Path:
    """Add one run of ``metrics`` to this machine's measured baseline file (see :func:`with_history`);
    metrics not measured this time are kept as they were. ``note`` is written only when the file has
    none yet: a note someone wrote into the file (recording conditions, say) is kept."""
    path = check_recordable(fp, directory)
    with record_lock(path):
        existing = load(path) if path.exists() else None
        merged = dict(existing.metrics) if existing else {}
        merged.update({name: with_history(merged.get(name), entry) for name, entry in metrics.items()})
        baseline = BaselineFile(key=fp["key"], source="measured", match={name: fp.get(name) for name in KEY_FIELDS},
                                metrics=merged, fingerprint=fp,
                                recorded=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                                note=(existing.note if existing and existing.note else note))
        return save(baseline, path)


def record_lock(path: Path) -> FileLock:
    """The cross-process lock of one baseline file (kept in the temp folder, not next to the file)."""
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"ragperf-baseline-{digest}.lock")
