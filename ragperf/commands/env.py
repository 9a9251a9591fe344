"""``ragperf env``: this machine's hardware fingerprint and the baseline key it files perf figures under."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("env", help="print the hardware fingerprint and baseline key", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON instead of aligned text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.perf.machine import describe, fingerprint

    fields = fingerprint()
    print(json.dumps(fields, indent=1) if args.json else describe(fields))
    return 0
