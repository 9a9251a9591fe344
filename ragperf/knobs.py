"""Runtime knobs: process-latched environment, threads, and library noise.

Variables in :data:`LATCHED_ENV` are read once by oneDNN, OpenMP or the c10 allocator when torch
starts; setting them later in the same process changes nothing. :func:`subprocess_env` builds the
environment for a child process that measures one such configuration. :data:`ENV_RULES` holds every variable
ragperf reads and what its value must be; :func:`check_environment` checks them all at start-up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ragperf.errors import RagperfError

# The Graviton RAG blog's runtime settings (DNNL_DEFAULT_FPMATH_MODE is the BF16 fastmath lane's).
GRAVITON_ENV = {
    "THP_MEM_ALLOC_ENABLE": "1",
    "LRU_CACHE_CAPACITY": "1024",
    "TORCH_MKLDNN_MATMUL_MIN_DIM": "1024",
}
LATCHED_ENV = (
    "DNNL_DEFAULT_FPMATH_MODE", "THP_MEM_ALLOC_ENABLE", "LRU_CACHE_CAPACITY", "TORCH_MKLDNN_MATMUL_MIN_DIM",
    "OMP_NUM_THREADS", "OMP_PROC_BIND", "OMP_PLACES", "ONEDNN_DEFAULT_FPMATH_MODE",
)


def latched_settings() -> dict[str, str | None]:
    """The process-latched variables as this process saw them (None = unset)."""
    return {name: os.environ.get(name) for name in LATCHED_ENV}


def subprocess_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus ``overrides``, quiet libraries, and no hub access."""
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": env.get("HF_HUB_OFFLINE", "1"), "TRANSFORMERS_VERBOSITY": "error",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"})
    env.update(overrides or {})
    return env


def quiet_libraries() -> None:
    """Silence the progress bars and advisory warnings of transformers and the hub client."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def worker_threads(workers: int, cores: int | None = None, env: dict[str, str] | None = None) -> int | None:
    """Intra-op threads for one of ``workers`` processes sharing this machine: ``max(1, cores // workers)``,
    so ``-n 16`` on 64 cores runs 4 threads each instead of 16 x 64. None when ``OMP_NUM_THREADS`` is
    set (the user chose) or there is a single process."""
    env = os.environ if env is None else env
    if env.get("OMP_NUM_THREADS") or workers <= 1:
        return None
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def share_threads_among(workers: int) -> int | None:
    """Apply :func:`worker_threads` to this process (torch, and ``OMP_NUM_THREADS`` for its children)."""
    threads = worker_threads(workers)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
    return threads


# Every environment variable ragperf reads (or hands to a child that reads it), and the rule its value must meet.
# Checked at the start of every command, every child job and the pytest plugin (:func:`check_environment`), so a
# bad value is one line before anything is measured, never a traceback or a FAILED cell in a child job.
JOB_TIMEOUT_ENV = "RAGPERF_JOB_TIMEOUT_S"
MAX_JOB_TIMEOUT_S = 7 * 24 * 3600.0  # a week: past it a timeout no longer bounds anything
MAX_THREADS = 4096


def env_seconds(name: str, default: float | None, high: float, env: dict[str, str] | None = None) -> float | None:
    """``$name`` as seconds in (0, ``high``]; ``default`` when unset or blank; RagperfError naming the bound."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= high:
        raise RagperfError(f"{name}={raw!r}: give a number of seconds above 0 and at most {high:g}")
    return value


def writable_folder(path: Path) -> str | None:
    """Why ``path`` cannot be used as a folder to write into (None: it can): created if missing, then proven by
    writing a file in it (a permission bit says nothing to root, a read-only mount does)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


FOLDERS = {"TORCHINDUCTOR_CACHE_DIR": "Inductor cache folder", "RAGPERF_CACHE": "ragperf's cache folder",
           "RAGPERF_ARM64_CACHE": "the arm64 lane's cache folder"}


def check_folder(name: str, raw: str | Path) -> Path:
    """``raw`` (the folder variable ``name`` names) as a folder, created if missing and proven writable; else
    RagperfError naming it and what to do."""
    path = Path(raw).expanduser()
    if (why := writable_folder(path)) is not None:
        raise RagperfError(f"{FOLDERS[name]} {path} ({name}) is not usable: {why}; "
                           f"point {name} at a writable folder, or unset it")
    return path


def _existing_folder(name: str, raw: str) -> None:
    if not Path(raw).expanduser().is_dir():
        raise RagperfError(f"{name}={raw} is not a folder; give an existing folder, or unset it")


def _thread_counts(name: str, raw: str) -> None:
    parts = raw.split(",")
    if not all(p.strip().isdigit() and 1 <= int(p) <= MAX_THREADS for p in parts):
        raise RagperfError(f"{name}={raw!r}: give a whole number of threads from 1 to {MAX_THREADS} "
                           "(or a comma list of them, one per nesting level)")


ENV_RULES: dict[str, object] = {
    JOB_TIMEOUT_ENV: lambda name, raw: env_seconds(name, None, MAX_JOB_TIMEOUT_S, {name: raw}),
    "RAGPERF_VIRTUAL_CLOCK": lambda name, raw: env_seconds(name, None, 60.0, {name: raw}),
    "RAGPERF_CACHE": check_folder,
    "RAGPERF_ARM64_CACHE": check_folder,
    "RAGPERF_MINILM_DIR": _existing_folder,
    "TORCHINDUCTOR_CACHE_DIR": check_folder,
    "TORCHINDUCTOR_COMPILE_THREADS": _thread_counts,
    "OMP_NUM_THREADS": _thread_counts,
}


def check_environment(env: dict[str, str] | None = None) -> None:
    """Every variable of :data:`ENV_RULES` that is set (and not blank) meets its rule; else RagperfError, one
    line naming the variable, its value and what to give instead. Folders are created if missing."""
    env = os.environ if env is None else env
    for name, rule in ENV_RULES.items():
        raw = env.get(name, "").strip()
        if raw:
            rule(name, raw)
