"""``ragperf release OLD NEW``: did NEW (a new torch, transformers or model) regress against OLD? One report, one exit.

Each side is a Python interpreter, a virtual environment folder (its bin/python), or a side saved with
``--save`` (untimed parts only). For two live sides on this machine the report holds:

1. behaviour - every expected-table scenario row, field by field, with the guard reasons;
2. numerics - fp64-anchored parity of each ladder rung and decode mode, fp32 and emulated BF16;
3. speed - each rung and decode mode in lockstep A/B pairs of processes (the paired estimate, its 95% CI);
4. compile time - the cold first call from an empty Inductor cache, in paired fresh processes;
5. peak memory - compiled/eager, each arm in its own process, on both sides;
6. warm start - each side started again from its own cold run's cache: its cache hits and misses;
7. versions and the machine.

Untimed parts of both sides run at once on all cores but the last; timed parts run one after another on the
last core. A timed change is called only when the gate calls it beyond its band, a re-measure agrees, and it
survives Holm's correction over every timed metric of the report (``ragperf.jobs.release``). Shards: with
``SHARD_INDEX``/``SHARD_COUNT`` (or a Kubernetes indexed job's ``JOB_COMPLETION_INDEX``) a runner measures
its share of the parts; ``ragperf release --merge R1.json R2.json ...`` renders many runners' reports as one
page, a section per machine. Exit status: 0 nothing regressed, 1 a regression, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from ragperf import argtypes
from ragperf.errors import RagperfError
from ragperf.models.registry import DECODER, DEFAULT, EMBEDDER, metavar, option_help

PARTS = ("recompile", "parity", "memory", "speed", "compile")
SHARD_ENV = ("SHARD_INDEX", "SHARD_COUNT")
MAX_SHARDS = 64
MAX_PAIRS = 20
MAX_ROUNDS = 1000


def register(subparsers) -> None:
    parser = subparsers.add_parser("release", help="one verdict: did NEW regress against OLD (behaviour, numerics, "
                                   "speed, compile time, memory, warm start)", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sides", nargs="+", metavar="SIDE",
                        help="OLD and NEW: a python interpreter, a venv folder, or a saved side .json (one SIDE "
                             "with --save); with --merge: release reports (.json)")
    parser.add_argument("--embedder", default=DEFAULT[EMBEDDER], metavar=metavar(EMBEDDER),
                        help=option_help(EMBEDDER, DEFAULT[EMBEDDER]))
    parser.add_argument("--decoder", default=DEFAULT[DECODER], metavar=metavar(DECODER),
                        help=option_help(DECODER, DEFAULT[DECODER]))
    parser.add_argument("--quick", action="store_true",
                        help="the `compile` rung and `compile-decode` only, fp32 parity, 2 pairs, no memory")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)} (default: all)")
    parser.add_argument("--pairs", type=_pairs, default=None,
                        help=f"lockstep pairs of processes per timed case (default 3, --quick 2; at most {MAX_PAIRS})")
    parser.add_argument("--rounds", type=_rounds, default=None,
                        help=f"lockstep rounds per side in a pair (default: the case's, decode 90; at most {MAX_ROUNDS})")
    parser.add_argument("--detect", type=argtypes.detect_fraction, default=None, metavar="FRACTION",
                        help="speed: plan each case's pairs from the noise of the first --pairs: as many as "
                             "catching a FRACTION slowdown (e.g. 0.02) needs at 5%% false alarms, stopping early "
                             "when the answer is clear")
    parser.add_argument("--budget-s", type=argtypes.budget_seconds, default=None, metavar="SECONDS",
                        help="speed: at most the pairs SECONDS per case affords; says what change it can see")
    parser.add_argument("--backend", default="inductor", choices=argtypes.BACKENDS,
                        help="compiler of the parity, speed and compile-time parts (default inductor)")
    parser.add_argument("--device", type=argtypes.device, default="cpu", metavar="cpu|cuda",
                        help="where the speed and compile-time parts run (default cpu; cuda: the lockstep pairs take "
                             "turns on this machine's GPU); behaviour, numerics and memory run on the CPU")
    parser.add_argument("--scenario-backend", default="eager", choices=argtypes.BACKENDS,
                        help="compiler of the recompile scenarios (default eager, as the expected tables)")
    parser.add_argument("--save", type=argtypes.output_file, default=None, metavar="FILE",
                        help="with one SIDE: measure its untimed parts and keep them here as JSON")
    parser.add_argument("--merge", action="store_true",
                        help="render the release reports given as SIDEs as one page, a section per machine")
    parser.add_argument("--markdown", type=argtypes.output_file, default=None, metavar="FILE",
                        help="also write the report here (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--json", type=argtypes.output_file, default=None, metavar="FILE",
                        help="also write the report (every row, both sides' versions) here")
    parser.add_argument("--plot", type=argtypes.output_file, default=None, metavar="FILE.png",
                        help="also draw the timed rows as a forest plot (NEW/OLD with its CI and band)")
    parser.add_argument("--all-rows", action="store_true", help="list the rows that are same too")
    parser.add_argument("--plant-slowdown", action="append", default=[], metavar="CASE=FRACTION", type=_plant,
                        help="plant a slowdown in NEW's compiled path of one speed case, e.g. "
                             "embed/minilm/compile=0.05 (proves the gate; repeatable)")
    parser.add_argument("--plant-compile-slowdown", type=argtypes.slowdown, default=0.0, metavar="FRACTION",
                        help="plant a compile-time slowdown in NEW's cold first calls (proves the gate)")
    parser.set_defaults(func=run)


_pairs = argtypes.Count(1, MAX_PAIRS, "pairs per case")
_rounds = argtypes.Count(1, MAX_ROUNDS, "rounds per side")


def _plant(text: str) -> tuple[str, float]:
    case, sep, fraction = text.rpartition("=")
    if not sep or case.count("/") != 2:
        raise argtypes.Bad(f"{text!r}: write CASE=FRACTION with CASE as the report names it, e.g. "
                           "embed/minilm/compile=0.05")
    return case, argtypes.slowdown(fraction)


def shard() -> tuple[int, int]:
    """(index, count) from ``SHARD_INDEX``/``SHARD_COUNT`` (``JOB_COMPLETION_INDEX`` stands for the index); (0, 1)
    when unset; one line when they are not a valid pair."""
    index_text = os.environ.get("SHARD_INDEX", os.environ.get("JOB_COMPLETION_INDEX"))
    count_text = os.environ.get("SHARD_COUNT")
    if index_text is None and count_text is None:
        return 0, 1
    try:
        index, count = int(index_text if index_text is not None else "x"), int(count_text or "x")
    except ValueError:
        raise RagperfError(f"SHARD_INDEX={index_text!r} SHARD_COUNT={count_text!r}: set both to whole numbers, "
                           f"0 <= SHARD_INDEX < SHARD_COUNT <= {MAX_SHARDS}, or neither") from None
    if not 0 <= index < count <= MAX_SHARDS:
        raise RagperfError(f"SHARD_INDEX={index} SHARD_COUNT={count}: need 0 <= SHARD_INDEX < SHARD_COUNT <= "
                           f"{MAX_SHARDS}")
    return index, count


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    wrong = [p for p in parts if p not in PARTS]
    if wrong or not parts or len(set(parts)) != len(parts):
        raise RagperfError(f"--parts {text!r}: give a comma-separated subset of {','.join(PARTS)}, each once")
    return parts


def _side(spec: str) -> tuple[str, str]:
    """("file", path) for a saved side, ("python", interpreter) for an interpreter or venv that runs both jobs."""
    from ragperf import interpreters
    from ragperf.jobs.release_side import SCHEMA
    from ragperf.perf import lockstep

    path = Path(spec).expanduser()
    if path.suffix == ".json" or (path.is_file() and not os.access(path, os.X_OK)):
        from ragperf.jobs.release_report import load_side

        load_side(path)
        return "file", str(path)
    python = interpreters.resolve(spec, other=", a venv folder or a saved .json side")
    for module, schema in (("ragperf.jobs.release_side", SCHEMA), (lockstep.__name__, lockstep.SCHEMA)):
        found = interpreters.probe(python, spec, module)
        if found.get("schema") != schema:
            raise RagperfError(f"{spec} runs a ragperf ({found.get('ragperf')}) that speaks {found.get('schema')!r}, "
                               f"this one {schema!r}: {interpreters.INSTALL}")
    return "python", python


def _outputs(args: argparse.Namespace) -> None:
    """Refuse an output that would overwrite an input, or two outputs on one path."""
    outputs = [p for p in (args.save, args.markdown, args.json, args.plot) if p is not None]
    inputs = {Path(s).expanduser().resolve() for s in args.sides}
    for path in outputs:
        if path.resolve() in inputs:
            raise RagperfError(f"{path} is an input of this run: give another output path (a saved side or report is "
                               "never overwritten)")
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise RagperfError("two outputs name the same file: give each of --save, --markdown, --json, --plot its own")


def _check_flags(args: argparse.Namespace, parts: tuple[str, ...]) -> None:
    if args.merge:
        used = [flag for flag, on in (("--save", args.save), ("--quick", args.quick), ("--pairs", args.pairs),
                                      ("--plant-slowdown", args.plant_slowdown),
                                      ("--plant-compile-slowdown", args.plant_compile_slowdown),
                                      ("--rounds", args.rounds), ("--device", args.device != "cpu"),
                                      ("--detect", args.detect), ("--budget-s", args.budget_s),
                                      ("--parts", args.parts != ",".join(PARTS))) if on]
        if used:
            raise RagperfError(f"--merge renders saved reports: {', '.join(used)} does not apply to it; drop it")
        return
    if args.save is not None and len(args.sides) != 1:
        raise RagperfError(f"--save keeps one side: give one SIDE with it, not {len(args.sides)}")
    if args.save is not None and Path(args.sides[0]).suffix == ".json":
        raise RagperfError(f"{args.sides[0]} is a saved side already; --save measures an interpreter or venv")
    if args.save is None and len(args.sides) != 2:
        raise RagperfError(f"give OLD and NEW (got {len(args.sides)} SIDEs), one SIDE with --save FILE, or "
                           "reports with --merge")
    if args.save is not None and (args.plant_slowdown or args.plant_compile_slowdown or args.pairs or args.rounds
                                  or args.plot or args.device != "cpu"):
        raise RagperfError("--save keeps a side's untimed parts; --plant-*, --pairs, --rounds, --device and --plot "
                           "apply to OLD NEW runs")
    if (args.plant_slowdown or args.rounds) and "speed" not in parts:
        raise RagperfError("--plant-slowdown and --rounds apply to the speed part: add speed to --parts")
    if (args.detect or args.budget_s) and (args.save is not None or "speed" not in parts):
        raise RagperfError("--detect and --budget-s plan the speed part's pairs of an OLD NEW run: add speed to "
                           "--parts (and give OLD and NEW), or drop them")
    if args.pairs and not set(parts) & {"speed", "compile"}:
        raise RagperfError("--pairs applies to the timed parts: add speed or compile to --parts")
    if args.plant_compile_slowdown and "compile" not in parts:
        raise RagperfError("--plant-compile-slowdown applies to the compile part: add compile to --parts")


def run(args: argparse.Namespace) -> int:
    from ragperf.jobs import release, release_report, release_side
    from ragperf.perf import machine_state

    parts = _parts(args.parts)
    _check_flags(args, parts)
    _outputs(args)
    if args.merge:
        return _merge(args)
    index, count = shard()
    resolved = [_side(spec) for spec in args.sides]  # every side checked before anything is measured
    if any(kind == "python" for kind, _ in resolved):
        from ragperf.models.registry import resolve_decoder, resolve_embedder

        resolve_embedder(args.embedder)
        resolve_decoder(args.decoder)
    else:  # saved sides only: nothing is loaded, but a model of the wrong kind is refused all the same
        from ragperf.models.registry import DECODER, EMBEDDER, check_kind

        check_kind(args.embedder, EMBEDDER)
        check_kind(args.decoder, DECODER)
    speed_cases = release.cases(args.embedder, args.decoder, args.quick, args.backend, args.device)
    plants = dict(args.plant_slowdown)
    unknown = sorted(set(plants) - {c.prefix for c in speed_cases})
    if unknown:
        raise RagperfError(f"--plant-slowdown names {', '.join(unknown)}, not a speed case of this run; choose from "
                           + ", ".join(c.prefix for c in speed_cases))
    # the shard's units: the untimed sides, each speed case, compile time
    units = ["sides"] * bool(set(parts) & set(release_side.PARTS)) + [
        c.prefix for c in speed_cases if "speed" in parts] + ["compile"] * ("compile" in parts)
    mine = set(units[index::count])
    side_parts = tuple(p for p in parts if p in release_side.PARTS) if "sides" in mine else ()
    child_args = release_side.args_for(args.embedder, args.decoder, quick=args.quick, backend=args.backend,
                                       scenario_backend=args.scenario_backend, parts=side_parts)
    if args.save is not None:
        side = _measure(resolved[0][1], child_args, None)
        from ragperf.files import write_atomic

        write_atomic(args.save, lambda f: json.dump(side, f, indent=1))
        print(f"wrote {args.save} ({release_side.SCHEMA}: {_short(side)})")
        return 0

    started = time.monotonic()
    (kind_a, old), (kind_b, new) = resolved
    if kind_a == kind_b == "python" and Path(old).resolve() == Path(new).resolve():
        print(f"[ragperf] OLD and NEW are the same interpreter ({old}): an A/A run - every difference is noise",
              file=sys.stderr, flush=True)
    sides: dict[str, dict] = {}
    cancel = threading.Event()
    threads = [_side_thread(name, kind, target, child_args, sides, cancel)
               for name, (kind, target) in (("old", resolved[0]), ("new", resolved[1]))]
    timed_note = _timed_note(resolved, parts)
    decisions, warm = [], {}
    try:
        if timed_note is None:
            pairs = args.pairs or (release.QUICK["pairs"] if args.quick else release.ab.DEFAULT_PAIRS)
            for case in speed_cases:
                if case.prefix in mine:
                    with machine_state.watch_section() as watch:
                        made = release.speed(case, pairs, old, new, plants.get(case.prefix, 0.0), args.rounds,
                                             progress=_say, detect=args.detect, budget_s=args.budget_s)
                    decisions += _watched(made, watch.state)
            if "compile" in mine:
                with machine_state.watch_section() as watch:
                    made, figures = release.compile_decisions(
                        release.compile_case(args.embedder, args.backend, args.device), pairs, old, new,
                        args.plant_compile_slowdown, progress=_say)
                decisions += _watched(made, watch.state)
                warm = figures["warm"]
    except BaseException:
        cancel.set()  # a Ctrl-C (which only this thread gets) or an error stops the untimed sides' jobs now
        raise
    finally:
        for thread in threads:
            thread.join()
    errors = [sides[name] for name in ("old", "new") if isinstance(sides.get(name), BaseException)]
    if errors:
        raise errors[0]
    a, b = sides["old"], sides["new"]
    if timed_note is None and b["versions"].get("key") != a["versions"].get("key"):
        timed_note = "timed rows not compared: the two sides report different hardware fingerprints"
        decisions, warm = [], {}
    decisions += release.memory_decisions(a.get("memory") or [], b.get("memory") or [], f"A/B {args.sides[0]}")
    report = release_report.build(
        a, b, (args.sides[0], args.sides[1]), release.family(decisions), warm=warm, timed_note=timed_note,
        settings={"embedder": args.embedder, "decoder": args.decoder, "quick": args.quick, "parts": list(parts),
                  "backend": args.backend, "device": args.device, "plants": plants, "compile_plant": args.plant_compile_slowdown},
        shard=(index, count), seconds=time.monotonic() - started)
    _write(report, args)
    return release_report.exit_code(report)


def _watched(decisions: list, state: dict | None) -> list:
    """``decisions`` with the machine's state while they were measured (flagged in the report when not quiet)."""
    for d in decisions:
        d.machine = state
    return decisions


