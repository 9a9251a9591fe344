"""Peak memory, gated: eager's peak over the compiled candidate's, the ratio PyTorch's dashboard calls the
*compression ratio* (higher is better; a compiled path that needs 10% more memory lowers it ~9%).

Each arm runs in its own fresh process (job ``memory``: ``python -m ragperf.jobs memory ... --arm eager|compiled``):
the model is loaded, the arm built and called until it compiles nothing more (see
:func:`ragperf.perf.timing.warm_up`), then - after ``gc.collect()`` and glibc's ``malloc_trim(0)``,
so compile-time garbage the allocator kept does not count - the peak is reset and ``calls`` more
calls are made:

* CPU: the process's resident high-water mark (``VmHWM`` in ``/proc/self/status``), reset by
  writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0; without it, ``ru_maxrss`` since start);
* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.

So a peak is the arm's steady footprint: weights, compiled artifacts (frozen weight copies) and the
largest call's transient memory. ``plant_mb`` makes the compiled arm allocate and touch that many
extra MiB per call - a planted memory regression.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import resource
import statistics

from ragperf import argtypes
from ragperf.perf.gate import Measurement

STATUS = "/proc/self/status"
PLANT_MB = argtypes.Amount(65_536.0, zero="0 plants none", unit="MiB")


def _hwm_bytes() -> int:
    try:
        for line in open(STATUS):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def reset_peak(device=None) -> None:
    """Forget this process's peak so far (after returning freed heap to the OS)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the kept heap stays counted
    if device is not None and device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_bytes(device=None) -> int:
    if device is not None and device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device))
    return _hwm_bytes()


def planted(fn, mib: float):
    """``fn`` that also allocates and touches ``mib`` MiB per call (kept until the call returns)."""
    if mib <= 0:
        return fn
    import torch

    def heavier():
        ballast = torch.ones(int(mib * 2**20) // 4)  # ones(): every page written, so resident
        out = fn()
        del ballast
        return out

    return heavier


def arm_peak(case, arm: str, *, calls: int = 5, plant_mb: float = 0.0) -> dict:
    """This process's steady peak for one arm of ``case`` (see the module docstring)."""
    import torch

    from ragperf.perf.timing import warm_up

    device = torch.device(case.device)
    eager, candidate = case.callables()
    fn = eager if arm == "eager" else planted(candidate, plant_mb)
    del eager, candidate
    warm_up({arm: fn})
    reset_peak(device)
    for _ in range(calls):
        fn()
    return {"arm": arm, "peak_bytes": peak_bytes(device), "pid": os.getpid()}


def measure(case, processes: int, plant_mb: float = 0.0) -> dict:
    """Eager and compiled peaks, each in its own fresh process, ``processes`` times."""
    from ragperf.subproc import run_job

    runs = []
    for _ in range(processes):
        peaks = {arm: run_job("memory", [*case.args(), "--arm", arm, "--plant-mb", str(plant_mb)])
                 for arm in ("eager", "compiled")}
        runs.append({"eager_peak_bytes": peaks["eager"]["peak_bytes"],
                     "peak_bytes": peaks["compiled"]["peak_bytes"],
                     "compression_ratio": peaks["eager"]["peak_bytes"] / peaks["compiled"]["peak_bytes"]})
    return {"case": case.prefix, "plant_mb": plant_mb, "processes": runs}


def measurements(prefix: str, figures: dict) -> dict[str, Measurement]:
    """``{prefix}/memory_ratio`` (kind ``memory``: gated on the compiled peak's increase, i.e. the
    ratio's drop) and the compiled peak in bytes (report-only figure in ``processes``)."""
    from ragperf.perf.processes import se_of_median, spread

    # stored as compiled/eager so that "higher is worse", like seconds; shown by the summary as such
    values = [1 / r["compression_ratio"] for r in figures["processes"]]
    name = f"{prefix}/memory_ratio"
    return {name: Measurement(name, "memory", statistics.median(values), se_of_median(spread(values), len(values)),
                              processes=values)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ragperf.perf.cases import add_case_arguments

    add_case_arguments(parser)
    parser.add_argument("--arm", choices=("eager", "compiled"), required=True)
    parser.add_argument("--plant-mb", type=PLANT_MB, default=0.0,
                        help=f"extra MiB the compiled arm allocates per call (a planted regression; {PLANT_MB.bounds})")


def job(args: argparse.Namespace) -> dict:
    from ragperf.perf.cases import case_from_args

    return arm_peak(case_from_args(args), args.arm, plant_mb=args.plant_mb)
