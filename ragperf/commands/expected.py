"""``ragperf expected``: run the recompile scenarios and compare with (or ``--update``) the expected-behaviour table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ragperf.compile.expected import EXPECTED_DIR


def register(subparsers) -> None:
    parser = subparsers.add_parser("expected", help="check or regenerate the expected compile-behaviour table",
                                   description=__doc__)
    parser.add_argument("--update", action="store_true", help="write the measured rows into the table")
    parser.add_argument("--scenario", action="append", default=None, metavar="NAME",
                        help="only this scenario (repeatable; default: all)")
    parser.add_argument("--backend", default="eager", choices=("eager", "aot_eager", "inductor"))
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"folder of the tables (default: {EXPECTED_DIR} in the project around the working "
                             "directory, found by its pyproject.toml); must exist unless --update")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.compile.expected import ExpectedTable
    from ragperf.compile.scenarios import cases, run_case, scenario
    from ragperf.compile.strategies import STRATEGIES

    wanted = [scenario(name).name for name in args.scenario] if args.scenario else None
    table = ExpectedTable.load(_table_dir(args))
    models: dict = {}
    failures = 0
    for name, strategy_name in cases():
        if wanted and name not in wanted:
            continue
        missing = STRATEGIES[strategy_name].missing()
        if missing:
            print(f"skip {name} / {strategy_name}: {missing}", file=sys.stderr)
            continue
        result = run_case(name, strategy_name, args.backend, models)
        key = (name, strategy_name, args.backend)
        problem = table.mismatch(key, result.report.counts())
        if args.update:
            table.record(key, result.report)
        elif problem:
            failures += 1
        print(f"{'CHANGED' if problem else 'ok':8s} {' / '.join(key)}", file=sys.stderr, flush=True)
        if problem and not args.update:
            print(problem, file=sys.stderr)
    if args.update:
        print(f"wrote {table.save()}")
        return 0
    print(f"{failures} case(s) differ from {table.path}" if failures else f"all cases match {table.path}")
    return 1 if failures else 0


def _table_dir(args: argparse.Namespace) -> Path:
    """``--dir`` checked (an existing folder; with --update one that can be created), else the project's."""
    from ragperf import argtypes
    from ragperf.errors import RagperfError
    from ragperf.numerics.tolerances import find_pyproject

    if args.dir is None:
        pyproject = find_pyproject()
        return (pyproject.parent if pyproject else Path.cwd()) / EXPECTED_DIR
    try:
        return (argtypes.output_dir if args.update else argtypes.existing_dir)(str(args.dir))
    except argtypes.Bad as exc:
        raise RagperfError(f"--dir: {exc}") from None
