"""The repro bundle of one failed test: enough to re-run it the way it ran, in a fresh process.

A bundle is a folder holding ``command.txt`` (one shell line: ``pytest NODEID OPTIONS...``, run from
``env.json``'s ``cwd``) and ``env.json`` (the process-latched environment, the hardware fingerprint,
library versions, and the test's parameters). :func:`rerun` replays it with that latched environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ragperf import knobs
from ragperf.errors import RagperfError
from ragperf.schemas import base as schemas
from ragperf.schemas import bundle as schema

COMMAND = "command.txt"
ENV = "env.json"
VERSIONS = ("torch", "transformers", "sentence-transformers", "pytest", "ragperf")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def pytest_args(nodeid: str, rootdir: Path, cwd: Path, given: list[str]) -> list[str]:
    """``given`` (the session's arguments) with its test paths replaced by ``nodeid``, relative to ``cwd``."""
    def is_path(arg: str) -> bool:
        return not arg.startswith("-") and (cwd / arg.split("::")[0]).exists()

    path, _, rest = nodeid.partition("::")
    node = os.path.relpath(rootdir / path, cwd) + (f"::{rest}" if rest else "")
    return [node, *(a for a in given if not is_path(a))]


def write(folder: Path, args: list[str], cwd: Path, nodeid: str, params: dict) -> Path:
    """Write the bundle of ``nodeid`` (re-run as ``pytest *args`` from ``cwd``) into ``folder``."""
    from ragperf.perf.machine import fingerprint

    folder.mkdir(parents=True, exist_ok=True)
    (folder / COMMAND).write_text(shlex.join(["pytest", *args]) + "\n", encoding="utf-8")
    env = {"nodeid": nodeid, "cwd": str(cwd), "latched_env": knobs.latched_settings(),
           "versions": {name: _version(name) for name in VERSIONS} | {"python": sys.version.split()[0]},
           "params": {k: repr(v) for k, v in params.items()}, "fingerprint": fingerprint()}
    (folder / ENV).write_text(json.dumps(env, indent=2, default=str) + "\n", encoding="utf-8")
    return folder


def load(folder: Path) -> tuple[list[str], dict]:
    """(pytest arguments, env.json) of the bundle in ``folder``; RagperfError when it is not one."""
    folder = Path(folder)
    if not (folder / COMMAND).is_file() or not (folder / ENV).is_file():
        raise RagperfError(f"{folder} is not a repro bundle (it needs {COMMAND} and {ENV}; "
                           "failed tests write one under --ragperf-trace-dir)")
    try:
        argv = shlex.split(schemas.read_text(folder / COMMAND, schema.KIND))
    except ValueError as exc:
        raise RagperfError(f"{folder}: {COMMAND} is not one shell line ({exc}); {schema.KIND.remedy}") from None
    if not argv or argv[0] != "pytest":
        raise RagperfError(f"{folder}: {COMMAND} must start with 'pytest'; {schema.KIND.remedy}")
    env = schemas.load(folder / ENV, schema.ReproEnv, schema.KIND).data()
    return argv[1:], env


def child_env(env: dict, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a re-run: this one with the bundle's latched settings (unset ones removed), then ``extra``."""
    latched = env["latched_env"]
    result = knobs.subprocess_env({k: v for k, v in latched.items() if v is not None})
    for name, value in latched.items():
        if value is None:
            result.pop(name, None)
    return result | (extra or {})


def rerun(folder: Path, extra: list[str] | None = None, timeout: float | None = None,
          env_extra: dict[str, str] | None = None, output: Path | None = None) -> int:
    """Run the bundle's pytest command in a fresh process with its latched environment; pytest's exit code.

    ``env_extra`` is added to that environment; ``output`` (a file) takes the run's stdout and stderr.
    """
    args, env = load(folder)
    cwd = env.get("cwd") or "."
    if not Path(cwd).is_dir():
        raise RagperfError(f"{folder}: the bundle ran from {cwd}, which does not exist here")
    with open(output, "w", encoding="utf-8") if output else contextlib.nullcontext() as out:
        try:
            return subprocess.run([sys.executable, "-m", "pytest", *args, *(extra or [])], cwd=cwd,
                                  env=child_env(env, env_extra), timeout=timeout, stdout=out,
                                  stderr=subprocess.STDOUT if out else None).returncode
        except subprocess.TimeoutExpired:
            raise RagperfError(f"the re-run took over {timeout} s") from None
