"""The ``ragperf`` command. Each subcommand lives in its own module under ``ragperf.commands``.

A command module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a
function taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ragperf.argtypes import OneLineParser
from ragperf.errors import RagperfError

COMMAND_MODULES = ("run", "arm64", "env", "baseline", "recompiles", "expected", "parity", "repro", "coldstart", "serve",
                   "release")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ragperf", description="Keeps torch.compile honest for RAG and LLM inference.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"ragperf.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ragperf import knobs
    from ragperf.subproc import Terminated, honour_interrupts, interrupted_exit

    args = build_parser().parse_args(argv)
    honour_interrupts()  # Ctrl-C -> exit 130 (also when started with SIGINT ignored), SIGTERM -> exit 143
    try:
        knobs.check_environment()  # every variable the command or its children will read, before any work
        return int(args.func(args) or 0)
    except RagperfError as exc:
        print(f"ragperf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # the cleanup (children, temporary folders) has run on the way here
        print(f"ragperf: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}", file=sys.stderr)
        return interrupted_exit(exc)


if __name__ == "__main__":
    sys.exit(main())
