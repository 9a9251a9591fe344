"""``--ragperf-bundle-weights``: a failed test's bundle gets a copy of the tiny embedders it loaded.

Only the random-weight tiny models (the generated embedders of :mod:`ragperf.models.registry`) are ever copied;
bundles hold no other weights, asked or not (real models are named by path or packaged dependency
in ``env.json`` and fetched on the machine that replays the bundle). Tiny decoders need no copy:
they are built in memory from a seeded config.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FOLDER = "weights"
_LOADED: list[str] = []  # embedder specs the plugin's load_embedder handed out during the current test
_EMBEDDER_FIXTURES = ("embedder", "embedder_variant", "eager_embedder")


def note_loaded(spec: str) -> None:
    """Called by the ``load_embedder`` fixture each time a test asks it for ``spec``."""
    _LOADED.append(spec)


def start_test() -> None:
    _LOADED.clear()


def used_embedders(item: pytest.Item) -> list[str]:
    """The embedder specs ``item`` used: asked of ``load_embedder``, or through the ``--ragperf-embedder`` fixtures."""
    used = list(_LOADED)
    if set(_EMBEDDER_FIXTURES) & set(getattr(item, "fixturenames", ())):
        params = getattr(getattr(item, "callspec", None), "params", {})
        used.append(params.get("embedder_spec") or item.config.getoption("--ragperf-embedder").split(",")[0])
    return list(dict.fromkeys(used))


def bundle_weights(repro: Path, specs: list[str]) -> str:
    """Copy the tiny ones of ``specs`` into ``repro/weights/<spec>``; one report line saying what was (not) copied."""
    from ragperf.models.registry import EMBEDDER, names, resolve_embedder

    generated = names(EMBEDDER, source="generated")
    tiny = [s for s in specs if s in generated]
    refused = [s for s in specs if s not in generated]
    for spec in tiny:
        shutil.copytree(resolve_embedder(spec), repro / FOLDER / spec, dirs_exist_ok=True)
    parts = [f"{repro / FOLDER} ({', '.join(tiny)})"] if tiny else []
    if refused:
        parts.append(f"not bundled: {', '.join(refused)} (--ragperf-bundle-weights copies only the tiny models "
                     f"{', '.join(generated)})")
    return "weights:        " + ("; ".join(parts) or "none (the test loaded no embedder)")
