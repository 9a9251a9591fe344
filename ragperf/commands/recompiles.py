"""``ragperf recompiles``: the compile probe from the command line, for any embedder and shape schedule."""

from __future__ import annotations

import argparse
import json
import sys

from ragperf import argtypes
from ragperf.compile.strategies import STRATEGIES
from ragperf.errors import RagperfError
from ragperf.models.registry import DEFAULT, EMBEDDER, metavar, option_help


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recompiles", help="graphs, ops captured, fallbacks and every recompile with its reason",
        description=__doc__ + " Calls the model at each shape in order, e.g. an index batch then queries.")
    parser.add_argument("--model", default=DEFAULT[EMBEDDER], metavar=metavar(EMBEDDER),
                        help=option_help(EMBEDDER, DEFAULT[EMBEDDER]))
    parser.add_argument("--shapes", default="16x32,1x8", help="BATCHxLENGTH,... in call order (default 16x32,1x8)")
    parser.add_argument("--strategy", default="auto", metavar="|".join(STRATEGIES),
                        help="dynamic-shape strategy (default auto = dynamic=None)")
    parser.add_argument("--backend", default="eager", choices=("eager", "aot_eager", "inductor"),
                        help="eager/aot_eager answer graph questions in seconds; inductor compiles for real")
    parser.add_argument("--fullgraph", action="store_true", help="compile with fullgraph=True (a break is an error)")
    parser.add_argument("--device", default="cpu", type=argtypes.device, metavar="cpu|cuda")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.compile.scenarios import parse_shapes, probe_shapes
    from ragperf.compile.strategies import strategy
    from ragperf.models.embedders import load_embedder

    shapes = parse_shapes(args.shapes)  # bad input fails before the model loads
    chosen = strategy(args.strategy).require()
    embedder = load_embedder(args.model, device=args.device)
    too_long = [n for _, n in shapes if n > embedder.max_length]
    if too_long:
        raise RagperfError(f"--shapes length {max(too_long)} is past {args.model}'s {embedder.max_length} positions; "
                           f"give lengths up to {embedder.max_length}")
    report = probe_shapes(embedder, shapes, chosen, backend=args.backend, fullgraph=args.fullgraph)
    if args.json:
        print(json.dumps({"model": args.model, "shapes": shapes, "strategy": chosen.name, "backend": args.backend,
                          "fullgraph": args.fullgraph, **report.to_dict()}, indent=2))
    else:
        schedule = " -> ".join(f"{b}x{n}" for b, n in shapes)
        print(f"{args.model}: {schedule}, strategy {chosen.name}, backend {args.backend}"
              f"{', fullgraph' if args.fullgraph else ''}")
        print(report.summary())
    if report.error:
        print(f"ragperf: the compile failed: {report.error}", file=sys.stderr)
        return 1
    return 0
