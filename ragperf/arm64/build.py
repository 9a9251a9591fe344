"""Building the lane once: host prerequisites, the arm64 rootfs, CA certificates, the venv, a smoke check.

Each step leaves a stamp holding what it was built from, so ``setup`` is idempotent and redoes
only what changed (a new requirements.txt reinstalls the venv, not the rootfs).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ragperf.arm64 import chroot, identity
from ragperf.arm64.layout import GUEST_SRC, GUEST_VENV, Layout
from ragperf.errors import RagperfError

SUITE = "bookworm"
GUEST_PACKAGES = ("python3", "python3-venv", "python3-pip", "python3-dev", "g++", "ca-certificates")
# debian-archive-keyring: debootstrap verifies bookworm's Release file with it; Ubuntu runners lack it.
HOST_PACKAGES = ("qemu-user-static", "binfmt-support", "debootstrap", "debian-archive-keyring")
HOST_TOOLS = {"debootstrap": "debootstrap", "qemu-aarch64-static": "qemu-user-static", "unshare": "util-linux",
              "chroot": "coreutils", "update-binfmts": "binfmt-support"}
HOST_FILES = {"/usr/share/keyrings/debian-archive-keyring.gpg": "debian-archive-keyring"}
BINFMT = Path("/proc/sys/fs/binfmt_misc")
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
HOOK = Path(__file__).with_name("guest_hook.py")
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
# What the smoke check prints and expects: the Graviton3 identity as torch sees it.
SMOKE = ("import torch; print(torch.__version__, torch.backends.cpu.get_cpu_capability(), "
         "torch.ops.mkldnn._is_mkldnn_bf16_supported())")
EXPECTED_CAPABILITY = "SVE256"


def log(message: str) -> None:
    print(f"[ragperf arm64] {message}", file=sys.stderr, flush=True)


def native() -> bool:
    return platform.machine() in ("aarch64", "arm64")


def check_host(install: bool) -> None:
    """Root, the tools, and binfmt_misc sending aarch64 ELF files to a static QEMU (F flag)."""
    if os.geteuid() != 0:
        raise RagperfError("the arm64 lane needs root (debootstrap, chroot, mount namespaces): "
                           "run `sudo ragperf arm64 ...` or build it in a root CI container")
    missing = missing_host_packages()
    if missing and install and shutil.which("apt-get"):
        log(f"installing host packages: {' '.join(HOST_PACKAGES)}")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-q"], env=env)
        _run(["apt-get", "install", "-y", "-q", *HOST_PACKAGES], env=env)
        missing = missing_host_packages()
    if missing:
        raise RagperfError(f"missing host packages {', '.join(missing)}: "
                           f"apt-get install {' '.join(HOST_PACKAGES)}")
    if not native():
        ensure_binfmt()


def missing_host_packages() -> list[str]:
    missing = {pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None}
    missing |= {pkg for path, pkg in HOST_FILES.items() if not Path(path).is_file()}
    return sorted(missing)


def ensure_binfmt() -> None:
    entry = BINFMT / "qemu-aarch64"
    if not (BINFMT / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    if not entry.exists() or "enabled" not in entry.read_text():
        _run(["update-binfmts", "--enable", "qemu-aarch64"])
    text = entry.read_text() if entry.exists() else ""
    flags = next((line.split()[1] for line in text.splitlines() if line.startswith("flags:") and " " in line), "")
    if "enabled" not in text or "F" not in flags:
        raise RagperfError(f"binfmt_misc does not run aarch64 binaries through a static QEMU ({entry}: "
                           f"{text.splitlines()[:2]}): reinstall qemu-user-static and binfmt-support")


def build_rootfs(layout: Layout, mirror: str | None) -> bool:
    key = f"{SUITE} {' '.join(GUEST_PACKAGES)}"
    if layout.done("rootfs", key) and layout.rootfs.is_dir():
        return False
    partial = layout.cache / "rootfs.partial"
    for stale in (partial, layout.rootfs):
        if stale.exists():
            shutil.rmtree(stale)
    layout.cache.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap arm64 {SUITE} into {layout.rootfs} (a few minutes)")
    argv = ["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={','.join(GUEST_PACKAGES)}",
            SUITE, str(partial)]
    _run(argv + ([mirror] if mirror else []))
    partial.rename(layout.rootfs)
    layout.mark_done("rootfs", key)
    return True


def copy_ca_certificates(layout: Layout) -> bool:
    """Trust what the host trusts: egress may be TLS-intercepted by a CA only the host knows."""
    certs = sorted(HOST_CA_DIR.glob("*.crt")) if HOST_CA_DIR.is_dir() else []
    key = "\n".join(hashlib.sha256(c.read_bytes()).hexdigest() for c in certs)
    if layout.done("certs", key):
        return False
    target = layout.guest(str(HOST_CA_DIR))
    target.mkdir(parents=True, exist_ok=True)
    for cert in certs:
        shutil.copy2(cert, target / cert.name)
    shutil.copy2("/etc/resolv.conf", layout.guest("/etc/resolv.conf"))
    _guest(layout, ["update-ca-certificates"], mask_cpu=False)
    layout.mark_done("certs", key)
    return True


def build_venv(layout: Layout) -> bool:
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + HOOK.read_bytes()).hexdigest()
    if layout.done("venv", key):
        return False
    venv = layout.guest(GUEST_VENV)
    if venv.exists():
        shutil.rmtree(venv)
    log(f"venv {GUEST_VENV} in the chroot: {', '.join(_requirement_names())} (several minutes under QEMU)")
    shutil.copy2(REQUIREMENTS, layout.guest("/opt/requirements.txt"))
    _guest(layout, ["python3", "-m", "venv", GUEST_VENV], mask_cpu=False)
    pip = [f"{GUEST_VENV}/bin/pip", "install", "--no-input"]
    _guest(layout, pip + ["-r", "/opt/requirements.txt"])
    # ragperf itself: editable from /src, so every run tests the working tree as it is now.
    _guest(layout, pip + ["--no-deps", "-e", GUEST_SRC])
    site = _guest_site_packages(layout)
    shutil.copy2(HOOK, site / "_ragperf_lane.py")
    (site / "_ragperf_lane.pth").write_text("import _ragperf_lane\n")
    layout.mark_done("venv", key)
    return True


def smoke_check(layout: Layout) -> str:
    """torch in the lane must see a Graviton3: SVE256 and oneDNN bf16; anything else is a broken lane."""
    result = chroot.run(layout, [f"{GUEST_VENV}/bin/python", "-c", SMOKE], capture=True)
    line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    fields = line.split()
    if result.returncode != 0 or len(fields) != 3 or fields[1] != EXPECTED_CAPABILITY or fields[2] != "True":
        raise RagperfError(f"the lane's torch does not see an emulated Graviton3 (want '{EXPECTED_CAPABILITY} "
                           f"True', got {line!r}, rc {result.returncode}): {result.stderr.strip()[-300:]}")
    layout.mark_done("smoke", line)
    return line


def setup(layout: Layout, *, mirror: str | None = None, install_host_packages: bool = True) -> str:
    """Build whatever is missing or stale (nothing, if the lane is current); returns the smoke line."""
    start = time.monotonic()
    check_host(install_host_packages)
    built = [build_rootfs(layout, mirror), copy_ca_certificates(layout), build_venv(layout)]
    if not any(built) and layout.stamp("smoke").is_file():
        return layout.stamp("smoke").read_text()
    line = smoke_check(layout)
    log(f"ready in {time.monotonic() - start:.0f} s: torch {line} under QEMU cpu {identity.qemu_cpu()}; "
        f"{disk_usage(layout)} in {layout.cache}")
    return line


def disk_usage(layout: Layout) -> str:
    if not layout.cache.exists():
        return "0"
    out = subprocess.run(["du", "-sh", "--one-file-system", str(layout.cache)], capture_output=True, text=True)
    return out.stdout.split()[0] if out.returncode == 0 else "?"


def _requirement_names() -> list[str]:
    lines = (line.strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _guest_site_packages(layout: Layout) -> Path:
    found = sorted(layout.guest(GUEST_VENV).glob("lib/python3*/site-packages"))
    if not found:
        raise RagperfError(f"no site-packages under {layout.guest(GUEST_VENV)}: rerun `ragperf arm64 setup`")
    return found[0]


def _guest(layout: Layout, argv: list[str], *, mask_cpu: bool = True) -> None:
    result = chroot.run(layout, argv, mask_cpu=mask_cpu, cwd="/")
    if result.returncode != 0:
        raise RagperfError(f"`{' '.join(argv)}` failed in the arm64 chroot (rc {result.returncode}); "
                           "see its output above, fix it, then rerun `ragperf arm64 setup`")


def _run(argv: list[str], env: dict | None = None) -> None:
    result = subprocess.run(argv, env=env)
    if result.returncode != 0:
        raise RagperfError(f"`{' '.join(argv)}` failed (rc {result.returncode}); see its output above")
