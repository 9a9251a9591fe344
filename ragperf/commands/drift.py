"""``ragperf drift``: what changes between two environments - compile behaviour, numerics, speed, versions.

Each side is a Python interpreter, a virtual environment folder (its bin/python), or a result file saved
with ``--save``. A measured side runs :mod:`ragperf.jobs.drift` in its own child processes on that
interpreter, with that interpreter's ragperf (this process's PYTHONPATH is passed on, so
``PYTHONPATH=CHECKOUT`` runs one checkout's ragperf on both). One side with ``--save FILE`` measures and
keeps it; two sides print one side-by-side table (Markdown: stdout, ``--markdown FILE``; ``--json FILE``).
Exit status: 0 compared (changes are reported, not failed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ragperf import argtypes
from ragperf.errors import RagperfError


def register(subparsers) -> None:
    parser = subparsers.add_parser("drift", help="side-by-side table of what changed between two environments",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sides", nargs="+", metavar="SIDE",
                        help="A and B: a python interpreter, a venv folder, or a saved result .json "
                             "(one SIDE with --save)")
    parser.add_argument("--embedder", default="minilm", help="embedder: minilm (default), mpnet, tiny-bert, PATH")
    parser.add_argument("--decoder", default="tiny-llama", help="decoder: tiny-llama (default), tiny-gpt2, gpt2, PATH")
    parser.add_argument("--quick", action="store_true",
                        help="parity and speed of the compile variant and compile-decode only (every recompile row)")
    parser.add_argument("--rounds", type=argtypes.positive_int, default=None,
                        help="timed rounds per speed case (default 12, --quick 6)")
    parser.add_argument("--parts", default="recompile,parity,speed",
                        help="comma-separated subset of recompile,parity,speed (default: all)")
    parser.add_argument("--backend", default="inductor", choices=argtypes.BACKENDS,
                        help="compiler of the parity and speed parts (default inductor)")
    parser.add_argument("--scenario-backend", default="eager", choices=argtypes.BACKENDS,
                        help="compiler of the recompile scenarios (default eager, as the expected tables)")
    parser.add_argument("--save", type=argtypes.output_file, default=None, metavar="FILE",
                        help="with one SIDE: measure it and keep its results here as JSON")
    parser.add_argument("--markdown", type=argtypes.output_file, default=None, metavar="FILE",
                        help="also write the table here (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--all-rows", action="store_true", help="list the recompile rows that are same too")
    parser.add_argument("--json", type=argtypes.output_file, default=None, metavar="FILE",
                        help="also write the comparison (both sides and every row) here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.jobs import drift, drift_table

    parts = _parts(args.parts)
    if args.save is not None and len(args.sides) != 1:
        raise RagperfError(f"--save keeps one side: give one SIDE with it, not {len(args.sides)}")
    if args.save is None and len(args.sides) != 2:
        raise RagperfError(f"give two SIDEs to compare (got {len(args.sides)}), or one SIDE with --save FILE")
    resolved = [_side(spec) for spec in args.sides]  # every side checked before anything is measured
    if args.save is not None and resolved[0][0] == "file":
        raise RagperfError(f"{args.sides[0]} is a saved result already; --save measures an interpreter or venv")
    if any(kind == "python" for kind, _ in resolved):
        from ragperf.models.sources import resolve_embedder

        resolve_embedder(args.embedder)
        _check_decoder(args.decoder)
    rounds = args.rounds or (6 if args.quick else drift.DEFAULT_ROUNDS)
    child_args = drift.args_for(args.embedder, args.decoder, quick=args.quick, rounds=rounds, backend=args.backend,
                                scenario_backend=args.scenario_backend, parts=parts)
    sides = [_measure(target, child_args) if kind == "python" else drift_table.load_side(target)
             for kind, target in resolved]
    if args.save is not None:
        args.save.write_text(json.dumps(sides[0], indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.save} ({drift.SCHEMA}: {_short(sides[0])})")
        return 0
    comparison = drift_table.compare(*sides, labels=(args.sides[0], args.sides[1]))
    text = drift_table.markdown(comparison, all_rows=args.all_rows)
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps(comparison, indent=1) + "\n", encoding="utf-8")
    return 0


def _parts(text: str) -> tuple[str, ...]:
    known = ("recompile", "parity", "speed")
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    wrong = [p for p in parts if p not in known]
    if wrong or not parts:
        raise RagperfError(f"--parts {text!r}: give a comma-separated subset of {','.join(known)}")
    return parts


def _check_decoder(spec: str) -> None:
    from ragperf.models.decoders import DECODER_NAMES

    if spec not in DECODER_NAMES and not Path(spec).expanduser().is_dir():
        raise RagperfError(f"unknown decoder {spec!r}; use one of {', '.join(DECODER_NAMES)} or a local checkpoint folder")


def _side(spec: str) -> tuple[str, str]:
    """("file", path) for a saved result, ("python", interpreter) for an interpreter or venv that runs ragperf."""
    from ragperf import interpreters
    from ragperf.jobs.drift import SCHEMA

    path = Path(spec).expanduser()
    if path.suffix == ".json" or (path.is_file() and not os.access(path, os.X_OK)):
        if not path.is_file():
            raise RagperfError(f"result file {spec} does not exist; give a file written by "
                               "`ragperf drift PYTHON --save FILE`")
        return "file", str(path)
    python = interpreters.resolve(spec, other=", a venv folder or a saved .json result")
    found = interpreters.probe(python, spec, "ragperf.jobs.drift")
    if found.get("schema") != SCHEMA:
        raise RagperfError(f"{spec} runs a ragperf ({found.get('ragperf')}) that writes {found.get('schema')!r}, "
                           f"this one reads {SCHEMA!r}: {interpreters.INSTALL}")
    return "python", python


def _measure(python: str, child_args: list[str]) -> dict:
    from ragperf.subproc import run_job

    print(f"[ragperf] measuring {python} ...", file=sys.stderr, flush=True)
    return run_job("drift", child_args, python=python, progress=lambda line: print(line, file=sys.stderr, flush=True))


def _short(side: dict) -> str:
    from ragperf.perf.versions import describe

    return describe(side["versions"])
