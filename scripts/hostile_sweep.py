"""The hostile-input sweep: run every case of ``hostile_sweep_cases.toml`` as a user would, and say how each was met.

Usage: ``python scripts/hostile_sweep.py [--cases FILE] [--only ID_PREFIX] [--markdown FILE]`` (pinned to one core:
``taskset -c 0 nice -n 19``; ``--cases``: a later batch in the same tables). Each ``[[cli]]`` row runs ``ragperf
ARGV`` in a fresh process, each ``[[plugin]]`` row an inner ``pytest ARGS`` over three tests that take the model
fixtures, each ``[[sigterm]]`` row starts a command, waits for its first child process, sends SIGTERM and checks
what is left, and each ``[[http]]`` row sends one body to a served retriever and LLM endpoint (tiny models, aot_eager).

A row that ``expect = "refuse"`` (the default) is handled well when it exits 2 with one ``ragperf ... error:``
line on stderr, before anything is compiled or measured: the measuring entry points are tripwires in the
process under test (``--tripwired``), so one that is reached exits 99. ``protect`` names files that must be
unchanged afterwards (else: data loss). A row that ``expect = "ok"`` (a legitimate input) is handled well when it
exits 0; one that ``expect = "proceeds"`` (legitimate, and its work is measuring) when it reaches a tripwire.
Everything else is classified: ``accepted`` (exit 0 on a bad value), ``traceback``, ``unclear`` (more or less
than one line), ``after-work`` (a tripwire fired), ``timeout`` (ran until ``timeout`` killed it), ``data-loss``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import tomllib

ROOT = Path(__file__).resolve().parents[1]
CASES = Path(__file__).with_name("hostile_sweep_cases.toml")
THIS_MACHINE_BASELINE = "x86_64-intel-r-xeon-r-processor-2cpu-1t-fp32-66e08e9c.json"
TRIPWIRES = (
    "ragperf.subproc.run_json", "ragperf.perf.cases.Case.measure", "ragperf.perf.cases.Case.measure_fresh",
    "ragperf.jobs.compile_cost.cold_vs_warm", "ragperf.compile.scenarios.run_case",
    "ragperf.compile.scenarios.probe_shapes", "ragperf.evidence.bundle.rerun",
    "ragperf.numerics.parity.embedder_parity", "ragperf.numerics.parity.decode_parity", "torch.compile",
    "ragperf.serve.launcher.serving", "ragperf.serve.launcher.serving_all",
)
TRIPPED = 99
BASE_ENV = dict(os.environ)


# ---- the places the rows name -------------------------------------------------------------------------------

def _set(data, dotted: str, value) -> None:
    """Set (``value`` not None) or drop the field at ``dotted`` (``a.0.b``: list items by index)."""
    *head, last = dotted.split(".")
    for part in head:
        data = data[int(part)] if isinstance(data, list) else data[part]
    if value is _DROP:
        del data[int(last) if isinstance(data, list) else last]
    elif isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value


_DROP = object()  # _set's "drop this field"


def _machine_key() -> str:
    from ragperf.perf.machine import fingerprint

    return fingerprint()["key"]


def build_places(base: Path, derived: list[dict]) -> dict[str, str]:
    """Every ``{name}`` a row may use: plain paths, model folders of each kind, valid saved files of every
    kind and the mutated copies the ``[[file]]`` rows describe."""
    (base / "a-file.txt").write_text("not what was asked for\n")
    (base / "empty").mkdir()
    models = {"causal": ["LlamaForCausalLM"], "encoder": ["BertModel"], "vision": ["ResNetForImageClassification"],
              "noarch": None}
    for name, arch in models.items():
        (base / name).mkdir()
        (base / name / "config.json").write_text(json.dumps({"architectures": arch} if arch else {"hidden": 4}))
    (base / "badconfig").mkdir()
    (base / "badconfig" / "config.json").write_text("{ cut")
    release = json.loads((ROOT / "docs/results/release/aa1.json").read_text())
    valid = {
        "side": release["sides"]["new"], "report": release,
        "gate": json.loads((ROOT / "docs/results/perf-gate/amd-epyc-2026-12-05-ab-compare-aa-report.json").read_text()),
        "campaign": json.loads((ROOT / "docs/results/perf-gate/amd-epyc-2026-12-05-speedup.json").read_text()),
        "baseline": json.loads((ROOT / "baselines/perf" / THIS_MACHINE_BASELINE).read_text()),
        "bundle": {"nodeid": "tests/test_x.py::test_y", "cwd": ".", "latched_env": {"OMP_NUM_THREADS": "1"},
                   "versions": {"torch": "2.13.0"}, "params": {}, "fingerprint": {"key": "k"}},
    }
    places = {"missing": str(base / "no-such"), "file": str(base / "a-file.txt"), "dir": str(base / "empty"),
              "python": sys.executable, "root": str(ROOT)}
    places.update({name: str(base / name) for name in (*models, "badconfig")})
    key = _machine_key()

    def write(name: str, kind: str, data) -> str:
        if kind == "baseline":  # a baseline folder holding this machine's file
            folder = base / name
            folder.mkdir()
            path = folder / f"{key}.json"
            data = {**data, "key": key}
            path.write_text(json.dumps(data, indent=1))
            places[f"{name}_file"] = str(path)
            return str(folder)
        if kind == "bundle":
            folder = base / name
            folder.mkdir()
            (folder / "command.txt").write_text("pytest tests/test_x.py::test_y\n")
            (folder / "env.json").write_text(json.dumps(data))
            return str(folder)
        path = base / f"{name}.json"
        path.write_text(json.dumps(data, indent=1))
        return str(path)

    for kind, data in valid.items():
        places[kind] = write(kind, kind, data)
    places["side2"] = write("side2", "side", valid["side"])
    places["report2"] = write("report2", "report", valid["report"])
    for row in derived:
        data = json.loads(json.dumps(valid[row["from"]]))
        for dotted, text in row.get("set", {}).items():
            _set(data, dotted, json.loads(text))
        for dotted in row.get("drop", []):
            _set(data, dotted, _DROP)
        places[row["name"]] = write(row["name"], row["from"], data)
    return places


# ---- running one row ------------------------------------------------------------------------------------------

def _digest(paths: list[str]) -> dict[str, str | None]:
    out = {}
    for path in paths:
        p = Path(path)
        if p.is_dir():
            out[path] = "".join(hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(p.rglob("*")) if f.is_file())
        else:
            out[path] = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
    return out


def _classify(row: dict, code: int, err: str, lost: list[str]) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    if lost:
        return "data-loss"
    if code in (124, 137):
        return "timeout"
    if "Traceback" in err:
        return "traceback"
    if row.get("expect") == "proceeds":  # a legitimate input whose work is measuring: it reaches the tripwire
        return "well" if code == TRIPPED else "unclear"
    if code == TRIPPED:
        return "after-work"
    if row.get("expect", "refuse") == "ok":
        return "well" if code == 0 else "unclear"
    if code == 0:
        return "accepted"
    if code == 2 and len(lines) == 1 and "error:" in lines[0] and row.get("says", "").lower() in lines[0].lower():
        return "well"
    return "unclear"


def _forked(kind: str, tripwired: bool, words: list[str], env: dict, cwd: str, out: Path, err: Path,
            timeout: float) -> int:
    """Run one row in a child forked from this process (ragperf and torch already imported: a case costs its
    own work, not a start-up), stdout/stderr to files; 124 when it is killed at ``timeout``."""
    pid = os.fork()
    if pid == 0:  # the process under test
        code = 1
        try:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            for fd, path in ((1, out), (2, err)):
                handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(handle, fd)
                os.close(handle)
            sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
            sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
            code = inner(kind, tripwired, words)
        except BaseException:  # what escapes is the finding: printed as it would be
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124
        time.sleep(0.05)


def run_cli(row: dict, places: dict, kind: str) -> tuple[str, int, str, float]:
    env = {**BASE_ENV, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.update({name: value.format(**places) for name, value in row.get("env", {}).items()})
    words = [w.format(**places) for w in shlex.split(row.get("argv", row.get("args", "")))]
    tripwired = row.get("expect", "refuse") in ("refuse", "proceeds")
    if kind == "plugin":
        words = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q", *words]
    cwd = places["work"] if kind == "cli" else places["plugin_tests"]
    protected = [p.format(**places) for p in row.get("protect", [])]
    before = _digest(protected)
    out, err_file = Path(places["logs"]) / f"{row['id']}.out", Path(places["logs"]) / f"{row['id']}.err"
    started = time.monotonic()
    code = _forked(kind, tripwired, words, env, cwd, out, err_file, row.get("timeout", 120))
    seconds = time.monotonic() - started
    after = _digest(protected)
    lost = [p for p in protected if before[p] != after[p]]
    stdout, err = out.read_text(errors="replace"), err_file.read_text(errors="replace")
    if kind == "plugin":  # pytest's usage errors go to stderr, the rest of its report to stdout
        err = err + ("\nTraceback" if "Traceback" in stdout else "")
    verdict = _classify(row, code, err, lost)
    if kind == "plugin" and verdict == "unclear" and code == 4:  # pytest's usage error code
        # pytest says "ERROR: ..." - or, for a value its option type refused, its usage block around one
        # "error: argument --ragperf-...: ..." line (the catalogue's standard: one line says it)
        lines = [line for line in err.splitlines() if line.strip()]
        saying = [line for line in lines if "error: argument --ragperf-" in line.lower()] or lines
        verdict = "well" if len(saying) == 1 and "error:" in saying[0].lower() and \
            row.get("says", "").lower() in saying[0].lower() else "unclear"
    last = (err.strip().splitlines() or stdout.strip().splitlines() or [""])[-1]
    return verdict, code, last, seconds


def _descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def run_sigterm(row: dict, places: dict) -> tuple[str, int, str, float]:
    """Start the command, wait (bounded) until it has a child process or printed ``wait_for``, SIGTERM it, and
    check: exit 143, no process of its tree left, nothing left in its private temporary folder."""
    tmp = Path(places["work"]) / f"{row['id']}.tmp"  # a private TMPDIR: what is left in it is this command's
    tmp.mkdir()
    env = {**BASE_ENV, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp),
           # Inductor's cache outlives every run by design (its default is under TMPDIR): kept out of the check
           "TORCHINDUCTOR_CACHE_DIR": str(Path(places["work"]) / "inductor-cache")}
    words = [w.format(**places) for w in shlex.split(row["argv"])]
    started = time.monotonic()
    log = Path(places["work"]) / f"{row['id']}.err"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "ragperf.cli", *words], cwd=places["work"], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        seen: set[int] = set()
        deadline = started + row.get("timeout", 120)
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= _descendants(proc.pid)
            if row.get("wait_for", "") in log.read_text() and (seen or "wait_for" in row):
                break
            time.sleep(0.2)
        seen |= _descendants(proc.pid)
        if proc.poll() is not None:
            return "unclear", proc.returncode, "exited before it could be interrupted", time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return "timeout", 124, "still running 60 s after SIGTERM", time.monotonic() - started
    end = time.monotonic() + 10
    while _alive(seen) and time.monotonic() < end:
        time.sleep(0.2)
    left = _alive(seen)
    temp_left = set(tmp.iterdir())
    text = log.read_text()
    last = (text.strip().splitlines() or [""])[-1]
    if "Traceback" in text:
        return "traceback", code, last, time.monotonic() - started
    if left or temp_left:
        return "unclear", code, f"left behind: pids {sorted(left)} folders {sorted(map(str, temp_left))}", \
            time.monotonic() - started
    return ("well" if code == 143 else "unclear"), code, last, time.monotonic() - started


# ---- the served endpoints -------------------------------------------------------------------------------------

def _raw(url: str, request: bytes, timeout: float = 30) -> tuple[int, bytes]:
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    answer = b"".join(chunks)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer.split(b"\r\n\r\n", 1)[-1]


def _http_request(method: str, path: str, body: bytes, content_type: str | None, length: int | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
            f"Content-Length: {len(body) if length is None else length}"]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def run_http(row: dict, urls: dict[str, str]) -> tuple[str, int, str, float]:
    """One request; handled well: a 4xx (or ``status``) whose body is JSON with a one-line ``error``, and the
    endpoint then answers a good request with 200. ``half_open``: headers never finished, the server closes."""
    url = urls[row.get("server", "rag")]
    path = row.get("path", "/retrieve")
    started = time.monotonic()
    if row.get("half_open"):
        host, port = url.split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)), timeout=row.get("timeout", 60))
        try:
            sock.sendall(row["body"].encode())
            try:
                closed = sock.recv(1024) == b""
            except TimeoutError:
                closed = False
        finally:
            sock.close()
        status, detail = (0, "closed by the server") if closed else (0, "held open")
        verdict = "well" if closed else "timeout"
    else:
        body = eval(row["body"]) if row.get("python") else row["body"]  # noqa: S307 - the table's own expressions
        body = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        try:
            status, answer = _raw(url, _http_request(row.get("method", "POST"), path, body,
                                                     row.get("content_type", "application/json"),
                                                     row.get("content_length")), timeout=row.get("timeout", 60))
        except (TimeoutError, ConnectionError) as exc:
            return "timeout", 0, repr(exc), time.monotonic() - started
        try:
            reason = json.loads(answer)["error"]
            one_line = isinstance(reason, str) and "\n" not in reason and reason.strip() != ""
        except (ValueError, KeyError, TypeError):
            reason, one_line = answer[:120].decode(errors="replace"), False
        want = row.get("status")
        ok_status = status == want if want else 400 <= status < 500
        if want == 200:  # a body the endpoint can use: answered
            verdict = "well" if status == 200 else "unclear"
        else:
            verdict = "well" if ok_status and one_line else ("traceback" if status >= 500 else "unclear")
        detail = reason
    good = b'{"query": "What is JSON?", "k": 2}' if path == "/retrieve" else b'{"prompt": "hi", "max_tokens": 2}'
    again, _ = _raw(url, _http_request("POST", path if path in ("/retrieve", "/generate") else "/retrieve", good,
                                       "application/json"))
    if again != 200:
        verdict, detail = "unclear", f"the endpoint stopped answering ({again}) after: {detail}"
    return verdict, status, str(detail)[:160], time.monotonic() - started


def serve_endpoints(base: Path):
    from ragperf.serve.generate import GenerateConfig
    from ragperf.serve.launcher import serving_all
    from ragperf.serve.retriever import ServeConfig, build_index_dir

    index = build_index_dir("tiny-bert", base / "index")
    rag = ServeConfig("tiny-bert", "compile", str(index), backend="aot_eager", header_timeout_s=5.0)
    llm = GenerateConfig("tiny-llama", "compile-prefill-decode", backend="aot_eager", max_tokens=8)
    return serving_all([rag, llm])


# ---- the process under test ------------------------------------------------------------------------------------

def inner(kind: str, tripwired: bool, words: list[str]) -> int:
    """Run ``ragperf WORDS`` (or ``pytest WORDS``) in this process, the measuring entry points tripwired."""
    if tripwired:
        def trip(*args, **kwargs):
            print("hostile-sweep: reached a compile or measurement", file=sys.stderr, flush=True)
            os._exit(TRIPPED)

        for target in TRIPWIRES:
            module, _, attr = target.rpartition(".")
            try:
                owner = importlib.import_module(module)
            except ImportError:
                owner_module, _, cls = module.rpartition(".")
                owner = getattr(importlib.import_module(owner_module), cls)
            setattr(owner, attr, trip)
    if kind == "plugin":
        import pytest

        return int(pytest.main(words))
    from ragperf import cli

    try:
        return int(cli.main(words) or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


PLUGIN_TESTS = ("def test_a(decoder, embedder): pass\n"
                "def test_b(decoder, embedder): pass\n"
                "def test_c(decoder, embedder, ragperf_perf): pass\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=CASES, help=f"the cases file (default {CASES.name})")
    parser.add_argument("--only", default="", help="run only the rows whose id starts with this")
    parser.add_argument("--ids", type=Path, help="run only the rows whose ids this file lists, one a line")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    parser.add_argument("--inner", choices=["cli", "plugin"], help=argparse.SUPPRESS)
    parser.add_argument("--tripwired", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        return inner(args.inner, args.tripwired, args.words)
    table = tomllib.loads(args.cases.read_text(encoding="utf-8"))
    if args.ids:
        wanted = set(args.ids.read_text(encoding="utf-8").split())
        table = {kind: [r for r in rows if kind == "file" or r["id"] in wanted] for kind, rows in table.items()}
    import pytest  # noqa: F401 - imported once here, so each forked case pays for its own work only
    import torch  # noqa: F401

    import ragperf.cli  # noqa: F401
    import ragperf.plugin  # noqa: F401

    for target in TRIPWIRES:  # the tripwires' modules too: each case's child only swaps the attributes
        module = target.rsplit(".", 1)[0]
        while module:
            try:
                importlib.import_module(module)
                break
            except ImportError:
                module = module.rpartition(".")[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="hostile-sweep-") as folder:
        base = Path(folder)
        places = build_places(base, table.get("file", []))
        places["work"] = str(base / "work")
        (base / "work").mkdir()
        places["logs"] = str(base / "logs")
        (base / "logs").mkdir()
        places["plugin_tests"] = str(base / "plugin")
        (base / "plugin").mkdir()
        (base / "plugin" / "test_three.py").write_text(PLUGIN_TESTS)
        for kind in ("cli", "plugin", "sigterm"):
            for row in table.get(kind, []):
                if not row["id"].startswith(args.only):
                    continue
                if kind == "sigterm":
                    outcome = run_sigterm(row, places)
                else:
                    outcome = run_cli(row, places, kind)
                results.append((row, kind, *outcome))
                print(f"{outcome[0]:>10} {outcome[1]:>4} {outcome[3]:6.1f}s {row['id']}: {outcome[2][:150]}", flush=True)
        http_rows = [r for r in table.get("http", []) if r["id"].startswith(args.only)]
        if http_rows:
            with serve_endpoints(base) as started:
                urls = {"rag": started[0].url, "llm": started[1].url}
                for row in http_rows:
                    outcome = run_http(row, urls)
                    results.append((row, "http", *outcome))
                    print(f"{outcome[0]:>10} {outcome[1]:>4} {outcome[3]:6.1f}s {row['id']}: {outcome[2][:150]}",
                          flush=True)
    tally: dict[str, dict[str, int]] = {}
    for row, _kind, verdict, *_ in results:
        tally.setdefault(row["class"], {}).setdefault(verdict, 0)
        tally[row["class"]][verdict] += 1
    well = sum(1 for r in results if r[2] == "well")
    print(f"{well} of {len(results)} handled well ({100 * well / max(len(results), 1):.1f}%)", *(
        f"  {cls}: {counts}" for cls, counts in sorted(tally.items())), sep="\n")
    if args.markdown:
        lines = ["| class | handled well | not | outcomes |", "|---|---|---|---|"]
        for cls, counts in sorted(tally.items()):
            total = sum(counts.values())
            lines.append(f"| {cls} | {counts.get('well', 0)} | {total - counts.get('well', 0)} | "
                         + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + " |")
        lines += ["", "| case | class | outcome | exit | s | last line |", "|---|---|---|---|---|---|"]
        for row, _kind, verdict, code, last, seconds in results:
            cell = last.replace(str(base), "TMP").replace("|", "\\|")[:140]
            lines.append(f"| {row['id']} | {row['class']} | {verdict} | {code} | {seconds:.1f} | {cell} |")
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if well == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
