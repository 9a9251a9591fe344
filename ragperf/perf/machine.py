"""The machine a perf figure is measured on: its fingerprint, the key that baselines are filed under, the
software upgrade a gate judged, and its speed of the moment (a yardstick).

Two kinds of fingerprint fields:

* **hard** fields (:data:`KEY_FIELDS`) decide whether a stored baseline applies: architecture, CPU
  family and model, CPU count, torch threads, GPU, and the fastmath lane. A Graviton3 figure is
  never compared with an x86 one (pytest-benchmark's own ``machine_id`` cannot tell them apart).
* **soft** fields (library versions, latched env, kernel) are stored and shown beside a
  comparison but do not change the key: a torch or oneDNN upgrade on the same hardware is exactly
  what the gate exists to judge - :func:`upgrade_line` names that upgrade instead of leaving it implicit.

The yardstick (:func:`yardstick_seconds`) is a fixed CPU-bound workload of the kind a compile is made of -
Python source compiled to bytecode and run, string and dict churn, sorting - timed in the same process right
before the compile it measures. On a shared VM the seconds of one and the same compile move 10-20% between
processes minutes apart (docs/perf.md, "Compile time"), more than the 10% regression the compile-time gate
must see; PyTorch's own compile-time gate counts instructions, which such VMs do not expose. ``compile
seconds / yardstick seconds`` cancels the machine's speed of the moment, as an interleaved eager/compiled
ratio cancels load: a torch change that slows the compiler moves it, the machine drifting does not.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import time
from pathlib import Path

# Arm CPU parts (implementer 0x41, /proc/cpuinfo "CPU part") -> (core, the AWS chip that uses it).
ARM_PARTS = {
    "0xd0c": ("Neoverse-N1", "Graviton2"),
    "0xd40": ("Neoverse-V1", "Graviton3"),
    "0xd4f": ("Neoverse-V2", "Graviton4"),
    "0xd49": ("Neoverse-N2", ""),
    "0xd8e": ("Neoverse-N3", ""),
    "0xd84": ("Neoverse-V3", ""),
}
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "asimd", "sve", "sve2", "bf16", "i8mm")
KEY_FIELDS = ("arch", "cpu_family", "cpu_model", "cpu_count", "torch_threads", "gpu", "fastmath")
# fingerprint fields that name software, in the order they are printed
SOFTWARE = (("torch", "torch"), ("transformers", "transformers"), ("onednn", "oneDNN"), ("python", "Python"))


def parse_cpuinfo(text: str) -> dict:
    """CPU model, family and ISA flags from the text of ``/proc/cpuinfo`` (x86 or arm64)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() not in fields:
            fields[name.strip()] = value.strip()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    part = fields.get("CPU part", "").lower()
    if part:
        core, chip = ARM_PARTS.get(part, (f"arm-part-{part}", ""))
        family = f"{core} ({chip})" if chip else core
        model = fields.get("model name") or core
    else:
        model = fields.get("model name", platform.processor() or "unknown")
        family = f"x86 family {fields['cpu family']} model {fields.get('model', '?')}" if "cpu family" in fields \
            else "unknown"
    return {"cpu_model": model, "cpu_family": family, "cpu_part": part or None,
            "isa": sorted(flag for flag in ISA_FLAGS if flag in flags)}


def onednn_version(config_text: str) -> str | None:
    """oneDNN (MKL-DNN) version from ``torch.__config__.show()``."""
    match = re.search(r"(?:MKL-DNN|oneDNN)\s+v?([0-9][0-9.]*)", config_text)
    return match.group(1) if match else None


def _gpu() -> dict | None:
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    driver = None
    try:
        import subprocess

        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=10).stdout.split("\n")[0].strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"name": props.name, "count": torch.cuda.device_count(),
            "capability": f"{props.major}.{props.minor}", "memory_gib": round(props.total_memory / 2**30),
            "driver": driver, "cuda": torch.version.cuda}


def fastmath_lane() -> str:
    """``bf16`` when oneDNN's fp32 GEMMs may round to bf16 (env or in-process switch), else ``fp32``."""
    import torch

    env = (os.environ.get("DNNL_DEFAULT_FPMATH_MODE") or os.environ.get("ONEDNN_DEFAULT_FPMATH_MODE") or "").lower()
    matmul = getattr(getattr(torch.backends.mkldnn, "matmul", None), "fp32_precision", "none")
    return "bf16" if env in ("bf16", "any") or matmul == "bf16" else "fp32"