def _say(line: str) -> None:
    print(f"[ragperf] {line}", file=sys.stderr, flush=True)


def _timed_note(resolved: list[tuple[str, str]], parts: tuple[str, ...]) -> str | None:
    if not set(parts) & {"speed", "compile"}:
        return "timed rows not measured: --parts has neither speed nor compile"
    saved = [spec for spec, (kind, _) in zip(("OLD", "NEW"), resolved, strict=True) if kind == "file"]
    if saved:
        return (f"timed rows not compared: {' and '.join(saved)} {'is a saved side' if len(saved) == 1 else 'are saved'}"
                "; speed is only comparable measured in lockstep with both environments live on one machine")
    return None


def _side_thread(name: str, kind: str, target: str, child_args: list[str], sides: dict,
                 cancel: threading.Event) -> threading.Thread:
    """The untimed side ``name`` measured (or loaded) in a thread, its result or error in ``sides[name]``; its job
    stops when ``cancel`` is set."""
    from ragperf.jobs import release, release_report

    def work():
        try:
            sides[name] = (release_report.load_side(target) if kind == "file"
                           else _measure(target, child_args, release.other_cores(), cancel))
        except BaseException as exc:  # re-raised in the caller's thread
            sides[name] = exc

    thread = threading.Thread(target=work, name=f"ragperf-release-{name}", daemon=True)
    thread.start()
    return thread


