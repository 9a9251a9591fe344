"""``ragperf run``: what torch.compile buys for RAG and LLM inference on this machine, and at what cost.

Sections (``--suite`` picks them): the Graviton RAG blog's embedding ladder and the compile cost
(``embed``), the RAG pipeline (``rag``), decoding as the overhead paper's Table 1 (``decode``),
then a summary of recompiles and parity for what ran. Every figure is measured in this run; each
process-latched configuration runs in its own subprocess. A failing section is reported and the
others still run. Writes ``report.json``, ``report.md`` and PNG plots into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ragperf import argtypes, jobargs
from ragperf.models.registry import DECODER, DEFAULT, EMBEDDER, metavar, option_help

# coldstart is not part of "all": its fresh-process matrix takes tens of minutes on a small machine.
SUITES = {"embed": ("embed", "compile_cost"), "rag": ("rag",), "decode": ("decode",), "coldstart": ("coldstart", "coldstart_decode"),
          "serve": ("serve",), "all": ("embed", "compile_cost", "rag", "decode", "serve")}
DEFAULT_DECODERS = {"quick": (DEFAULT[DECODER],), "full": (DEFAULT[DECODER], "gpt2")}
# (batch sizes, prompt tokens, new tokens) per decoder size class.
DECODE_SHAPES = {"quick": ((1, 8), 32, 32), "full": ((1, 8, 32), 32, 64)}
REAL_SHAPE_BATCHES = {"quick": (1,), "full": (1, 8)}  # real-shape decoders are slow on a small CPU


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="measure what torch.compile buys (and costs) on this machine",
                                   description=__doc__)
    parser.add_argument("--suite", default="all", choices=tuple(SUITES), help="which sections to run (default all)")
    parser.add_argument("--model", default=DEFAULT[EMBEDDER], metavar=metavar(EMBEDDER),
                        help=option_help(EMBEDDER, DEFAULT[EMBEDDER]))
    parser.add_argument("--decoder", action="append", default=None, metavar=metavar(DECODER),
                        help=option_help(DECODER, note=f"the decode section's; repeatable; default: "
                                                       f"{', '.join(DEFAULT_DECODERS['quick'])}, with no --quick "
                                                       f"{', '.join(DEFAULT_DECODERS['full'])}"))
    parser.add_argument("--device", default="cpu", type=argtypes.device, metavar="cpu|cuda")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, tokens and batch sizes (< 10 min here)")
    parser.add_argument("--rounds", type=jobargs.ROUNDS, default=None,
                        help=f"timed rounds per ladder variant ({jobargs.ROUNDS.bounds})")
    parser.add_argument("--batch-sizes", default=None, help="decode batch sizes, e.g. 1,8,32")
    parser.add_argument("--new-tokens", type=jobargs.NEW_TOKENS, default=None,
                        help=f"decode tokens generated per run ({jobargs.NEW_TOKENS.bounds})")
    parser.add_argument("--backend", default="inductor", choices=argtypes.BACKENDS, help=argparse.SUPPRESS)  # tests: aot_eager is fast
    parser.add_argument("--out", type=argtypes.output_dir, default=Path("ragperf-out"), help="output folder (default ./ragperf-out)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragperf.jobs import report as reports
    from ragperf.models.registry import resolve_embedder

    if args.suite in ("embed", "rag", "coldstart", "serve", "all"):
        resolve_embedder(args.model)  # fail fast, in this process, on a bad model spec
    _check_decoders(args)
    size = "quick" if args.quick else "full"
    started = time.perf_counter()
    report = reports.new_report({k: str(v) for k, v in vars(args).items() if k != "func"})
    sections = report["sections"]
    for name in SUITES[args.suite]:
        sections[name] = _section(name, lambda name=name: SECTION_JOBS[name](args, size))
    sections["compile_summary"] = {"status": "ok", "seconds": None, "data": reports.compile_summary(sections)}
    report["plots"] = _plots(report, args.out)
    report["total_s"] = time.perf_counter() - started
    json_path, md_path = reports.write(report, args.out)
    print(reports.text(report))
    say(f"done in {report['total_s'] / 60:.1f} min; wrote {json_path}, {md_path} and {len(report['plots'])} plot(s)")
    failed = [n for n, s in sections.items() if s["status"] == "failed"]
    return 1 if failed else 0


def say(line: str) -> None:
    print(line if line.startswith("[ragperf]") else f"[ragperf] {line}", file=sys.stderr, flush=True)


def _section(name: str, job: Callable[[], dict | None]) -> dict:
    """Run one section, watched (:mod:`ragperf.perf.machine_state`: its ``machine`` entry); a failure becomes the
    section's status, never the end of the run."""
    from ragperf.perf import machine_state

    say(f"== {name} ==")
    watch = machine_state.watch_section()
    section = _watched_section(name, job, watch)
    section["machine"] = watch.state
    if machine_state.flag_line(watch.state):
        say(f"{name}: {machine_state.flag_line(watch.state)}")
    return section


