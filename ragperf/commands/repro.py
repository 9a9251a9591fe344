"""``ragperf repro PATH``: re-run a failed test's repro bundle in a fresh process with its latched environment.

Exit 1 when it still fails, 0 when it passes now, 2 when PATH is not a bundle or the test is gone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ragperf import argtypes
from ragperf.errors import RagperfError


def register(subparsers) -> None:
    parser = subparsers.add_parser("repro", help="re-run a failed test's repro bundle and say whether it still fails",
                                   description=__doc__)
    parser.add_argument("path", type=Path, help="the bundle folder (<trace dir>/<test>/repro) named in the failure")
    parser.add_argument("--timeout", type=argtypes.Amount(argtypes.WEEK_S), default=None, metavar="S",
                        help=f"give up after S seconds ({argtypes.Amount(argtypes.WEEK_S).bounds})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.evidence import bundle

    nodeid = bundle.load(args.path)[1].get("nodeid", "?")
    # The re-run's own evidence goes beside the bundle, so it never overwrites the bundle it replays.
    # It says whether the test still fails; the minifier already had its go when the bundle was written.
    code = bundle.rerun(args.path, ["--ragperf-trace-dir", str(args.path.resolve() / "rerun"),
                                    "--ragperf-minify-timeout", "0"], timeout=args.timeout)
    if code == 0:
        print(f"passes now: {nodeid}")
        return 0
    if code == 1:
        print(f"still fails: {nodeid}")
        return 1
    raise RagperfError(f"the re-run of {nodeid} did not run the test (pytest exit {code}); see its output above")
