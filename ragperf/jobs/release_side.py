"""One side of ``ragperf release``: an environment's untimed answers - compile behaviour, numerics, memory, versions.

Job ``release-side`` (``python -m ragperf.jobs release-side --embedder minilm``) runs it on the interpreter it is
started with and prints one JSON object (a *side*, schema :data:`SCHEMA`) as its last stdout line. Nothing
here is timed, so both sides may run at once; what is timed (speed, compile time) is measured by the release
command itself, both sides in lockstep (:mod:`ragperf.jobs.release`). Every part reuses the code of the
command that owns it:

* ``recompile``: the recompile scenarios of :mod:`ragperf.compile.scenarios` (``run_case``, as
  ``ragperf expected`` and ``tests/recompile`` run them), embedder scenarios on the chosen embedder;
* ``parity``: :func:`ragperf.numerics.parity.embedder_parity` / ``decode_parity`` with the tolerance
  ``ragperf parity`` looks up, per ladder variant and decode mode, in fp32 and in the emulated BF16
  fastmath lane (the same numerics on any CPU);
* ``memory``: each case's compiled/eager steady peak (:mod:`ragperf.perf.memory`, a fresh process per arm);
* ``versions``: the hardware and software :func:`~ragperf.perf.machine.fingerprint`.
"""

from __future__ import annotations

import argparse
import math
import sys

from ragperf.schemas.release_side import KIND

SCHEMA = f"{KIND.schema}/{KIND.newest}"  # its fields: ragperf.schemas.release_side
READABLE = (SCHEMA, *KIND.aliases)  # and a side saved before parity lanes and memory were measured
PARITY_VARIANTS = ("compile", "compile+freeze", "compile+freeze+inference_mode")
PARITY_MODES = ("compile-decode", "compile-prefill-decode")
LANES = ("off", "emulated")  # fp32, and BF16 fastmath emulated (real BF16 is a property of the CPU, not the release)
MEMORY_VARIANTS = ("compile+freeze",)  # freezing is what changes a compiled model's footprint
PARTS = ("recompile", "parity", "memory")
QUICK = {"parity_variants": ("compile",), "parity_modes": ("compile-decode",), "lanes": ("off",),
         "memory_variants": ()}
FULL = {"parity_variants": PARITY_VARIANTS, "parity_modes": PARITY_MODES, "lanes": LANES,
        "memory_variants": MEMORY_VARIANTS}


def say(line: str) -> None:
    print(f"[ragperf]   {line}", file=sys.stderr, flush=True)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def recompile_rows(embedder_name: str, decoder_name: str, backend: str) -> list[dict]:
    """Every (scenario, strategy) row of the expected tables, measured here; skipped strategies say why."""
    from ragperf.compile.scenarios import cases, load_model, run_case, scenario
    from ragperf.compile.strategies import STRATEGIES

    models: dict = {}
    rows = []
    for name, strategy_name in cases():
        table_model = scenario(name).model  # tiny-bert / tiny-llama in the tables; a release runs the chosen ones
        model = embedder_name if table_model == "tiny-bert" else decoder_name
        key = f"{model} / {name} / {strategy_name} / {backend}"
        missing = STRATEGIES[strategy_name].missing()
        if missing:
            rows.append({"key": key, "skipped": missing})
            continue
        if table_model not in models:
            models[table_model] = load_model(model, scenario(name).kind)
        say(f"recompile {key}")
        report = run_case(name, strategy_name, backend, models).report
        rows.append({"key": key, "counts": report.counts(), "error": report.error,
                     "reasons": [f"[{r.kind}] {r.reason}" for r in report.recompile_list]})
    return rows


