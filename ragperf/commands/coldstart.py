"""``ragperf coldstart``: how fast a fresh process serves its first embedding, by start path.

For each compiled ladder rung of the model: an empty Inductor cache, a warm local cache, a Mega-Cache
carried into an empty cache dir, and an AOTInductor package - each in its own fresh process. Prints
first call, steady speed vs the JIT rung, break-even, parity vs eager/fp64, artifact size and which
caches hit, missed or were bypassed. ``--decoder D`` does the same for the decode modes of decoder D
(``--mode``; tokens/s and greedy-token parity instead). ``--check-expected``/``--update-expected`` compare with (or
regenerate) the what-bypasses-what table of this torch version.
"""

from __future__ import annotations

import argparse
import json
import sys

from ragperf import argtypes, jobargs
from ragperf.compile.expected import EXPECTED_DIR
from ragperf.models.registry import DECODER, DEFAULT, EMBEDDER, metavar, option_help


def register(subparsers) -> None:
    from ragperf.coldstart.decode import COLDSTART_MODES, DEFAULT_MODES
    from ragperf.coldstart.matrix import COMPILED_RUNGS
    from ragperf.coldstart.start import PATHS

    parser = subparsers.add_parser("coldstart", help="first-call seconds of a fresh process, by start path",
                                   description=__doc__)
    parser.add_argument("--model", default=None, metavar=metavar(EMBEDDER),
                        help=option_help(EMBEDDER, DEFAULT[EMBEDDER]))
    parser.add_argument("--variant", action="append", choices=COMPILED_RUNGS, default=None,
                        help="ladder rung (repeatable; default: all compiled rungs)")
    parser.add_argument("--decoder", default=None, metavar=metavar(DECODER),
                        help=option_help(DECODER, note="its decode modes instead of the embedder's rungs"))
    parser.add_argument("--mode", action="append", choices=COLDSTART_MODES, default=None,
                        help=f"decode mode, with --decoder (repeatable; default: {', '.join(DEFAULT_MODES)})")
    parser.add_argument("--path", action="append", choices=PATHS, default=None,
                        help="start path (repeatable; default: all)")
    parser.add_argument("--rounds", type=jobargs.ROUNDS, default=30,
                        help=f"timed interleaved rounds per start ({jobargs.ROUNDS.bounds}; default 30)")
    parser.add_argument("--device", default="cpu", type=argtypes.device, metavar="cpu|cuda")
    parser.add_argument("--backend", default="inductor", help=argparse.SUPPRESS)  # tests: aot_eager is fast
    expected = parser.add_mutually_exclusive_group()
    expected.add_argument("--check-expected", action="store_true",
                          help="exit 1 when the cache behaviour differs from the expected table")
    expected.add_argument("--update-expected", action="store_true", help="write the measured rows into the table")
    parser.add_argument("--dir", type=argtypes.output_dir, default=EXPECTED_DIR, help=f"folder of the tables (default {EXPECTED_DIR})")
    parser.add_argument("--json", type=argtypes.output_file, default=None, help="also write the raw results here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.coldstart.bypass import BypassTable, counts
    from ragperf.coldstart.matrix import COMPILED_RUNGS, matrix
    from ragperf.coldstart.report import blocks
    from ragperf.coldstart.start import PATHS
    from ragperf.jobs.report import _text_table
    from ragperf.perf import machine_state

    kind, model, variants = _subject(args)
    table = BypassTable.load(args.dir) if args.check_expected or args.update_expected else None  # read first
    if args.check_expected and not any(key[0] == model and key[-1] == args.backend for key in table.rows):
        from ragperf.errors import RagperfError

        raise RagperfError(f"{table.path} holds no expected row for {model} ({args.backend}): nothing to check "
                           "against; record them first with --update-expected")
    with machine_state.watch_section() as watch:
        data = matrix(model, variants or COMPILED_RUNGS, args.path or PATHS, rounds=args.rounds, device=args.device,
                      backend=args.backend, kind=kind, progress=lambda line: _say(line))
    data["machine"] = watch.state
    print(machine_state.header({"the cold starts": watch.state}))
    for block in blocks(data):
        print(_text_table(block[1], block[2]) if block[0] == "table" else block[1].replace("`", "").replace("*", ""))
    if args.json:
        from ragperf.files import write_atomic

        write_atomic(args.json, lambda f: f.write(json.dumps(data, indent=1, default=str) + "\n"))
    if table is None:
        return 0
    failures = 0
    for variant, steps in data["results"].items():
        for path in PATHS:
            result = steps.get(path)
            if result is None or "error" in result:
                continue
            key = (model, variant, path, args.backend)
            if args.update_expected:
                table.record(key, counts(result))
                continue
            problem = table.mismatch(key, counts(result))
            failures += bool(problem)
            print(problem or f"ok {' / '.join(key)}", file=sys.stderr)
    if args.update_expected:
        print(f"wrote {table.save()}")
        return 0
    print(f"{failures} start(s) differ from {table.path}" if failures else f"all starts match {table.path}")
    return 1 if failures else 0


def _subject(args: argparse.Namespace) -> tuple[str, str, list[str] | tuple[str, ...] | None]:
    """(kind, model, variants) from the options, each name checked here: one line, before any process starts."""
    from ragperf.errors import RagperfError

    if args.decoder is None:
        args.model = DEFAULT[EMBEDDER] if args.model is None else args.model
        if args.mode:
            raise RagperfError(f"--mode picks decode modes of a --decoder: add --decoder {DEFAULT[DECODER]} (or another), "
                               "or use --variant for the embedder's ladder rungs")
        from ragperf.models.registry import resolve_embedder

        resolve_embedder(args.model)
        return "embedder", args.model, args.variant
    if args.variant:
        raise RagperfError("--variant picks embedder ladder rungs; with --decoder pick decode modes with --mode")
    if args.model is not None:
        raise RagperfError("--model picks the embedder a cold start measures; with --decoder it would be unused: "
                           "give one of --model and --decoder")
    from ragperf.coldstart.decode import DEFAULT_MODES
    from ragperf.models.registry import resolve_decoder

    resolve_decoder(args.decoder)
    return "decoder", args.decoder, args.mode or DEFAULT_MODES


def _say(line: str) -> None:
    print(line if line.startswith("[ragperf]") else f"[ragperf] {line}", file=sys.stderr, flush=True)
