"""``ragperf parity``: is compiled still right? The fp64-anchored verdict for one model and variant.

An embedder takes a ladder variant; a decoder (a named one, or a causal-LM folder with --decoder)
takes a decode mode.
Exit status: 0 pass, 1 fail, 3 skipped because the fastmath lane is inactive here (the reason is
printed), 2 bad input. ``--fastmath real`` runs in a child process started with
DNNL_DEFAULT_FPMATH_MODE=BF16, since oneDNN reads that only at process start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ragperf import argtypes, jobargs
from ragperf.errors import RagperfError
from ragperf.models.registry import DECODER, DEFAULT, EMBEDDER, option_help

EXIT_SKIPPED = 3


def register(subparsers) -> None:
    parser = subparsers.add_parser("parity", help="numerical parity of a compiled model vs eager, judged against fp64",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(parser)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT[EMBEDDER], metavar="NAME|PATH",
                        help=f"{option_help(EMBEDDER, DEFAULT[EMBEDDER])}; or {option_help(DECODER)} with --decoder "
                             "(a named decoder needs no --decoder)")
    parser.add_argument("--variant", default="compile",
                        help="ladder variant (embedders) or decode mode (decoders); default: compile / compile-decode")
    parser.add_argument("--fastmath", default="off", choices=("off", "real", "emulated"),
                        help="BF16 fastmath lane (default: off = fp32)")
    parser.add_argument("--decoder", action="store_true", help="judge --model as a decoder (a causal LM)")
    parser.add_argument("--device", default="cpu", type=argtypes.device, metavar="cpu|cuda")
    parser.add_argument("--backend", default="inductor", choices=("inductor", "aot_eager", "eager"))
    parser.add_argument("--new-tokens", type=jobargs.NEW_TOKENS, default=None,
                        help=f"decoders: greedy tokens to generate ({jobargs.NEW_TOKENS.bounds}; default {DEFAULT_NEW_TOKENS})")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    parser.add_argument("--in-child", action="store_true", help=argparse.SUPPRESS)


DEFAULT_NEW_TOKENS = 8


def run(args: argparse.Namespace) -> int:
    from ragperf.models.registry import resolve_decoder, resolve_embedder

    resolve = resolve_decoder if _as_decoder(args) else resolve_embedder
    resolve(args.model)  # unknown, or of the other kind: one line here, before a child starts or a model loads
    argtypes.refuse_unused({"--new-tokens": args.new_tokens}, bool(_as_decoder(args)),
                           f"{args.model} is judged as an embedder, which generates no tokens; give --decoder to "
                           "judge a decoder, or drop --new-tokens")
    args.new_tokens = args.new_tokens or DEFAULT_NEW_TOKENS
    if args.fastmath == "real" and args.device == "cpu" and not args.in_child \
            and os.environ.get("DNNL_DEFAULT_FPMATH_MODE", "").upper() != "BF16":
        from ragperf.subproc import run_json

        result = run_json("ragperf.commands.parity", [*_argv(args), "--in-child"],
                          env={"DNNL_DEFAULT_FPMATH_MODE": "BF16"})
    else:
        result = evaluate(args)
    print(json.dumps(result) if args.json else _text(result))
    return {"pass": 0, "fail": 1, "skipped": EXIT_SKIPPED}[result["outcome"]]


def evaluate(args: argparse.Namespace) -> dict:
    """The verdict as a JSON-ready dict: outcome (pass/fail/skipped), lane status, and the numbers."""
    import torch

    from ragperf.numerics import fastmath, parity
    from ragperf.numerics.tolerances import find_pyproject, lookup

    status = fastmath.lane_status(args.fastmath, args.device)
    head = {"model": args.model, "variant": args.variant, "lane": args.fastmath, "device": args.device,
            "lane_status": status.to_dict(), "env_DNNL_DEFAULT_FPMATH_MODE": os.environ.get("DNNL_DEFAULT_FPMATH_MODE")}
    if not status.active:
        return {**head, "outcome": "skipped", "reason": status.reason}
    tolerance = lookup(args.device, torch.float32, args.fastmath, pyproject=find_pyproject())
    if _as_decoder(args):
        from ragperf.models.decode_modes import names
        from ragperf.models.decoders import load_decoder, random_prompts

        mode = "compile-decode" if args.variant == "compile" else args.variant
        if mode not in names("paper"):
            raise RagperfError(f"decoder {args.model!r} takes a decode mode, not {args.variant!r}: "
                               f"choose from {', '.join(names('paper'))}")
        decoder = load_decoder(args.model, device=args.device)
        result = parity.decode_parity(decoder, mode, args.fastmath, tolerance, random_prompts(decoder, 2, 8),
                                      args.new_tokens, backend=args.backend)
        return {**head, "variant": mode, "outcome": "pass" if result.passed else "fail", "message": result.message(),
                "first_mismatch": result.first_mismatch, "near_tie": result.near_tie,
                "steps": [v.to_dict() for v in result.steps]}
    from ragperf.models.embedders import load_embedder
    from ragperf.models.ladder import variant as check_variant

    chosen = check_variant(args.variant)
    if args.backend != "inductor" and (chosen.freezing or chosen.mode):
        raise RagperfError(f"variant {args.variant!r} needs backend 'inductor' (got backend {args.backend!r})")
    verdict = parity.embedder_parity(load_embedder(args.model, device=args.device), args.variant, args.fastmath,
                                     tolerance, backend=args.backend)
    return {**head, "outcome": "pass" if verdict.passed else "fail", "message": verdict.message(),
            "verdict": verdict.to_dict()}


def _as_decoder(args: argparse.Namespace) -> bool:
    """--model is judged as a decoder: with --decoder, or when it names a decoder."""
    from ragperf.models.registry import named

    return args.decoder or getattr(named(args.model), "kind", None) == DECODER


def _argv(args: argparse.Namespace) -> list[str]:
    out = ["--model", args.model, "--variant", args.variant, "--fastmath", args.fastmath, "--device", args.device,
           "--backend", args.backend, "--new-tokens", str(args.new_tokens)]
    return out + (["--decoder"] if args.decoder else [])


def _text(result: dict) -> str:
    lane = f"lane {result['lane']}: {result['lane_status']['reason']}"
    if result["outcome"] == "skipped":
        return f"SKIPPED {result['model']} {result['variant']} - {lane}"
    return f"{result['message']}\n({lane})"


def main(argv: list[str] | None = None) -> int:
    """Child entry point (``python -m ragperf.commands.parity``) for the process-latched real lane."""
    parser = argparse.ArgumentParser(prog="ragperf parity")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(evaluate(args)))
    except RagperfError as exc:
        print(f"ragperf: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
