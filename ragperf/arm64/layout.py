"""Where the lane lives: a cache directory outside the git tree, built once, reused by every run.

::

    <cache>/rootfs/             arm64 Debian bookworm (debootstrap minbase + python3, g++)
    <cache>/rootfs/opt/venv/    aarch64 torch CPU wheel, transformers, pytest ...; ragperf editable from /src
    <cache>/identity/           fake /proc/cpuinfo and /sys for the emulated Graviton3 (rewritten per run)
    <cache>/stamps/<step>       one file per finished build step, holding what it was built from
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ragperf.errors import RagperfError

CACHE_ENV = "RAGPERF_ARM64_CACHE"
GUEST_SRC = "/src"        # the working tree, bind-mounted into the chroot on every run
GUEST_VENV = "/opt/venv"
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ragperf" / "arm64"


@dataclass(frozen=True)
class Layout:
    cache: Path
    source: Path = REPO_ROOT

    @classmethod
    def resolve(cls, cache: str | os.PathLike | None = None, source: Path = REPO_ROOT) -> Layout:
        """The cache dir from ``cache``, else ``$RAGPERF_ARM64_CACHE``, else ``~/.cache/ragperf/arm64``.

        Refuses a cache inside the source tree: the tree is bind-mounted into the chroot, which
        would then contain itself, and gigabytes of rootfs would sit next to the git index.
        """
        chosen = Path(cache or os.environ.get(CACHE_ENV) or default_cache_dir()).expanduser().resolve()
        source = source.resolve()
        if chosen == source or source in chosen.parents:
            raise RagperfError(f"the arm64 cache {chosen} is inside the source tree {source}: "
                               f"pass --cache or set {CACHE_ENV} to a directory outside it")
        return cls(chosen, source)

    @property
    def rootfs(self) -> Path:
        return self.cache / "rootfs"

    @property
    def identity(self) -> Path:
        return self.cache / "identity"

    @property
    def stamps(self) -> Path:
        return self.cache / "stamps"

    def stamp(self, step: str) -> Path:
        return self.stamps / step

    def done(self, step: str, key: str) -> bool:
        path = self.stamp(step)
        return path.is_file() and path.read_text() == key

    def mark_done(self, step: str, key: str) -> None:
        self.stamps.mkdir(parents=True, exist_ok=True)
        self.stamp(step).write_text(key)

    def guest(self, guest_path: str) -> Path:
        """The host path of ``guest_path`` inside the rootfs."""
        return self.rootfs / guest_path.lstrip("/")
