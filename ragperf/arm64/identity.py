"""The CPU the lane pretends to be: a Graviton3 (Neoverse-V1), as torch and oneDNN see it.

Under QEMU user-mode the guest reads the *host's* /proc/cpuinfo and /sys: torch then mis-detects
the CPU or crashes while loading ``torch._C``, and xbyak cannot read MIDR_EL1. The lane masks both
with the files written here (from ``neoverse_v1.json``) and pairs them with a QEMU CPU model whose
hwcaps match: 256-bit SVE, BF16, no SME.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cache
from pathlib import Path

IDENTITY_FILE = Path(__file__).with_name("neoverse_v1.json")
EMULATED_ENV = "RAGPERF_EMULATED"          # "qemu" inside the lane; unset elsewhere
EMULATED_CPU_ENV = "RAGPERF_EMULATED_CPU"  # the emulated core's name, e.g. "Neoverse-V1"
QEMU_CPU_ENV = "RAGPERF_ARM64_QEMU_CPU"    # overrides the QEMU CPU model (e.g. "neoverse-v1" on QEMU >= 10)


@cache
def identity() -> dict:
    return json.loads(IDENTITY_FILE.read_text())


def qemu_cpu() -> str:
    return os.environ.get(QEMU_CPU_ENV) or identity()["qemu_cpu"]


def emulation_label(environ=os.environ) -> str | None:
    """``"aarch64 Neoverse-V1 (emulated)"`` inside the lane, ``None`` on real hardware.

    The machine fingerprint uses this so lane timings can never pass for a Graviton's.
    """
    if not environ.get(EMULATED_ENV):
        return None
    return f"aarch64 {environ.get(EMULATED_CPU_ENV) or 'unknown core'} (emulated)"


def midr(ident: dict | None = None) -> int:
    ident = ident or identity()
    return ((int(ident["implementer"], 16) << 24) | (int(ident["variant"], 16) << 20) | (0xF << 16)
            | (int(ident["part"], 16) << 4) | ident["revision"])


def cpuinfo_text(ncpu: int, ident: dict | None = None) -> str:
    """/proc/cpuinfo as an arm64 Linux kernel prints it for ``ncpu`` cores of this identity."""
    ident = ident or identity()
    block = ("processor\t: {i}\nBogoMIPS\t: {bogomips}\nFeatures\t: {features}\nCPU implementer\t: {implementer}\n"
             "CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n\n")
    return "".join(block.format(i=i, **ident) for i in range(ncpu))


def write_sysfs(root: Path, ncpu: int, ident: dict | None = None) -> Path:
    """Write ``root/devices/system/cpu`` (online/possible masks, MIDR, topology, caches); returns ``root``."""
    ident = ident or identity()
    cpu_dir = root / "devices" / "system" / "cpu"
    if root.exists():
        shutil.rmtree(root)
    every = f"0-{ncpu - 1}"
    files = {"online": every, "possible": every, "present": every, "offline": "", "kernel_max": "255"}
    for i in range(ncpu):
        c = f"cpu{i}/"
        files |= {c + "online": "1",
                  c + "regs/identification/midr_el1": f"0x{midr(ident):016x}",
                  c + "regs/identification/revidr_el1": f"0x{0:016x}",
                  c + "topology/physical_package_id": "0", c + "topology/core_id": str(i),
                  c + "topology/core_cpus_list": str(i), c + "topology/thread_siblings_list": str(i),
                  c + "topology/core_siblings_list": every, c + "topology/package_cpus_list": every}
        for index, cache_ in enumerate(ident["caches"]):
            d = f"{c}cache/index{index}/"
            files |= {d + "level": str(cache_["level"]), d + "type": cache_["type"], d + "size": cache_["size"],
                      d + "coherency_line_size": "64", d + "ways_of_associativity": str(cache_["ways"]),
                      d + "number_of_sets": str(cache_["sets"]),
                      d + "shared_cpu_list": str(i) if cache_["shared"] == "self" else every}
    for rel, text in files.items():
        path = cpu_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def write_identity(out: Path, ncpu: int) -> tuple[Path, Path]:
    """Fake ``cpuinfo`` file and ``sys`` tree under ``out`` for ``ncpu`` cores: (cpuinfo, sys root)."""
    out.mkdir(parents=True, exist_ok=True)
    cpuinfo = out / "cpuinfo"
    cpuinfo.write_text(cpuinfo_text(ncpu))
    return cpuinfo, write_sysfs(out / "sys", ncpu)
