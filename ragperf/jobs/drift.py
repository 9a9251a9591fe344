"""The measurement set of ``ragperf drift``: one environment's compile behaviour, numerics, speed and versions.

Job ``drift`` (``python -m ragperf.jobs drift --embedder minilm --decoder tiny-llama``) runs it on the interpreter it is
started with and prints one JSON object (a *side*, schema :data:`SCHEMA`) as its last stdout line.
Every part reuses the code of the command that owns it:

* ``recompile``: the recompile scenarios of :mod:`ragperf.compile.scenarios` (``run_case``, as
  ``ragperf expected`` and ``tests/recompile`` run them), embedder scenarios on the chosen embedder;
* ``parity``: :func:`ragperf.numerics.parity.embedder_parity` / ``decode_parity`` with the tolerance
  ``ragperf parity`` looks up, per ladder variant and decode mode;
* ``speed``: the gated perf :class:`~ragperf.perf.cases.Case` s, each in its own fresh process, with few
  rounds; ``compile_time``: :func:`ragperf.jobs.compile_cost.measure_first_call` from an empty Inductor cache;
* ``versions``: the hardware and software :func:`~ragperf.perf.machine.fingerprint`.
"""

from __future__ import annotations

import argparse
import math
import sys

from ragperf import argtypes, jobargs

SCHEMA = "ragperf-drift-side/1"
PARITY_VARIANTS = ("compile", "compile+freeze", "compile+freeze+inference_mode")
PARITY_MODES = ("compile-decode", "compile-prefill-decode")
QUICK = {"parity_variants": ("compile",), "parity_modes": ("compile-decode",), "speed_variants": ("compile",)}
DEFAULT_ROUNDS = 12


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
        table_model = scenario(name).model  # tiny-bert / tiny-llama in the tables; drift runs the chosen ones
        model = embedder_name if table_model == "tiny-bert" else decoder_name
        key = f"{model} / {name} / {strategy_name} / {backend}"
        missing = STRATEGIES[strategy_name].missing()
        if missing:
            rows.append({"key": key, "skipped": missing})
            continue
        if table_model not in models:
            models[table_model] = load_model(model)
        say(f"recompile {key}")
        report = run_case(name, strategy_name, backend, models).report
        rows.append({"key": key, "counts": report.counts(), "error": report.error,
                     "reasons": [f"[{r.kind}] {r.reason}" for r in report.recompile_list]})
    return rows


def parity_rows(embedder_name: str, decoder_name: str, variants, modes, backend: str, new_tokens: int = 8) -> list[dict]:
    """RMSE vs fp64 of each ladder variant and decode mode (fp32 lane) and the verdict."""
    import torch

    from ragperf.models.decoders import load_decoder, random_prompts
    from ragperf.models.embedders import load_embedder
    from ragperf.numerics import parity
    from ragperf.numerics.tolerances import find_pyproject, lookup

    tolerance = lookup("cpu", torch.float32, "off", pyproject=find_pyproject())
    rows = []
    embedder = load_embedder(embedder_name)
    for variant in variants:
        say(f"parity {embedder_name} {variant}")
        verdict = parity.embedder_parity(embedder, variant, "off", tolerance, backend=backend)
        rows.append({"key": f"{embedder_name} / {variant}", "rmse": _finite(verdict.rmse_compiled),
                     "rmse_eager": _finite(verdict.rmse_eager), "verdict": "pass" if verdict.passed else "fail",
                     "status": verdict.status})
    decoder = load_decoder(decoder_name)
    for mode in modes:
        say(f"parity {decoder_name} {mode}")
        result = parity.decode_parity(decoder, mode, "off", tolerance, random_prompts(decoder, 2, 8), new_tokens,
                                      backend=backend)
        worst = max(result.steps, key=lambda v: v.rmse_compiled if math.isfinite(v.rmse_compiled) else -1.0)
        rows.append({"key": f"{decoder_name} / {mode}", "rmse": _finite(worst.rmse_compiled),
                     "rmse_eager": _finite(worst.rmse_eager), "verdict": "pass" if result.passed else "fail",
                     "status": "tokens equal" if result.first_mismatch is None
                     else f"tokens differ at step {result.first_mismatch}"})
    return rows


