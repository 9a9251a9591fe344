"""A minified repro of a parity failure, from torch's accuracy minifier, found in bounded time or not at all.

Two child processes share one deadline. First the failed test runs again with
``TORCHDYNAMO_REPRO_AFTER=dynamo TORCHDYNAMO_REPRO_LEVEL=4``: torch then checks every graph Dynamo
captured against eager (fp64-anchored) and dumps the first that disagrees as
``minifier_launcher.py``. Then that launcher runs: it shrinks the graph to the fewest nodes that still
disagree, rewriting ``repro.py`` at each smaller checkpoint. Everything lands in ``<bundle>/minifier/``; when no repro comes out,
``<bundle>/minifier.txt`` says why (timeout, or no single graph reproduces the failure).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ragperf.errors import RagperfError
from ragperf.evidence import bundle

FOLDER = "minifier"
GIVE_UP = "minifier.txt"
REPRO_ENV = {"TORCHDYNAMO_REPRO_AFTER": "dynamo", "TORCHDYNAMO_REPRO_LEVEL": "4"}


def _backend_modules() -> list[str]:
    """Modules that registered Dynamo backends outside torch: the launcher must import them to find its backend."""
    registry = sys.modules.get("torch._dynamo.backends.registry")
    names = {getattr(fn, "__module__", None) for fn in getattr(registry, "_COMPILER_FNS", {}).values()}
    return sorted(n for n in names if n and n in sys.modules and n != "__main__" and n.split(".")[0] != "torch")


def _give_up(repro: Path, why: str) -> tuple[None, str]:
    (repro / GIVE_UP).write_text(f"no minified repro: {why}\n", encoding="utf-8")
    return None, why


def minify(repro: Path, timeout: float) -> tuple[Path | None, str]:
    """Minify the failure of the bundle in ``repro`` within ``timeout`` s: (``repro.py``, note) or (None, why not).

    The note is "" for a finished minification, and says so when ``repro.py`` is the last checkpoint of
    a minifier that ran out of time.
    """
    out = repro / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    (repro / GIVE_UP).unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    try:
        bundle.rerun(repro, ["--ragperf-minify-timeout", "0", "--ragperf-trace-dir", str(out / "run")],
                     timeout=timeout, env_extra=REPRO_ENV | {"TORCH_COMPILE_DEBUG_DIR": str(out)},
                     output=out / "test.log")
    except RagperfError:
        return _give_up(repro, f"timeout: the test under TORCHDYNAMO_REPRO_LEVEL=4 took over {timeout:g} s "
                               "(raise --ragperf-minify-timeout)")
    launchers = sorted(out.glob("torch_compile_debug/*/minifier/minifier_launcher.py"))
    if not launchers:
        return _give_up(repro, "not reproducible in one graph: torch's accuracy check (TORCHDYNAMO_REPRO_LEVEL=4) "
                               f"found no compiled graph that disagrees with eager (see {out / 'test.log'})")
    imports = "".join(f"\ntry:\n    import {m}\nexcept ImportError:\n    pass" for m in _backend_modules())
    code = f"import runpy{imports}\nrunpy.run_path({str(launchers[0])!r}, run_name='__main__')\n"
    left = max(1.0, deadline - time.monotonic())
    with open(out / "minifier.log", "w", encoding="utf-8") as log:
        try:
            subprocess.run([sys.executable, "-c", code], cwd=out, env=bundle.child_env(bundle.load(repro)[1]),
                           stdout=log, stderr=subprocess.STDOUT, timeout=left)
        except subprocess.TimeoutExpired:
            why = (f"timeout: the minifier did not finish within {timeout:g} s in all (its launcher: "
                   f"{launchers[0]}; raise --ragperf-minify-timeout)")
            if (out / "repro.py").is_file():  # its last checkpoint: smaller than the captured graph, maybe not minimal
                (repro / GIVE_UP).write_text(f"partly minified repro: {out / 'repro.py'}\n{why}\n", encoding="utf-8")
                return out / "repro.py", f"partly minified: {why}"
            return _give_up(repro, why)
    if not (out / "repro.py").is_file():
        return _give_up(repro, f"the minifier wrote no repro.py (see {out / 'minifier.log'})")
    return out / "repro.py", ""