def _measure(python: str, child_args: list[str], cores: set[int] | None,
             cancel: threading.Event | None = None) -> dict:
    from ragperf.subproc import run_job

    _say(f"measuring {python} (untimed parts) ...")
    return run_job("release-side", child_args, python=python, cores=cores, cancel=cancel,
                   progress=lambda line: print(line, file=sys.stderr, flush=True))


def _write(report: dict, args: argparse.Namespace) -> None:
    from ragperf.files import write_atomic
    from ragperf.jobs import release_report

    text = release_report.markdown(report, all_rows=args.all_rows)
    print(text)
    if args.markdown is not None:
        write_atomic(args.markdown, lambda f: f.write(text + "\n"))
    if args.json is not None:
        write_atomic(args.json, lambda f: json.dump(report, f, indent=1))
    if args.plot is not None:
        release_report.forest(report, args.plot)


def _merge(args: argparse.Namespace) -> int:
    from ragperf.files import write_atomic
    from ragperf.jobs import release_report

    argtypes.refuse_repeats([Path(side) for side in args.sides], "report")  # a shard merged twice counts twice
    reports = [release_report.load_report(path) for path in args.sides]
    text, merged = release_report.merge(reports)
    print(text)
    if args.markdown is not None:
        write_atomic(args.markdown, lambda f: f.write(text + "\n"))
    if args.json is not None:
        write_atomic(args.json, lambda f: json.dump(merged, f, indent=1))
    return release_report.exit_code(merged)


def _short(side: dict) -> str:
    from ragperf.perf.machine import versions

    return versions(side["versions"])