def speed_rows(embedder_name: str, decoder_name: str, variants, rounds: int, backend: str) -> list[dict]:
    """Each gated speedup (the default perf cases on the chosen models) with its CI, from a fresh process."""
    from ragperf.perf.cases import DEFAULT_CASES, Case

    rows = []
    for base in DEFAULT_CASES:
        if base.kind == "embed" and base.variant not in variants:
            continue
        model = embedder_name if base.kind == "embed" else decoder_name
        case = Case(base.kind, model, base.variant, rounds=rounds, backend=backend)
        say(f"speed {case.prefix} ({rounds} rounds)")
        figures = case.measure_fresh()
        rows.append({"key": case.prefix, "speedup": figures["speedup"], "low": figures["speedup_low"],
                     "high": figures["speedup_high"], "median_s": figures["median_s"],
                     "eager_median_s": figures["eager_median_s"], "first_call_s": figures["first_call_s"],
                     "rounds": figures["rounds"]})
    return rows


def compile_time(embedder_name: str, backend: str) -> dict:
    """Dynamo and Inductor seconds of the embedder's first compiled call, from an empty Inductor cache."""
    from ragperf.perf.compile_time import empty_cache
    from ragperf.subproc import run_job

    say(f"compile time {embedder_name} (empty Inductor cache)")
    with empty_cache() as cache:
        got = run_job("compile-cost", ["--model", embedder_name, "--backend", backend],
                      env={"TORCHINDUCTOR_CACHE_DIR": cache})
    return {"key": f"{embedder_name} / compile", "dynamo_s": got["dynamo_s"], "inductor_s": got["inductor_s"],
            "first_call_s": got["first_call_s"]}


def versions() -> dict:
    """The fingerprint (hardware key and software versions) and which ragperf this side ran."""
    import ragperf
    from ragperf.perf.machine import fingerprint

    return {**fingerprint(), "ragperf": ragperf.__file__, "python_executable": sys.executable}


def measure(embedder: str = "minilm", decoder: str = "tiny-llama", *, quick: bool = False,
            rounds: int = DEFAULT_ROUNDS, backend: str = "inductor", scenario_backend: str = "eager",
            parts: tuple[str, ...] = ("recompile", "parity", "speed")) -> dict:
    """One side: a JSON-ready dict of schema :data:`SCHEMA` (see the module docstring)."""
    from ragperf import knobs

    knobs.quiet_libraries()
    chosen = QUICK if quick else {"parity_variants": PARITY_VARIANTS, "parity_modes": PARITY_MODES,
                                  "speed_variants": PARITY_VARIANTS}
    side = {"schema": SCHEMA, "settings": {"embedder": embedder, "decoder": decoder, "quick": quick, "rounds": rounds,
                                           "backend": backend, "scenario_backend": scenario_backend,
                                           "parts": list(parts)},
            "versions": versions(), "recompile": [], "parity": [], "speed": [], "compile_time": []}
    if "recompile" in parts:
        side["recompile"] = recompile_rows(embedder, decoder, scenario_backend)
    if "parity" in parts:
        side["parity"] = parity_rows(embedder, decoder, chosen["parity_variants"], chosen["parity_modes"], backend)
    if "speed" in parts:
        side["speed"] = speed_rows(embedder, decoder, chosen["speed_variants"], rounds, backend)
        side["compile_time"] = [compile_time(embedder, backend)]
    return side


def args_for(embedder: str, decoder: str, *, quick: bool, rounds: int, backend: str, scenario_backend: str,
             parts: tuple[str, ...]) -> list[str]:
    """The command line of :func:`main` for these settings (what ``ragperf drift`` starts per side)."""
    return ["--embedder", embedder, "--decoder", decoder, "--rounds", str(rounds), "--backend", backend,
            "--scenario-backend", scenario_backend, "--parts", ",".join(parts)] + (["--quick"] if quick else [])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--decoder", default="tiny-llama")
    parser.add_argument("--quick", action="store_true")
    jobargs.add(parser, rounds=DEFAULT_ROUNDS, backend="inductor")
    parser.add_argument("--scenario-backend", default="eager", choices=argtypes.BACKENDS)
    parser.add_argument("--parts", default="recompile,parity,speed")


def job(args: argparse.Namespace) -> dict:
    return measure(args.embedder, args.decoder, quick=args.quick, rounds=args.rounds, backend=args.backend,
                   scenario_backend=args.scenario_backend, parts=tuple(args.parts.split(",")))
