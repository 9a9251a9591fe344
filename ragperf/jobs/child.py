"""The one child-process entry: ``python -m ragperf.jobs NAME [ARGUMENTS]``.

Every measurement that needs a process of its own (a latched configuration, a fresh compiler, an empty
Inductor cache) is a *job*: a module with ``add_arguments(parser)`` and ``job(args)``, listed in
:data:`JOBS`. The parent starts it with :func:`ragperf.subproc.run_job`; the child prints the job's
result as one JSON line on stdout (a job that prints its own report returns an exit code instead).

Guarantees: the arguments a job shares with the others are declared and validated once
(:mod:`ragperf.jobargs`); a bad one, an unknown job name or a :class:`~ragperf.errors.RagperfError`
raised by the job is one line on stderr, exit 2, and nothing is measured after it.

Two long-lived workers keep their own entry, because they speak a protocol rather than print one
result: the lockstep side (``python -m ragperf.perf.lockstep``: timed rounds on request, over its
stdin) and the served endpoint (``python -m ragperf.serve.worker``: uvicorn until stopped).
"""

from __future__ import annotations

import importlib
import json
import sys

from ragperf import knobs
from ragperf.argtypes import OneLineParser
from ragperf.errors import RagperfError

PROG = "python -m ragperf.jobs"
# name -> the module that holds its add_arguments(parser) and job(args), and what it measures
JOBS: dict[str, tuple[str, str]] = {
    "ladder": ("ragperf.jobs.ladder", "one ladder variant timed against eager"),
    "compile-cost": ("ragperf.jobs.compile_cost", "one first call: Dynamo vs Inductor seconds, which caches hit"),
    "rag": ("ragperf.jobs.rag", "one variant of the RAG flow against eager"),
    "decode": ("ragperf.jobs.decode", "decoding in one compile mode: phases, per-token, break-even"),
    "coldstart": ("ragperf.coldstart.start", "one cold start of a compiled model by one start path"),
    "case": ("ragperf.perf.cases", "one gated perf case measured in a fresh process"),
    "compile-time": ("ragperf.perf.compile_time", "one gated first call: compile seconds and units"),
    "memory": ("ragperf.perf.memory", "one arm's peak memory (eager or compiled)"),
    "release-side": ("ragperf.jobs.release_side", "one environment's untimed side of ragperf release"),
    "gpu-bench": ("ragperf.jobs.gpu_bench", "decode throughput per mode on a GPU (prints its own report)"),
    "serve-bench": ("ragperf.jobs.serve_bench", "the LLM endpoint under open-loop load (prints its own report)"),
}


def parser_for(name: str) -> tuple[OneLineParser, object]:
    """The argument parser of job ``name`` and its module; a RagperfError naming the jobs for an unknown name."""
    if name not in JOBS:
        raise RagperfError(f"unknown job {name!r}; choose from {', '.join(JOBS)}")
    module = importlib.import_module(JOBS[name][0])
    doc = (module.__doc__ or "").split("\n\n")[0]
    parser = OneLineParser(prog=f"{PROG} {name}", description=doc)
    module.add_arguments(parser)
    return parser, module


def run_here(name: str, argv: list[str]):
    """Job ``name`` with command line ``argv``, run in this process: what the child would return."""
    parser, module = parser_for(name)
    return module.job(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Run the job named by ``argv[0]``; the exit status (0, a job's own, or 2 for bad usage)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: {PROG} NAME [ARGUMENTS]   ({PROG} NAME --help: a job's arguments)\n\njobs:")
        for name, (_, summary) in JOBS.items():
            print(f"  {name:<13} {summary}")
        return 0
    try:
        if not argv:
            raise RagperfError(f"give a job name: {', '.join(JOBS)}")
        knobs.check_environment()
        result = run_here(argv[0], argv[1:])
    except RagperfError as exc:
        print(f"{PROG}{' ' + argv[0] if argv else ''}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2), its one line already printed
        return int(exc.code or 0)
    if isinstance(result, int):
        return result
    print(json.dumps(result))
    return 0
