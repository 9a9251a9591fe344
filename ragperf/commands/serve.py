"""``ragperf serve``: a user's embedder behind the RAG endpoint, W workers x T threads, on loopback.

Indexes the offline corpus with the model (eager), starts uvicorn on a free 127.0.0.1 port, waits until
every worker has compiled and warmed, prints the URL, and serves until Ctrl-C or ``--seconds``. With
``--users C`` it puts C locust users on it for ``--load-seconds`` and prints req/s, p50/p90/p99, errors
and recompiles instead of waiting. With ``--request-rate R`` it serves the LLM beside the retriever
(``--decoder`` in ``--decode-mode``) and runs the seed's whole chain (retrieve top-k, build the prompt,
stream the tokens) under open-loop Poisson load, the LLM on ``--device``: ``--requests`` requests at R/s (``inf``: all at once),
latency from each request's scheduled send, printing TTFT, TPOT, ITL, e2e percentiles, errors, goodput under
``--slo`` and each stage's share of e2e as JSON. Shutdown stops every process it started.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ragperf import argtypes
from ragperf.models.registry import DECODER, DEFAULT, EMBEDDER, metavar, option_help

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
    chain = parser.add_argument_group("the RAG -> LLM chain under open-loop load (with --request-rate)")
    chain.add_argument("--request-rate", type=request_rate, default=None, metavar="R",
                       help="Poisson arrivals per second (inf: all at once); serves the LLM and runs the chain, "
                            "bounded by --seconds (default 600)")
    chain.add_argument("--requests", type=argtypes.Count(1, MAX_REQUESTS, "requests"), default=None,
                       help=f"requests to send (default 50, at most {MAX_REQUESTS})")
    chain.add_argument("--slo", type=slo, default=None, metavar="ttft:MS,tpot:MS,e2e:MS",
                       help="count goodput: requests within every limit given, per second")
    chain.add_argument("--decoder", default=None, metavar=metavar(DECODER),
                       help=option_help(DECODER, DEFAULT[DECODER]))
    chain.add_argument("--decode-mode", default=None, help="decode mode served (default compile-prefill-decode)")
    chain.add_argument("--device", type=argtypes.device, default=None, metavar="cpu|cuda",
                       help="where the LLM runs (default cpu; the retriever stays on cpu), e.g. cuda with "
                            "--decode-mode static-cudagraphs")
    chain.add_argument("--max-tokens", type=argtypes.Count(1, MAX_TOKENS, "tokens"), default=None,
                       help=f"tokens generated per request (default 32, at most {MAX_TOKENS})")
    parser.add_argument("--backend", default="inductor", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


MAX_REQUESTS = 10_000
MAX_TOKENS = 256
CHAIN_ONLY = ("requests", "slo", "decoder", "decode_mode", "device", "max_tokens")


def request_rate(text: str) -> float:
    """Requests per second > 0, or ``inf``."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise argtypes.Bad(f"{text!r} is not a request rate; give requests per second > 0, e.g. 2, or inf")
    return value


def slo(text: str) -> dict:
    from ragperf.errors import RagperfError
    from ragperf.serve.open_loop import parse_slo

    try:
        return parse_slo(text)
    except RagperfError as exc:
        raise argtypes.Bad(str(exc).removeprefix(f"--slo {text!r}: ")) from None


def run(args: argparse.Namespace) -> int:
    from ragperf.errors import RagperfError
    from ragperf.models.ladder import variant
    from ragperf.models.registry import resolve_embedder
    from ragperf.serve.launcher import serving
    from ragperf.serve.load import run_load
    from ragperf.serve.retriever import ServeConfig, build_index_dir

    resolve_embedder(args.model)
    variant(args.variant)
    if args.request_rate is None:
        given = [f"--{name.replace('_', '-')}" for name in CHAIN_ONLY if getattr(args, name) is not None]
        if given:
            raise RagperfError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to the chain only; "
                               "add --request-rate R")
    else:
        if args.users:
            raise RagperfError("--users (closed-loop locust on the retriever) and --request-rate (the open-loop "
                               "chain) are two kinds of load; give one")
        _check_chain(args)
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
            if args.request_rate is not None:
                return _run_chain(args, index, server)
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


def _check_chain(args) -> None:
    from ragperf.models.registry import resolve_decoder
    from ragperf.serve.generate import check_mode

    args.decoder = DEFAULT[DECODER] if args.decoder is None else args.decoder
    args.decode_mode = "compile-prefill-decode" if args.decode_mode is None else args.decode_mode
    args.requests = args.requests or 50
    args.max_tokens = args.max_tokens or 32
    args.device = args.device or "cpu"
    resolve_decoder(args.decoder)
    check_mode(args.decode_mode)


def _run_chain(args, index, rag) -> int:
    """The LLM served beside ``rag``, the chain run open-loop against both; JSON on stdout."""
    from ragperf.rag.corpus import load_known_answers
    from ragperf.serve.chain import chain_request, llm_limits, stage_shares
    from ragperf.serve.generate import GenerateConfig
    from ragperf.serve.launcher import serving
    from ragperf.serve.open_loop import run_open_loop, summarize

    config = GenerateConfig(args.decoder, args.decode_mode, args.workers, args.threads, args.backend,
                            args.max_tokens, device=args.device)
    with serving(config) as llm:
        print(f"[ragperf] serving {args.decoder} {args.decode_mode} on {args.device} at {llm.url}: POST /generate (server-sent "
              f"events); {args.requests} chain requests at {args.request_rate}/s", file=sys.stderr, flush=True)
        questions = [q.question for q in load_known_answers().questions]
        request = chain_request(rag.url, llm.url, questions, 3, args.max_tokens, llm_limits(llm.url)["context"])
        bound = args.seconds or 600.0
        records, duration = run_open_loop(request, args.request_rate, args.requests, max_seconds=bound)
        result = {**summarize(records, duration, args.slo, args.request_rate), "stages": stage_shares(records),
                  "recompiles": rag.recompiles() + llm.recompiles()}
    print(json.dumps(result, default=str))
    return 1 if result["errors"] or result["recompiles"] else 0
