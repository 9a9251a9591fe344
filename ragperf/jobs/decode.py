"""Decoding as the overhead paper's Table 1, for one compile mode (one mode per process).

Job ``decode`` (``python -m ragperf.jobs decode --model tiny-llama --variant compile-decode --batch-sizes 1,8``)
prints one JSON line. For every batch size the compiler starts from scratch (``torch.compiler.reset()``
and a fresh, empty Inductor cache dir), then:

- a *cold* generation: compile cost lands where it lands - in the prefill for
  ``compile-prefill-decode``, in the first decode token (and the recompiles of the next few
  steps) for both compiled modes;
- a *warm* generation with the same compiled model: the steady state.

Per-token decode is the median warm step. The fixed cost of a mode is what its cold run takes
beyond ``steps x per-token``; the break-even point is where eager's and the mode's cumulative
time lines cross: ``(fixed(mode) - fixed(eager)) / (per_token(eager) - per_token(mode))`` tokens.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from ragperf import jobargs
from ragperf.subproc import child_progress

PHASES = ("prefill_s", "first_decode_s", "rest_decode_s", "per_token_s", "total_s")


def measure_mode(decoder_spec: str, mode: str, batch_sizes: list[int], *, prompt_len: int = 32,
                 new_tokens: int = 64, backend: str = "inductor", dynamic: bool | None = None,
                 cache: str = "dynamic", device: str = "cpu", dtype: str = "float32", progress=None) -> dict:
    """Cold then warm generation for each batch size, fresh compiler state for each; see the module doc."""
    import torch
    from torch._inductor.utils import fresh_inductor_cache

    from ragperf.compile.cudagraphs import CudaGraphWatch
    from ragperf.compile.probe import CompileProbe
    from ragperf.models import decode_modes
    from ragperf.models.decoders import load_decoder, random_prompts
    from ragperf.models.generation import build_generator
    from ragperf.perf import roofline

    decoder = load_decoder(decoder_spec, device=device, dtype=getattr(torch, dtype))
    peak = roofline.peak_bandwidth(torch.cuda.get_device_name(device)) if device == "cuda" else None
    copy_bw = roofline.measured_copy_bandwidth(torch.device(device)) if device == "cuda" else None
    warmup_s = warm_toolchain(backend, device) if decode_modes.mode(mode).compiles else 0.0
    rows = []
    for batch_size in batch_sizes:
        prompt = random_prompts(decoder, batch_size, prompt_len, seed=batch_size)
        torch.compiler.reset()
        with fresh_inductor_cache(), CompileProbe() as probe:
            generator = build_generator(decoder, mode, dynamic=dynamic, cache=cache, backend=backend)
            child_progress(progress, f"{decoder_spec} {mode} bs={batch_size}: cold generation "
                           f"({prompt_len}-token prompt, {new_tokens} new tokens, compile included)")
            cold = generator.generate(prompt, new_tokens)
            child_progress(progress, f"{decoder_spec} {mode} bs={batch_size}: warm generation (steady state)")
            with CudaGraphWatch() as warm_graphs:  # a warm run only replays: any recording is a re-record
                warm = generator.generate(prompt, new_tokens)
        graphs = probe.report.cudagraphs
        row = phase_row(batch_size, cold, warm, tokens=cold.tokens.tolist(),
                        tokens_equal=bool(torch.equal(cold.tokens, warm.tokens)),
                        graphs=probe.report.graphs, dynamo_s=probe.report.dynamo_s,
                        inductor_s=probe.report.inductor_s,
                        recompile_reasons=[r.reason for r in probe.report.recompile_list],
                        cudagraph_recordings=graphs.recordings, cudagraph_skip_reasons=graphs.skip_reasons,
                        cudagraph_pool_bytes=graphs.pool_bytes,
                        warm_cudagraph_recordings=warm_graphs.report.recordings + warm_graphs.report.skips)
        row["tokens_per_s"] = batch_size / row["per_token_s"] if row["per_token_s"] else None
        if peak or copy_bw:  # batch 1 decode is bandwidth-bound: bytes read per token over time
            line = roofline.decode_roofline(decoder, batch_size, prompt_len, new_tokens, row["per_token_s"],
                                            peak or copy_bw)
            row["roofline_fraction"] = line.fraction if peak else None
            row["copy_fraction"] = line.achieved_bytes_per_s / copy_bw if copy_bw else None
        rows.append(row)
    return {"decoder": decoder_spec, "mode": mode, "dtype": dtype, "backend": backend, "dynamic": dynamic, "cache": cache,
            "prompt_len": prompt_len, "new_tokens": new_tokens, "device": device,
            "peak_bytes_per_s": peak, "copy_bytes_per_s": copy_bw,
            "dummy_weights": decoder.dummy, "toolchain_warmup_s": warmup_s, "rows": rows}


def warm_toolchain(backend: str, device: str) -> float:
    """Compile a two-op function once, in a throwaway cache dir; returns the seconds it took.

    The first compile in a process also pays one-time costs (lazy imports, compiler and ISA
    probes: tens of seconds here) that would otherwise land on whichever batch size runs first.
    They are reported on their own, so every batch size's compile cost is measured alike.
    """
    import torch
    from torch._inductor.utils import fresh_inductor_cache

    start = time.perf_counter()
    with fresh_inductor_cache():
        torch.compile(lambda x: torch.nn.functional.gelu(x @ x), backend=backend)(torch.ones(8, 8, device=device))
    torch.compiler.reset()
    return time.perf_counter() - start


def phase_row(batch_size: int, cold, warm, **extra) -> dict:
    """Table 1's columns from a cold and a warm :class:`~ragperf.models.generation.Generation`."""
    per_token = statistics.median(warm.step_s) if warm.step_s else 0.0
    steps = len(cold.step_s)
    return {"batch_size": batch_size, "prefill_s": cold.prefill_s, "first_decode_s": cold.first_decode_s,
            "rest_decode_s": cold.rest_decode_s, "per_token_s": per_token, "total_s": cold.total_s,
            "warm_prefill_s": warm.prefill_s, "warm_total_s": warm.total_s,
            "fixed_s": cold.total_s - steps * per_token, "step_s": list(cold.step_s), **extra}