def parity_rows(embedder_name: str, decoder_name: str, variants, modes, backend: str, lanes=("off",),
                new_tokens: int = 8) -> list[dict]:
    """RMSE vs fp64 of each ladder variant and decode mode in each fastmath lane, and the verdict."""
    import torch

    from ragperf.models.decoders import load_decoder, random_prompts
    from ragperf.models.embedders import load_embedder
    from ragperf.numerics import parity
    from ragperf.numerics.tolerances import find_pyproject, lookup

    rows = []
    embedder = load_embedder(embedder_name)
    decoder = load_decoder(decoder_name)
    for lane in lanes:
        tolerance = lookup("cpu", torch.float32, lane, pyproject=find_pyproject())
        suffix = "" if lane == "off" else f" / {lane} bf16"
        for variant in variants:
            say(f"parity {embedder_name} {variant}{suffix}")
            verdict = parity.embedder_parity(embedder, variant, lane, tolerance, backend=backend)
            rows.append({"key": f"{embedder_name} / {variant}{suffix}", "rmse": _finite(verdict.rmse_compiled),
                         "rmse_eager": _finite(verdict.rmse_eager), "verdict": "pass" if verdict.passed else "fail",
                         "status": verdict.status})
        for mode in modes:
            say(f"parity {decoder_name} {mode}{suffix}")
            result = parity.decode_parity(decoder, mode, lane, tolerance, random_prompts(decoder, 2, 8), new_tokens,
                                          backend=backend)
            worst = max(result.steps, key=lambda v: v.rmse_compiled if math.isfinite(v.rmse_compiled) else -1.0)
            rows.append({"key": f"{decoder_name} / {mode}{suffix}", "rmse": _finite(worst.rmse_compiled),
                         "rmse_eager": _finite(worst.rmse_eager), "verdict": "pass" if result.passed else "fail",
                         "status": "tokens equal" if result.first_mismatch is None
                         else f"tokens differ at step {result.first_mismatch}"})
    return rows


def memory_rows(embedder_name: str, variants, backend: str, processes: int = 2) -> list[dict]:
    """Compiled/eager steady peak of each ladder variant, each arm in its own fresh process, ``processes`` times."""
    from ragperf.perf import memory
    from ragperf.perf.cases import Case

    rows = []
    for variant in variants:
        case = Case("embed", embedder_name, variant, backend=backend)
        say(f"memory {case.prefix} ({processes} x 2 processes)")
        figures = memory.measure(case, processes)
        ratios = [1 / r["compression_ratio"] for r in figures["processes"]]
        rows.append({"key": f"{case.prefix}/memory_ratio", "ratios": ratios,
                     "peak_bytes": [r["peak_bytes"] for r in figures["processes"]]})
    return rows


def versions() -> dict:
    """The fingerprint (hardware key and software versions) and which ragperf this side ran."""
    import ragperf
    from ragperf.perf.machine import fingerprint

    return {**fingerprint(), "ragperf": ragperf.__file__, "python_executable": sys.executable}


def measure(embedder: str = "minilm", decoder: str = "tiny-llama", *, quick: bool = False,
            backend: str = "inductor", scenario_backend: str = "eager", parts: tuple[str, ...] = PARTS) -> dict:
    """One side: a JSON-ready dict of schema :data:`SCHEMA` (see the module docstring)."""
    from ragperf import knobs

    knobs.quiet_libraries()
    chosen = QUICK if quick else FULL
    side = {"schema": SCHEMA, "settings": {"embedder": embedder, "decoder": decoder, "quick": quick,
                                           "backend": backend, "scenario_backend": scenario_backend,
                                           "parts": list(parts)},
            "versions": versions(), "recompile": [], "parity": [], "memory": []}
    if "recompile" in parts:
        side["recompile"] = recompile_rows(embedder, decoder, scenario_backend)
    if "parity" in parts:
        side["parity"] = parity_rows(embedder, decoder, chosen["parity_variants"], chosen["parity_modes"], backend,
                                     chosen["lanes"])
    if "memory" in parts:
        side["memory"] = memory_rows(embedder, chosen["memory_variants"], backend)
    return side


def args_for(embedder: str, decoder: str, *, quick: bool, backend: str, scenario_backend: str,
             parts: tuple[str, ...]) -> list[str]:
    """The command line of job ``release-side`` for these settings (what ``ragperf release`` starts per side)."""
    return ["--embedder", embedder, "--decoder", decoder, "--backend", backend,
            "--scenario-backend", scenario_backend, "--parts", ",".join(parts)] + (["--quick"] if quick else [])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ragperf import argtypes, jobargs

    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--decoder", default="tiny-llama")
    parser.add_argument("--quick", action="store_true")
    jobargs.add(parser, backend="inductor")
    parser.add_argument("--scenario-backend", default="eager", choices=argtypes.BACKENDS)
    parser.add_argument("--parts", default=",".join(PARTS))


def job(args: argparse.Namespace) -> dict:
    return measure(args.embedder, args.decoder, quick=args.quick, backend=args.backend,
                   scenario_backend=args.scenario_backend, parts=tuple(args.parts.split(",")))
