"""Proving the gate on this machine: A/A runs that must stay green and planted slowdowns that must go red.

A *campaign* measures one gated metric of one case many times - unplanted (A/A) and with a planted
slowdown - and gates every run against the stored baseline exactly as ``pytest -m perf`` would: a run
is the median of ``size`` values from distinct fresh processes (:func:`ragperf.perf.processes.combine`),
and a suspect is confirmed on the pooled values of another run of the same kind (:func:`ragperf.perf.gate.confirm`).

Two metrics can be proven:

* ``speedup`` (eager/compiled, interleaved in one process; :data:`SPEEDUP`): the runs are spread over
  ``processes`` fresh processes, each compiling once and measuring its share of the shuffled plan
  (``python -m ragperf.jobs case --plan``); the planted slowdown spins after every compiled call;
* ``cold_compile_s`` (the first call of a fresh process on an empty Inductor cache; :data:`COLD_COMPILE`) and
  ``cold_compile_units`` (the same in units of the machine's speed; :data:`COLD_UNITS`): every value is its
  own fresh process (``python -m ragperf.jobs compile-time``); the planted slowdown spins inside the compiler
  backend for that fraction of the compile.

With ``pairs`` (``prove-gate --pairs N``) the speedup campaign proves the interleaved A/B gate
(:mod:`ragperf.perf.ab`) instead: its values are lockstep blocks (:func:`ragperf.perf.lockstep.pair`: a
reference's and a candidate's figures, the candidate's planted or not) spread over ``processes`` pairs of
processes; a run is N blocks from N distinct pairs (:func:`groups`), judged by :func:`ragperf.perf.ab.decide`
(:func:`judge_ab`).

Only the values' order is random (seeded); everything else is what the gate does.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragperf.errors import RagperfError
from ragperf.files import write_atomic
from ragperf.perf import gate, metrics
from ragperf.schemas import base as schemas
from ragperf.schemas import campaign as schema

SCHEMA = schema.KIND.schema
SCHEMA_VERSION = schema.KIND.newest
SPEEDUP, COLD_COMPILE, COLD_UNITS = "speedup", "cold_compile_s", "cold_compile_units"
METRICS = (SPEEDUP, COLD_COMPILE, COLD_UNITS)


@dataclass
class Row:
    """One case x planted slowdown of a campaign."""

    case: str
    metric: str
    kind: str  # the metric's kind (ragperf.perf.metrics): how its figures are shown
    slowdown: float
    runs: int
    red: int  # gate FAIL after confirmation
    warn: int
    base: str  # the baseline value, its se, process sd and session sd, as shown
    median: float  # of the runs' gated values
    spread: float  # run-to-run standard deviation, relative
    median_se: float  # the runs' own se, median over runs

    @property
    def green(self) -> int:
        return self.runs - self.red

    @property
    def aa(self) -> bool:
        return self.slowdown == 0

    def aa_ok(self) -> bool:
        """At most 1 false alarm in 20 A/A runs (none in fewer than 20)."""
        return self.red <= self.runs // 20


def metric_list(text: str) -> list[str]:
    """``--metric``: one or more of :data:`METRICS`, comma-separated. The compile metrics are judged from the
    same measured processes; the speedup is another measurement and is proven alone."""
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METRICS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: choose one or more of {', '.join(METRICS)} (comma-separated)")
    if SPEEDUP in chosen and len(chosen) > 1:
        raise argparse.ArgumentTypeError(f"{text!r}: {SPEEDUP} is another measurement; prove it alone")
    return chosen


def plan(aa_runs: int, slowdowns: list[float], planted_runs: int, size: int, seed: int) -> list[float]:
    """The slowdown of every value to measure (0.0: A/A), ``size`` values per gated run, shuffled."""
    values = [0.0] * aa_runs * size + [s for s in slowdowns for _ in range(planted_runs * size)]
    random.Random(seed).shuffle(values)
    return values


def groups(runs: list[tuple[int, dict]], size: int) -> list[list[dict]]:
    """Disjoint groups of ``size`` values, each from ``size`` distinct processes (``runs``: (process, figures))."""
    by_proc: dict[int, list[dict]] = {}
    for proc, figures in runs:
        by_proc.setdefault(proc, []).append(figures)
    out = []
    while True:
        ready = sorted((p for p in by_proc if by_proc[p]), key=lambda p: -len(by_proc[p]))[:size]
        if len(ready) < size:
            return out
        out.append([by_proc[p].pop() for p in ready])


def judge_ab(prefix: str, metric: str, runs: list[list[dict]], rules: dict) -> list[gate.Decision]:
    """Each A/B run (its lockstep blocks) judged (:func:`ragperf.perf.ab.decide`); a suspect settled on the next
    run pooled with it."""
    from ragperf.perf import ab

    finals = []
    for i, run in enumerate(runs):
        measured = iter([ab.sides(block) for block in (run, runs[(i + 1) % len(runs)])])
        final = ab.decide(prefix, lambda measured=measured: next(measured), **rules)
        finals.append(next(d for d in final if d.metric == f"{prefix}/{metric}"))
    return finals


def judge(metric: str, combined: list[dict], measurements: Callable[[dict], dict[str, gate.Measurement]],
          baseline, rules: dict) -> list[gate.Decision]:
    """Each combined run gated against ``baseline``; a suspect confirmed on the next run (another group)."""
    finals = []
    for i, figures in enumerate(combined):
        spare = combined[(i + 1) % len(combined)]
        first = gate.gate(measurements(figures), baseline, **rules)
        final = gate.confirm(first, baseline, lambda spare=spare: measurements(spare), **rules)
        finals.append(next(d for d in final if d.metric == metric))
    return finals


def row(case: str, metric: str, slowdown: float, decisions: list[gate.Decision], base: dict | None = None) -> Row:
    """The campaign row of ``decisions`` (one per run, at least one) against the stored ``base`` (``None``: each
    run against its own interleaved reference)."""
    own = [(d.first or d).measured for d in decisions]  # the run itself (a confirmed one's first judgement)
    values = [m.value for m in own]
    shown = (f"{metrics.kind(base['kind']).shown(base['value'])} ({base.get('se', 0):.1%}, "
             f"{base.get('process_sd', 0) or 0:.1%}, {base.get('session_sd', 0) or 0:.1%})" if base
             else "interleaved reference")
    return Row(case, metric, own[0].kind, slowdown, len(decisions), sum(d.status == gate.FAIL for d in decisions),
               sum(d.status == gate.WARN for d in decisions), shown,
               statistics.median(values), statistics.pstdev(values) / statistics.mean(values),
               statistics.median(m.se for m in own))


def markdown(rows: list[Row]) -> list[str]:
    """The campaign table (one row per case x metric x planted slowdown) and one A/A verdict line per case."""
    lines = ["| case | metric | baseline (se, process sd, session sd) | planted slowdown | runs | green (of which WARN) | "
             "red (gate fails) | median | run-to-run spread | median run se |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        label = "A/A (none)" if r.aa else f"{r.slowdown:.0%}"
        lines.append(f"| {r.case} | {r.metric} | {r.base} | {label} | {r.runs} | {r.green} ({r.warn}) | {r.red} | "
                     f"{metrics.kind(r.kind).shown(r.median)} | {r.spread:.1%} | {r.median_se:.1%} |")
    for r in rows:
        if r.aa:
            short = "" if r.runs >= 20 else f"; only {r.runs} runs: at most 1 in 20 needs >= 20"
            lines.append(f"<!-- {r.case} {r.metric}: A/A false alarms {r.red}/{r.runs} "
                         f"({'meets' if r.aa_ok() else 'MISSES'} at most 1 in 20{short}) -->")
    return lines


def save(path: Path, runs: dict[str, list[tuple[int, dict]]], metrics: list[str], fingerprint_key: str) -> None:
    """Keep a campaign's measured values (per case: (process, figures) pairs) so it can be judged again -
    against another baseline or rule - with ``prove-gate --load`` instead of measuring again."""
    data = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "fingerprint": fingerprint_key, "metrics": metrics,
            "runs": {case: [[proc, figures] for proc, figures in values] for case, values in runs.items()}}
    write_atomic(Path(path), lambda handle: handle.write(json.dumps(data) + "\n"))


@dataclass
class Saved:
    """A campaign :func:`save` kept: the fingerprint key of the machine it was measured on, its metrics, and
    per case (``kind/model/variant``) the (process, figures) pairs."""

    fingerprint: str
    metrics: list[str]
    runs: dict[str, list[tuple[int, dict]]]

    def cases(self) -> str:
        """The saved cases as a ``--case`` list (``kind:model:variant[@backend]``)."""
        return ",".join(prefix.replace("/", ":", 2) for prefix in self.runs)

    def lockstep(self) -> bool:
        """Whether the values are lockstep A/B blocks (``prove-gate --pairs``), not single processes' figures."""
        return any("reference" in figures for values in self.runs.values() for _, figures in values)

    def processes(self) -> int:
        """How many fresh processes the values of a case were spread over."""
        return max((len({proc for proc, _ in values}) for values in self.runs.values()), default=0)