def break_even_tokens(eager_row: dict, mode_row: dict) -> float | None:
    """Decode tokens after which ``mode`` has caught up with eager in total time; None if it never does.

    0 means the mode is ahead from the first token (its fixed cost is no higher than eager's).
    """
    extra_fixed = mode_row["fixed_s"] - eager_row["fixed_s"]
    saving = eager_row["per_token_s"] - mode_row["per_token_s"]
    if extra_fixed <= 0:
        return 0.0 if saving >= 0 else None
    if saving <= 0:
        return None
    return extra_fixed / saving


def cumulative_seconds(row: dict) -> list[float]:
    """Wall time after the prefill and after each decode token of the cold run: the paper's Figures 9-10."""
    total, out = row["prefill_s"], [row["prefill_s"]]
    for step in row["step_s"]:
        total += step
        out.append(total)
    return out


def format_tokens(tokens: float | None) -> str:
    if tokens is None:
        return "never"
    return "0" if tokens == 0 else f"{math.ceil(tokens)}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ragperf.models.generation import CACHE_KINDS

    jobargs.add(parser, model="tiny-llama", variant=jobargs.REQUIRED, backend="inductor", device="cpu",
                dtype="float32", new_tokens=64, prompt_len=32, progress=False)
    parser.add_argument("--batch-sizes", type=_batch_sizes, default=(1,), metavar="1,8,32",
                        help="distinct batch sizes, each run from a fresh compiler; default 1")
    parser.add_argument("--dynamic", choices=("none", "true", "false"), default="none", help="torch.compile(dynamic=)")
    parser.add_argument("--cache", choices=CACHE_KINDS, default="dynamic", help="KV cache kind; default %(default)s")


def _batch_sizes(text: str) -> tuple[int, ...]:
    from ragperf.argtypes import Bad
    from ragperf.coldstart.sizes import parse_sizes
    from ragperf.errors import RagperfError

    try:
        return parse_sizes(text, "batch sizes")
    except RagperfError as exc:
        raise Bad(str(exc)) from None


def job(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    result = measure_mode(args.model, args.variant, list(args.batch_sizes), prompt_len=args.prompt_len,
                          new_tokens=args.new_tokens, backend=args.backend,
                          dynamic={"none": None, "true": True, "false": False}[args.dynamic],
                          cache=args.cache, device=args.device, dtype=args.dtype, progress=args.progress)
    result["job_s"] = time.perf_counter() - start
    return result
