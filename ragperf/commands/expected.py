"""``ragperf expected``: run the recompile scenarios and compare with (or ``--update``) the expected-behaviour table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ragperf import argtypes
from ragperf.compile.expected import EXPECTED_DIR


def register(subparsers) -> None:
    parser = subparsers.add_parser("expected", help="check or regenerate the expected compile-behaviour table",
                                   description=__doc__)
    parser.add_argument("--update", action="store_true", help="write the measured rows into the table")
    parser.add_argument("--scenario", action="append", default=None, metavar="NAME",
                        help="only this scenario (repeatable; default: all)")
    parser.add_argument("--backend", default="eager", choices=("eager", "aot_eager", "inductor"))
    parser.add_argument("--dir", default=None,
                        help=f"folder of the tables (default: {EXPECTED_DIR} in the project around the working "
                             "directory, found by its pyproject.toml); must exist unless --update")
    parser.set_defaults(func=run)


# a row relative to the table: --update compares with the table it writes, a check with the reference
WORDS = {"same": "ok", "changed": "CHANGED", "new": "NEW"}


def run(args: argparse.Namespace) -> int:
    """Check against the resolved reference (the exact table, else the nearest earlier one), or ``--update``
    this version's own table: each row is ``ok``, ``CHANGED`` or ``NEW`` relative to the table written."""
    from ragperf.compile.drift import compare, failure, resolve, summary_lines
    from ragperf.compile.expected import ExpectedTable
    from ragperf.compile.scenarios import cases, run_case, scenario
    from ragperf.compile.strategies import STRATEGIES

    wanted = [scenario(name).name for name in args.scenario] if args.scenario else None
    argtypes.refuse_repeats(wanted or [], "--scenario")
    directory = _table_dir(args)
    ref = resolve(directory)
    own = ExpectedTable.load(directory)  # this version's table: what --update writes
    models: dict = {}
    outcomes = []
    for name, strategy_name in cases():
        if wanted and name not in wanted:
            continue
        missing = STRATEGIES[strategy_name].missing()
        if missing:
            print(f"skip {name} / {strategy_name}: {missing}", file=sys.stderr)
            continue
        report = run_case(name, strategy_name, args.backend, models).report
        key = (name, strategy_name, args.backend)
        reasons = [f"[{r.kind}] {r.reason}" for r in report.recompile_list]
        vs_ref = compare(ref.table, key, report.counts(), reasons)
        if args.update:
            mine = compare(own, key, report.counts(), reasons)
            note = "" if ref.exact or not ref.found else f"  ({vs_ref.status} vs {ref.name})"
            print(f"{WORDS[mine.status]:8s} {mine.label}{note}", file=sys.stderr, flush=True)
            if mine.status == "changed":
                print("  " + mine.describe(), file=sys.stderr)
            own.record(key, report)
            continue
        outcomes.append(vs_ref)
        print(f"{WORDS[vs_ref.status]:8s} {vs_ref.label}", file=sys.stderr, flush=True)
        if vs_ref.status != "same":
            print(failure(vs_ref, ref), file=sys.stderr)
    if args.update:
        print(f"wrote {own.save()}")
        return 0
    for line in summary_lines(ref, outcomes, "fail"):
        print(line)
    return 1 if any(o.status != "same" for o in outcomes) else 0


def _table_dir(args: argparse.Namespace) -> Path:
    """``--dir`` checked (an existing folder; with --update one that can be created), else the project's."""
    from ragperf.errors import RagperfError
    from ragperf.numerics.tolerances import find_pyproject

    if args.dir is None:
        pyproject = find_pyproject()
        return (pyproject.parent if pyproject else Path.cwd()) / EXPECTED_DIR
    try:
        return (argtypes.output_dir if args.update else argtypes.existing_dir)(str(args.dir))
    except argtypes.Bad as exc:
        raise RagperfError(f"--dir: {exc}") from None
