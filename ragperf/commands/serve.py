"""``ragperf serve``: a user's embedder behind the RAG endpoint, W workers x T threads, on loopback.

Indexes the offline corpus with the model (eager), starts uvicorn on a free 127.0.0.1 port, waits until
every worker has compiled and warmed, prints the URL, and serves until Ctrl-C or ``--seconds``. With
``--users C`` it puts C locust users on it for ``--load-seconds`` and prints req/s, p50/p90/p99, errors
and recompiles instead of waiting. Shutdown stops every process it started.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ragperf import argtypes
from ragperf.models.registry import DEFAULT, EMBEDDER, metavar, option_help

WORKERS = argtypes.Count(1, 64, "workers")
THREADS = argtypes.Count(1, 256, "threads")
USERS = argtypes.Count(0, 10_000, "users")
SERVE_SECONDS = argtypes.Amount(argtypes.WEEK_S)
LOAD_SECONDS = argtypes.Amount(argtypes.DAY_S)
DEFAULT_LOAD_SECONDS = 10.0


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve a model's RAG retriever over HTTP (loopback) and load it",
                                   description=__doc__)
    parser.add_argument("--model", default=DEFAULT[EMBEDDER], metavar=metavar(EMBEDDER),
                        help=option_help(EMBEDDER, DEFAULT[EMBEDDER]))
    parser.add_argument("--variant", default="compile", help="ladder variant (default compile)")
    parser.add_argument("--workers", type=WORKERS, default=1, help=f"uvicorn worker processes ({WORKERS.bounds})")
    parser.add_argument("--threads", type=THREADS, default=1, help=f"torch threads per worker ({THREADS.bounds})")
    parser.add_argument("--seconds", type=SERVE_SECONDS, default=None,
                        help=f"stop after this many seconds ({SERVE_SECONDS.bounds}; default: Ctrl-C or SIGTERM)")
    parser.add_argument("--users", type=USERS, default=0,
                        help=f"put this many closed-loop locust users on it ({USERS.bounds})")
    parser.add_argument("--load-seconds", type=LOAD_SECONDS, default=None,
                        help=f"with --users: seconds of load ({LOAD_SECONDS.bounds}; default {DEFAULT_LOAD_SECONDS:g})")
    parser.add_argument("--backend", default="inductor", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.errors import RagperfError
    from ragperf.models.ladder import variant
    from ragperf.models.registry import resolve_embedder
    from ragperf.serve.launcher import serving
    from ragperf.serve.load import run_load
    from ragperf.serve.retriever import ServeConfig, build_index_dir

    resolve_embedder(args.model)
    variant(args.variant)
    argtypes.refuse_unused({"--load-seconds": args.load_seconds}, bool(args.users),
                           "--load-seconds is how long --users USERS load the server; give --users too, or drop it")
    argtypes.refuse_unused({"--seconds": args.seconds}, not args.users,
                           "with --users the load's --load-seconds decide when serving stops; drop --seconds")
    load_seconds = args.load_seconds or DEFAULT_LOAD_SECONDS
    with tempfile.TemporaryDirectory(prefix="ragperf-serve-index-") as tmp:
        print(f"[ragperf] indexing the corpus with {args.model}", file=sys.stderr, flush=True)
        index = build_index_dir(args.model, Path(tmp) / "index")
        config = ServeConfig(args.model, args.variant, str(index), args.workers, args.threads, args.backend)
        with serving(config) as server:
            print(f"[ragperf] serving {args.model} {args.variant} at {server.url} "
                  f"({args.workers} worker(s) x {args.threads} thread(s)): POST /retrieve, GET /health",
                  file=sys.stderr, flush=True)
            if args.users:
                result = run_load(server.url, args.users, load_seconds)
                died = server.recover()  # the killed are replaced first, else RagperfError with the reason
                print(json.dumps({**result.to_dict(), "recompiles": server.recompiles(), "workers_died": died}))
                return 1 if result.failures or server.recompiles() else 0
            deadline = time.monotonic() + args.seconds if args.seconds else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.5)
                if server.process.poll() is not None:
                    raise RagperfError(f"the server exited (code {server.process.returncode})")
    return 0
