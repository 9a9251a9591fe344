"""Runtime knobs: process-latched environment, threads, and library noise.

Variables in :data:`LATCHED_ENV` are read once by oneDNN, OpenMP or the c10 allocator when torch
starts; setting them later in the same process changes nothing. :func:`subprocess_env` builds the
environment for a child process that measures one such configuration.
"""

from __future__ import annotations

import os

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
