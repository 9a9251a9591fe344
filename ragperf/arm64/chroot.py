"""Running a command inside the lane: a private mount namespace, a masked CPU identity, a clean env.

``unshare -m`` gives the run its own mount table, so the mounts below vanish when it exits and
nothing leaks into the host's: a fresh /proc with the fake cpuinfo bound over /proc/cpuinfo, the
fake /sys, the host's /dev, and the working tree at ``/src``. ``env -i`` keeps the host's
environment out - its pip settings (find-links, constraints) name x86 wheels - and sets the QEMU
CPU model plus the variables that tell ragperf it runs emulated.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

from ragperf.arm64 import identity
from ragperf.arm64.layout import GUEST_SRC, GUEST_VENV, Layout

# Runs as root in the new namespace: $1 rootfs, $2 identity dir, $3 source tree, $4 "1" to mask the CPU;
# the rest is the command (env -i ... chroot ...).
MOUNT_SCRIPT = r"""set -e
R=$1 F=$2 S=$3 MASK=$4; shift 4
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
if [ "$MASK" = 1 ]; then
  mount --bind "$F/sys" "$R/sys"
  mount --bind "$F/cpuinfo" "$R/proc/cpuinfo"
else
  mount --rbind /sys "$R/sys"
fi
mkdir -p "$R/src"
mount --bind "$S" "$R/src"
exec "$@"
"""
PASS_THROUGH = ("TERM", "COLUMNS")


def guest_env(extra: Mapping[str, str] = (), host_env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The whole environment the guest starts with: nothing from the host but the terminal."""
    ident = identity.identity()
    env = {"HOME": "/root", "LANG": "C.UTF-8",
           "PATH": f"{GUEST_VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "QEMU_CPU": identity.qemu_cpu(),
           identity.EMULATED_ENV: "qemu", identity.EMULATED_CPU_ENV: ident["name"],
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_DEFAULT_TIMEOUT": "180",
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env |= {k: host_env[k] for k in PASS_THROUGH if k in host_env}
    env |= dict(extra)
    return env


def command(layout: Layout, argv: Sequence[str], *, env: Mapping[str, str] = (), cwd: str = GUEST_SRC,
            mask_cpu: bool = True) -> list[str]:
    """The host argv that runs ``argv`` in the chroot from ``cwd`` (a guest path)."""
    assignments = [f"{k}={v}" for k, v in guest_env(env).items()]
    inner = ["env", "-i", *assignments, "chroot", str(layout.rootfs), "/usr/bin/env", "-C", cwd, *argv]
    return ["unshare", "--mount", "--propagation", "private", "/bin/bash", "-c", MOUNT_SCRIPT, "ragperf-arm64",
            str(layout.rootfs), str(layout.identity), str(layout.source), "1" if mask_cpu else "0", *inner]


def run(layout: Layout, argv: Sequence[str], *, env: Mapping[str, str] = (), cwd: str = GUEST_SRC,
        mask_cpu: bool = True, check: bool = False, capture: bool = False) -> subprocess.CompletedProcess:
    if mask_cpu:
        identity.write_identity(layout.identity, os.cpu_count() or 1)
    return subprocess.run(command(layout, argv, env=env, cwd=cwd, mask_cpu=mask_cpu), check=check,
                          text=True, capture_output=capture)
