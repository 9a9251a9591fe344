"""Carried compile artifacts - a Mega-Cache blob, an AOTInductor package - with a manifest that says
whether this process can use them.

torch does not refuse a foreign artifact: ``load_cache_artifacts`` of another torch version's bytes
populates entries whose keys never match (every compile misses, silently), and a truncated blob
only logs a warning. So every artifact ragperf writes gets a ``<file>.json`` manifest (torch
version, machine architecture, device, byte count, SHA-256), and :func:`problem` checks it before
use. A start path that finds a problem says so in one line and compiles instead (see
:func:`load_megacache` and :func:`load_aoti`): a start never fails for want of its artifact.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch

from ragperf.errors import RagperfError
from ragperf.models.embedders import Batch, Embedder
from ragperf.models.ladder import LadderModel, build_variant, variant
from ragperf.schemas import base as schemas
from ragperf.schemas.manifest import KIND, Manifest

MEGACACHE = "megacache.bin"
AOTI = "model.pt2"
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def identity(device: str = "cpu") -> dict:
    """What an artifact is only valid for: this torch, this machine architecture, this device type."""
    return {"torch": torch.__version__, "arch": platform.machine(), "device": torch.device(device).type}


def write_manifest(path: Path, kind: str, device: str = "cpu") -> Path:
    """Write ``<path>.json`` describing the artifact already at ``path``; returns the manifest's path."""
    data = path.read_bytes()
    manifest = {"kind": kind, **identity(device), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    out = Path(f"{path}.json")
    out.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return out


def problem(path: Path, kind: str, device: str = "cpu") -> str | None:
    """Why the artifact at ``path`` cannot be used here (one line), or None when it can."""
    if not path.exists():
        return f"{path} does not exist"
    manifest_path = Path(f"{path}.json")
    try:
        manifest = schemas.load(manifest_path, Manifest, KIND)
    except RagperfError as exc:
        return f"{exc} - so nothing says which torch wrote {path.name}"
    if manifest.kind != kind:
        return f"{path.name} is a {manifest.kind!r} artifact, not {kind!r}"
    here = identity(device)
    for name in ("torch", "arch", "device"):
        if getattr(manifest, name) != here[name]:
            return (f"{path.name} was written by {name} {getattr(manifest, name)}, this process has {here[name]}: "
                    "its cache keys would never match")
    data = path.read_bytes()
    if len(data) != manifest.bytes or hashlib.sha256(data).hexdigest() != manifest.sha256:
        return f"{path.name} is truncated or corrupt ({len(data)} of {manifest.bytes} bytes, checksum differs)"
    return None


def say(line: str) -> None:
    """The one line a fallback prints (stderr, in the form ``ragperf.subproc.run_json`` passes through)."""
    print(f"[ragperf]   {line}", file=sys.stderr, flush=True)


# ---- Mega-Cache -------------------------------------------------------------------------------------

def save_megacache(path: Path, device: str = "cpu") -> int:
    """``torch.compiler.save_cache_artifacts()`` of this process into ``path`` (+ manifest).

    Returns the number of cache entries written; 0 (and no file) when nothing was recorded - a frozen
    model bypasses the FX-graph and AOTAutograd caches the entries come from.
    """
    saved = torch.compiler.save_cache_artifacts()
    if saved is None:
        return 0
    blob, info = saved
    path.write_bytes(blob)
    write_manifest(path, "megacache", device)
    return sum(len(keys) for keys in info.artifacts.values())


def load_megacache(path: Path, device: str = "cpu") -> tuple[int, str | None]:
    """Hot-load the Mega-Cache at ``path`` into this process's caches: (entries loaded, fallback line).

    On a problem nothing is loaded, the line is printed and returned, and the next compile simply
    compiles from scratch.
    """
    issue = problem(path, "megacache", device)
    info = None
    if issue is None:
        info = torch.compiler.load_cache_artifacts(path.read_bytes())
        if info is None:
            issue = f"{path.name} could not be unpickled by this torch"
    if issue is not None:
        line = f"Mega-Cache not used: {issue}; compiling from scratch instead"
        say(line)
        return 0, line
    return sum(len(keys) for keys in info.artifacts.values()), None


# ---- AOTInductor ------------------------------------------------------------------------------------

class _Exportable(torch.nn.Module):
    """The transformer with keyword tensor inputs and one tensor out (what export and AOTI need)."""

    def __init__(self, transformer: torch.nn.Module):
        super().__init__()
        self.transformer = transformer

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.transformer(**inputs, return_dict=True).last_hidden_state


def model_inputs(batch: Batch) -> dict[str, torch.Tensor]:
    return {k: v for k, v in batch.items() if k in _MODEL_INPUTS}


def package_aoti(embedder: Embedder, variant_name: str, batch: Batch, path: Path) -> Path:
    """``torch.export`` the transformer at ``batch``'s shapes and ``aoti_compile_and_package`` it into
    ``path`` (+ manifest); frozen rungs are packaged with Inductor freezing and weight prepacking."""
    chosen = variant(variant_name)
    configs = {"freezing": True, "cpp.weight_prepack": True} if chosen.freezing else {}
    with torch.no_grad():
        exported = torch.export.export(_Exportable(embedder.transformer).eval(), (), model_inputs(batch))
        torch._inductor.aoti_compile_and_package(exported, package_path=str(path), inductor_configs=configs)
    write_manifest(path, "aoti", embedder.device.type)
    return path


def load_aoti(path: Path, embedder: Embedder, variant_name: str, backend: str = "inductor"
              ) -> tuple[LadderModel, str | None]:
    """The ladder rung served from the AOTInductor package at ``path``: (model, fallback line).

    The package serves the shapes it was exported at. On a problem (manifest, or
    ``aoti_load_package`` refusing the file) the line is printed and the rung is JIT-compiled instead.
    """
    package, line = load_package(path, "aoti", embedder.device.type, variant_name)
    if package is None:
        return build_variant(embedder, variant_name, backend=backend), line
    return LadderModel(embedder, variant(variant_name), _packaged(package)), None


def load_package(path: Path, kind: str, device: str, instead: str):
    """(the AOTInductor package at ``path``, None), or (None, the fallback line, printed) when its manifest
    (:func:`problem`) or ``aoti_load_package`` refuses it - the caller then compiles ``instead`` with
    torch.compile."""
    issue = problem(path, kind, device)
    if issue is None:
        try:
            return torch._inductor.aoti_load_package(str(path)), None
        except Exception as exc:  # noqa: BLE001 - whatever the loader raises, the start falls back
            issue = f"aoti_load_package refused {path.name}: {_first_line(exc)}"
    line = f"AOTInductor package not used: {issue}; compiling {instead} with torch.compile instead"
    say(line)
    return None, line


def _packaged(package: Callable[..., torch.Tensor]) -> Callable[..., object]:
    def transformer(return_dict: bool = True, **inputs: torch.Tensor) -> object:
        return SimpleNamespace(last_hidden_state=package(**inputs))

    return transformer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