def fingerprint() -> dict:
    """Everything a perf figure depends on, as a JSON-ready dict with its baseline ``key``."""
    import torch
    import transformers

    from ragperf import knobs
    from ragperf.arm64.identity import emulation_label

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    cpu = parse_cpuinfo(cpuinfo)
    gpu = _gpu()
    fields = {
        "arch": platform.machine(),
        **cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "gpu": f"{gpu['count']}x {gpu['name']} sm{gpu['capability']}" if gpu else None,
        "gpu_detail": gpu,
        "fastmath": fastmath_lane(),
        "mkldnn_bf16": bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onednn": onednn_version(torch.__config__.show()),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "latched_env": {k: v for k, v in knobs.latched_settings().items() if v is not None},
        "kernel": platform.release(),
        "emulated": emulation_label(),  # e.g. "aarch64 Neoverse-V1 (emulated)" inside the QEMU lane
    }
    fields["key"] = key(fields)
    return fields


def key(fields: dict) -> str:
    """A stable, readable baseline key from the hard fields, e.g. ``x86_64-amd-epyc-2cpu-2t-fp32-3f9c1a2b``."""
    hard = {name: fields.get(name) for name in KEY_FIELDS}
    if fields.get("emulated"):  # only then: real machines keep the keys their baselines were stored under
        hard["emulated"] = fields["emulated"]
    digest = hashlib.sha256(repr(sorted(hard.items())).encode()).hexdigest()[:8]
    family = fields.get("cpu_family") or ""
    core = family.split(" (")[0] if not family.startswith("x86") else (fields.get("cpu_model") or "x86")
    slug = re.sub(r"[^a-z0-9]+", "-", core.lower()).strip("-")[:24]
    gpu = "-" + re.sub(r"[^a-z0-9]+", "-", fields["gpu"].lower()).strip("-")[:24] if fields.get("gpu") else ""
    return f"{fields.get('arch')}-{slug}-{fields.get('cpu_count')}cpu-{fields.get('torch_threads')}t-" \
           f"{fields.get('fastmath')}{gpu}-{digest}"


def describe(fields: dict) -> str:
    """Human-readable lines, one per field."""
    lines = []
    for name, value in fields.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = " ".join(value) or "-"
        lines.append(f"{name:16} {value if value is not None else '-'}")
    return "\n".join(lines)


def versions(fp: dict) -> str:
    """``torch 2.13.0+cpu, transformers 5.23.0, oneDNN 3.12.0, Python 3.11.7`` (unknown fields left out)."""
    return ", ".join(f"{label} {fp[name]}" for name, label in SOFTWARE if fp.get(name)) or "versions not recorded"


def upgrade_line(baseline_fp: dict, measured_fp: dict) -> str:
    """One line: the baseline's versions, this run's, and what changed between them (or that nothing did). The
    gate matches baselines by hardware only, so a run on a new torch is gated against the old torch's figures."""
    if not any(baseline_fp.get(name) for name, _ in SOFTWARE):
        return f"versions: baseline recorded without versions (published figures); this run {versions(measured_fp)}"
    changed = [f"{label} {baseline_fp.get(name) or '?'} -> {measured_fp.get(name) or '?'}"
               for name, label in SOFTWARE if baseline_fp.get(name) != measured_fp.get(name)]
    judged = f"upgrade judged: {', '.join(changed)}" if changed else "same versions: no software upgrade judged"
    return f"versions: baseline {versions(baseline_fp)}; this run {versions(measured_fp)} ({judged})"


def _yardstick_work(functions: int) -> int:
    source = "\n".join(f"def f{i}(x, y=({i}, 'f{i}')):\n    return [x * k for k in range(y[0] % 7)] + list(y)"
                       for i in range(functions))
    space: dict = {}
    exec(compile(source, "<yardstick>", "exec"), space)  # our own generated source
    total = sum(len(space[f"f{i}"](i)) for i in range(functions))
    table = {f"key-{i}": i for i in range(functions * 20)}
    return total + sum(sorted(table.values(), key=lambda v: -v)[:10])


def yardstick_seconds(repeats: int = 5, functions: int = 1000) -> float:
    """The fastest of ``repeats`` runs of the yardstick's fixed workload: this machine's speed right now, in
    seconds (the minimum, so that one descheduled run does not count; garbage collected before each run)."""
    import gc

    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        _yardstick_work(functions)
        best = min(best, time.perf_counter() - start)
    return best