def load(path: Path, metrics: list[str] | None = None) -> Saved:
    """The campaign :func:`save` kept, read through its schema (:mod:`ragperf.schemas.campaign`); one clear error
    for a file that is not one, holds no values, or - when ``metrics`` are asked for - of other metrics."""
    read = schemas.load(path, schema.Campaign, schema.KIND, context={"metrics": metrics})
    if not read.runs or not all(read.runs.values()):
        empty = ", ".join(case for case, values in read.runs.items() if not values)
        raise schema.KIND.refuse(Path(path), f"it holds no measured values of {empty or 'any case'}")
    runs = {case: [(proc, value.data()) for proc, value in values] for case, values in read.runs.items()}
    return Saved(read.fingerprint, list(read.metrics), runs)


def load_many(paths: list[Path], metrics: list[str] | None = None) -> Saved:
    """Several saved campaigns of one machine and the same metrics judged as one: each case's values pooled,
    every file's processes kept distinct (another file's process 0 is another process). One clear error
    for files of different machines or metrics."""
    loaded = [load(path, metrics) for path in paths]
    first = loaded[0]
    for path, saved in zip(paths[1:], loaded[1:], strict=True):
        if (saved.fingerprint, saved.metrics) != (first.fingerprint, first.metrics):
            raise RagperfError(f"{path} holds {', '.join(saved.metrics)} of {saved.fingerprint}, {paths[0]} "
                               f"{', '.join(first.metrics)} of {first.fingerprint}: only campaigns of one machine "
                               "and the same metrics are judged together")
    runs: dict[str, list[tuple[int, dict]]] = {}
    for saved in loaded:
        offset = 1 + max((proc for values in runs.values() for proc, _ in values), default=-1)
        for case, values in saved.runs.items():
            runs.setdefault(case, []).extend((offset + proc, figures) for proc, figures in values)
    return Saved(first.fingerprint, first.metrics, runs)
