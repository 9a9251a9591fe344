"""Start a served endpoint (the retriever or the LLM) on a free loopback port, wait until every worker is ready, and stop it cleanly.

``with serving(config) as server: ...`` starts ``python -m ragperf.serve.worker`` in its own process
group (its own session, so a terminal's Ctrl-C reaches only ragperf, which then stops it), waits until
each of the ``workers`` processes has written its ready file and ``/health`` answers, and on exit - normal,
exception, KeyboardInterrupt or SIGTERM (:func:`ragperf.subproc.honour_interrupts`) - terminates the whole
group, kills what is left after a grace period, checks with psutil that no process of it survives, and removes
its ``ragperf-serve-*`` state folder. A worker that dies while serving is replaced by uvicorn's
supervisor; :meth:`Server.recover` names the dead and waits for the replacement, or fails with the reason.
``serving_all(configs)`` does the same for several servers started side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ragperf import knobs
from ragperf.errors import RagperfError
from ragperf.serve.generate import GenerateConfig
from ragperf.serve.retriever import ServeConfig
from ragperf.serve.worker import CONFIG_ENV, STATE_ENV
from ragperf.subproc import interrupts_held

READY_TIMEOUT_S = 600.0


@dataclass
class Server:
    url: str
    config: ServeConfig | GenerateConfig
    process: subprocess.Popen
    state_dir: Path
    pids: set[int] = field(default_factory=set)
    log: object = None
    dead: set[int] = field(default_factory=set)

    def workers(self) -> list[dict]:
        """Each worker's state file: pid, graphs at ready, errors and recompiles under load (a dead worker's
        file stays, so its errors and recompiles still count)."""
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.state_dir.glob("*.json"))]

    def live_workers(self) -> list[dict]:
        """The state of each worker process still running."""
        return [w for w in self.workers() if _alive({w["pid"]})]

    def recover(self, timeout: float = READY_TIMEOUT_S) -> list[int]:
        """Pids of the workers that died since the last call (empty: all well). When some did, returns once
        uvicorn's supervisor has replaced them with warmed workers and ``/health`` answers; RagperfError with
        the reason when the supervisor gave up or a replacement is not ready within ``timeout``."""
        died = sorted({w["pid"] for w in self.workers()} - {w["pid"] for w in self.live_workers()} - self.dead)
        if not died:
            return []
        self.dead.update(died)
        try:
            _wait_ready(self, timeout)
        except RagperfError as exc:
            raise RagperfError(f"worker(s) {died} died while serving and were not replaced: {exc}") from None
        return died

    def recompiles(self) -> int:
        return sum(w["recompiles"] for w in self.workers())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(config: ServeConfig | GenerateConfig, ready_timeout: float = READY_TIMEOUT_S) -> Iterator[Server]:
    """Serve ``config``; yields a :class:`Server` once every worker has loaded, compiled and warmed."""
    with serving_all([config], ready_timeout) as (server,):
        yield server


@contextmanager
def serving_all(configs: list[ServeConfig | GenerateConfig], ready_timeout: float = READY_TIMEOUT_S) -> Iterator[list[Server]]:
    """Serve every config at once: all servers are started before any is waited for, so their workers load
    and compile side by side (a single-process server compiles on one core; the others use the rest).
    Yields the servers, in order, once each is ready; on exit stops every one that was started, also when
    another failed to start or to stop."""
    for config in configs:
        if config.workers < 1 or config.threads < 1:
            raise RagperfError(f"--workers and --threads must be at least 1 (got {config.workers} x "
                               f"{config.threads})")
    servers: list[Server] = []
    try:
        for config in configs:
            with interrupts_held():  # a server started must be in `servers` before an interrupt can land
                servers.append(_launch(config))
        for server in servers:
            _wait_ready(server, ready_timeout)
        yield servers
    finally:
        _stop_all(servers)


def _launch(config: ServeConfig | GenerateConfig) -> Server:
    """Start ``python -m ragperf.serve.worker`` with ``config``'s app factory on a free port, in its own session."""
    state_dir = Path(tempfile.mkdtemp(prefix="ragperf-serve-"))
    port = free_port()
    env = knobs.subprocess_env({CONFIG_ENV: config.to_json(), STATE_ENV: str(state_dir),
                                "OMP_NUM_THREADS": str(config.threads)})
    log = open(state_dir / "server.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed by _stop_all
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ragperf.serve.worker", str(port), config.FACTORY], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        log.close()
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    return Server(f"http://127.0.0.1:{port}", config, proc, state_dir, log=log)


def _stop_all(servers: list[Server]) -> None:
    """Stop each server, close its log and remove its state folder; the first error is raised once every one
    was tried."""
    first: BaseException | None = None
    for server in servers:
        try:
            stop(server)
        except BaseException as exc:  # noqa: BLE001 - stop the rest first, then raise
            first = first or exc
        finally:
            server.log.close()
            shutil.rmtree(server.state_dir, ignore_errors=True)
    if first is not None:
        raise first


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.pids |= _group_pids(server.process.pid)
        if server.process.poll() is not None:
            raise RagperfError(f"the server exited (code {server.process.returncode}) before it was ready: "
                               f"{_last_line(server.log)}")
        if len(server.live_workers()) >= server.config.workers and _healthy(server.url):
            server.pids |= _group_pids(server.process.pid)
            return
        time.sleep(0.2)
    raise RagperfError(f"the server was not ready after {timeout:.0f} s ({len(server.live_workers())} of "
                       f"{server.config.workers} workers warmed): {_last_line(server.log)}")


def _healthy(url: str) -> bool:
    try:
        with _opener().open(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _opener():
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def stop(server: Server, grace_s: float = 10.0) -> None:
    """Terminate the server's process group, kill it after ``grace_s``; RagperfError if a process survives."""
    import psutil

    server.pids |= _group_pids(server.process.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            server.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
        _, alive = psutil.wait_procs(_alive(server.pids), timeout=grace_s)
        if not alive:
            break
    for proc in _alive(server.pids):  # outside the group (setsid by a child): by pid
        proc.kill()
    left = [p.pid for p in psutil.wait_procs(_alive(server.pids), timeout=5)[1]]
    if left:
        raise RagperfError(f"server processes {left} survived shutdown; kill them by pid")


def _alive(pids: set[int]) -> list:
    import psutil

    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out


def _group_pids(root: int) -> set[int]:
    import psutil

    try:
        parent = psutil.Process(root)
        return {root, *(c.pid for c in parent.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def _last_line(log) -> str:
    log.flush()
    log.seek(0)
    lines = [line.strip() for line in log.read().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