def _watched_section(name: str, job: Callable[[], dict | None], watch) -> dict:
    start = time.perf_counter()
    try:
        with watch:
            data = job()
    except KeyboardInterrupt:
        raise
    except SectionUnavailable as exc:
        say(f"{name}: not available - {exc}")
        return {"status": "not available", "seconds": time.perf_counter() - start, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported in the section, the rest of the run goes on
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        say(f"{name}: FAILED - {message}")
        return {"status": "failed", "seconds": time.perf_counter() - start,
                "error": f"{type(exc).__name__}: {message}"}
    seconds = time.perf_counter() - start
    say(f"{name}: done in {seconds:.0f} s")
    return {"status": "ok", "seconds": seconds, "data": data}


class SectionUnavailable(Exception):
    """The section's code is not installed in this tree; reported as 'not available'."""


def _embed(args, size: str) -> dict:
    from ragperf.models.ladder import variant, variants_for
    from ragperf.perf import machine_state
    from ragperf.subproc import run_job

    rounds = args.rounds or (20 if size == "quick" else 100)
    rows = []
    for name in variants_for(args.device):
        chosen = variant(name)
        if name == "eager" or (args.backend != "inductor" and (chosen.freezing or chosen.mode)):
            continue  # eager is every row's baseline; freezing and modes exist only in Inductor
        say(f"ladder {name}: compile + {rounds} interleaved rounds against eager (own process)")
        with machine_state.watch_row() as watch:
            row = run_job("ladder", ["--model", args.model, "--variant", name, "--rounds", str(rounds),
                                     "--device", args.device, "--backend", args.backend, "--progress"], progress=say)
        rows.append({**row, "machine": watch.state})
    return {"model": args.model, "rounds": rounds, "rows": rows}


def _compile_cost(args, size: str) -> dict:
    from ragperf.jobs.compile_cost import cold_vs_warm

    return {"model": args.model, **cold_vs_warm(args.model, args.device, progress=say, backend=args.backend)}


def _rag(args, size: str) -> dict:
    try:
        from ragperf.jobs.rag import measure_rag
    except ImportError as exc:
        raise SectionUnavailable(f"ragperf.jobs.rag.measure_rag is not importable ({exc})") from None
    say(f"RAG: crawl, split, index and query with {args.model}, one process per variant")
    return measure_rag(args.model, quick=args.quick, device=args.device)


def _decode(args, size: str) -> dict:
    from ragperf.models.decode_modes import run_modes
    from ragperf.perf import machine_state
    from ragperf.perf.compile_time import empty_cache
    from ragperf.subproc import run_job

    batch_sizes, prompt_len, new_tokens = DECODE_SHAPES[size]
    new_tokens = args.new_tokens or new_tokens
    decoders: dict[str, dict] = {}
    for decoder in args.decoder or DEFAULT_DECODERS[size]:
        sizes = _batch_sizes(args, decoder, size, batch_sizes)
        decoders[decoder] = {}
        for mode in run_modes(args.device):
            say(f"decode {decoder} {mode}, batch sizes {','.join(map(str, sizes))} (own process, fresh Inductor cache)")
            job_args = ["--model", decoder, "--variant", mode, "--batch-sizes", ",".join(map(str, sizes)),
                        "--prompt-len", str(prompt_len), "--new-tokens", str(new_tokens), "--device", args.device,
                        "--backend", args.backend, "--progress"]
            if args.device == "cuda":  # the decoders' serving precision on GPUs
                job_args += ["--dtype", "bfloat16"]
            try:
                with empty_cache() as cache_dir, machine_state.watch_row() as watch:
                    job = run_job("decode", job_args, progress=say, env={"TORCHINDUCTOR_CACHE_DIR": cache_dir})
                decoders[decoder][mode] = {**job, "machine": watch.state}
            except Exception as exc:  # noqa: BLE001 - one mode failing leaves the others' rows
                say(f"decode {decoder} {mode}: FAILED - {exc}")
                decoders[decoder][mode] = {"error": str(exc)}
    if all("error" in job for jobs in decoders.values() for job in jobs.values()):
        raise RuntimeError("every decode job failed: " + next(iter(next(iter(decoders.values())).values()))["error"])
    return {"prompt_len": prompt_len, "new_tokens": new_tokens, "decoders": decoders}


def _coldstart(args, size: str) -> dict:
    from ragperf.coldstart.matrix import run_section

    return run_section(args.model, quick=size == "quick", device=args.device, backend=args.backend, progress=say)


def _coldstart_decode(args, size: str) -> dict:
    from ragperf.coldstart.matrix import decode_section

    return decode_section((args.decoder or DEFAULT_DECODERS["quick"])[0], quick=size == "quick", device=args.device,
                          backend=args.backend, progress=say)


def _serve(args, size: str) -> dict:
    from ragperf.jobs.chain import DEFAULT_SLO
    from ragperf.jobs.serve import measure_serve

    say(f"serve: {args.model} behind uvicorn, locust load, eager vs compiled (one server per variant); then the "
        "RAG -> LLM chain under open-loop load")
    quick = size == "quick"
    chain = {"decoder": (args.decoder or DEFAULT_DECODERS["quick"])[0], "max_tokens": 32, "slo": DEFAULT_SLO,
             "size": size}
    return measure_serve(args.model, rounds=2 if quick else 3, seconds=2.0 if quick else 3.0, backend=args.backend,
                         variants=_serve_variants(args.backend), progress=say, chain=chain)


def _serve_variants(backend: str) -> tuple[str, ...]:
    from ragperf.jobs.serve import DEFAULT_VARIANTS
    from ragperf.models.ladder import variant

    return tuple(v for v in DEFAULT_VARIANTS if backend == "inductor" or not variant(v).freezing)


SECTION_JOBS = {"embed": _embed, "compile_cost": _compile_cost, "rag": _rag, "decode": _decode,
                "coldstart": _coldstart, "coldstart_decode": _coldstart_decode, "serve": _serve}


def _batch_sizes(args, decoder: str, size: str, default: tuple[int, ...]) -> tuple[int, ...]:
    if args.batch_sizes is not None:  # an empty list is refused, not read as the default
        from ragperf.coldstart.sizes import parse_sizes

        return parse_sizes(args.batch_sizes, "batch sizes")
    from ragperf.models.registry import named

    tiny = named(decoder) is not None and named(decoder).tiny
    return default if tiny else REAL_SHAPE_BATCHES[size]


def _check_decoders(args) -> None:
    from ragperf.coldstart.sizes import parse_sizes
    from ragperf.models.registry import resolve_decoder

    decoding = any(name.startswith(("decode", "coldstart_decode")) for name in SUITES[args.suite])
    argtypes.refuse_unused({"--decoder": args.decoder}, decoding,
                           f"--suite {args.suite} runs no decoder; add --suite decode, coldstart or all")
    argtypes.refuse_unused({"--new-tokens": args.new_tokens, "--batch-sizes": args.batch_sizes},
                           "decode" in SUITES[args.suite], f"--suite {args.suite} does not decode; add --suite decode or all")
    argtypes.refuse_unused({"--rounds": args.rounds}, "embed" in SUITES[args.suite],
                           f"--rounds sets the embedding ladder's rounds, which --suite {args.suite} does not run")
    argtypes.refuse_repeats(args.decoder or [], "--decoder")
    for decoder in args.decoder or ():
        resolve_decoder(decoder)
    if args.batch_sizes is not None:
        parse_sizes(args.batch_sizes, "batch sizes")


def _plots(report: dict, out: Path) -> list[str]:
    from ragperf.jobs import plots

    made: list[str] = []
    sections = report["sections"]
    machine = report["fingerprint"].get("cpu_model") or report["fingerprint"].get("arch", "")
    try:
        if sections.get("embed", {}).get("status") == "ok":
            data = sections["embed"]["data"]
            made.append(str(plots.ladder_bars(data["rows"], out / "ladder.png",
                                              f"Embedding ladder: {data['model']}, batch of 2 sentences ({machine})")))
        if sections.get("decode", {}).get("status") == "ok":
            for decoder, jobs in sections["decode"]["data"]["decoders"].items():
                ok = {m: j for m, j in jobs.items() if "rows" in j}
                if not ok:
                    continue
                made.append(str(plots.decode_latency(ok, out / f"decode-latency-{_slug(decoder)}.png",
                                                     f"{decoder}: per-token decode latency per compile mode")))
                made.append(str(plots.cumulative_time(ok, out / f"decode-cumulative-{_slug(decoder)}.png",
                                                      f"{decoder}: cumulative time per compile mode, break-even")))
        chain = sections.get("serve", {}).get("data", {}).get("chain") if sections.get("serve", {}).get(
            "status") == "ok" else None
        if chain and "sweep" in chain:
            made.append(str(plots.latency_vs_load(chain["sweep"], out / "chain-load.png",
                                                  f"RAG -> {chain['decoder']} chain, open-loop Poisson load ({machine})")))
    except Exception as exc:  # noqa: BLE001 - a plot must not cost the report
        say(f"plots: FAILED - {exc}")
    return made


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in Path(text).name or text)
