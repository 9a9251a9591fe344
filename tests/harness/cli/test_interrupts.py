"""Ctrl-C and SIGTERM of a real ``ragperf`` command mid-work: every process it started stops, every temporary
folder it made is removed, and it exits 130 (SIGINT) or 143 (SIGTERM: what ``kill``, ``timeout`` and a cancelled CI
job send).

Each test waits for a state - a line the command prints once its child runs, or the child processes themselves -
never for a fixed time. The commands get a private ``TMPDIR``, so "no temporary folder left" is "it is empty".
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

WAIT_S = 300  # a bound for a state that comes in seconds; a loaded 2-core runner must not trip it


class Command:
    """``python -m ragperf.cli ARGS`` with a private TMPDIR; its stderr read line by line as it comes."""

    def __init__(self, args: list[str], tmp: Path, sigint: signal.Handlers = signal.SIG_DFL):
        self.tmp = tmp / "private-tmp"
        self.tmp.mkdir()
        self.proc = subprocess.Popen([sys.executable, "-m", "ragperf.cli", *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(self.tmp)},
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, pattern: str) -> re.Match:
        """The first stderr line matching ``pattern``; fails the test if the command ends first."""
        while True:
            line = self.lines.get(timeout=WAIT_S)
            assert line is not None, f"no line matching {pattern!r}:\n{self.tail()}"
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match

    def wait_for_children(self, module: str, count: int) -> list[psutil.Process]:
        """Once ``count`` descendants run ``python -m module``: every descendant (a state, polled)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the command ended (exit {self.proc.returncode}):\n{self.tail()}"
            found = self.descendants()
            if sum(module in _cmdline(p) for p in found) >= count:
                return found
            time.sleep(0.1)  # a poll interval, not a wait for the state
        raise AssertionError(f"no {count} {module} processes after {WAIT_S} s:\n{self.tail()}")

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return []

    def stop_with(self, signum: int, descendants: list[psutil.Process]) -> int:
        """Send ``signum``; the exit status once the command ended. Asserts no descendant and no temporary
        folder is left."""
        os.kill(self.proc.pid, signum)
        self.wait_for_line("ragperf: terminated" if signum == signal.SIGTERM else "ragperf: interrupted")
        code = self.proc.wait(timeout=WAIT_S)
        _, alive = psutil.wait_procs(descendants, timeout=15)
        assert not alive, f"left running: {[(p.pid, _cmdline(p)) for p in alive]}\n{self.tail()}"
        assert not list(self.tmp.iterdir()), f"temporary folders left: {sorted(self.tmp.iterdir())}"
        return code

    def tail(self) -> str:
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return "".join(self.seen[-40:])

    def __enter__(self) -> Command:
        return self

    def __exit__(self, *exc) -> None:
        for proc in [*self.descendants(), psutil.Process(self.proc.pid)] if self.proc.poll() is None else []:
            proc.kill()
        self.proc.wait()


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return ""


EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.mark.parametrize(("signum", "sigint"), [
    # plain Ctrl-C: honour_interrupts installs the same handler as for the inherited-ignored case below (default
    # suite); this one runs in `slow`
    pytest.param(signal.SIGINT, signal.SIG_DFL, marks=pytest.mark.slow),
    (signal.SIGINT, signal.SIG_IGN), (signal.SIGTERM, signal.SIG_DFL)], ids=["sigint", "sigint-inherited-ignored", "sigterm"])
def test_ragperf_run_stopped_mid_job_leaves_no_process_and_no_temporary_folder(tmp_path, signum, sigint):
    """Once ``ragperf run`` says a decode job started (an interrupt now is sure to reach it).

    ``sigint-inherited-ignored``: started as a non-interactive shell starts a background step (CI), with SIGINT
    ignored - the interrupt used to be lost and the run went on to exit 0.
    """
    with Command(["run", "--suite", "decode", "--decoder", "tiny-llama", "--quick", "--backend", "aot_eager",
                  "--out", str(tmp_path / "out")], tmp_path, sigint) as command:
        child = int(command.wait_for_line(r"started ragperf\.jobs decode \(pid (\d+)\)").group(1))
        descendants = [psutil.Process(child), *command.descendants()]
        assert command.stop_with(signum, descendants) == EXIT[signum], command.tail()
        assert not (tmp_path / "out" / "report.json").exists()  # nothing written as if the run had finished


@pytest.mark.slow  # indexes the corpus, then two uvicorn workers load and warm: tens of seconds on 2 cores
def test_ragperf_serve_stopped_by_sigterm_leaves_no_server_and_no_temporary_folder(tmp_path):
    with Command(["serve", "--model", "tiny-bert", "--variant", "eager", "--workers", "2", "--backend", "aot_eager"],
                 tmp_path) as command:
        command.wait_for_line(r"serving tiny-bert eager at http://127\.0\.0\.1:\d+")
        descendants = command.descendants()
        assert sum("ragperf.serve.worker" in _cmdline(p) for p in descendants) >= 1, descendants
        assert len(descendants) >= 3  # uvicorn's supervisor and its two workers
        assert command.stop_with(signal.SIGTERM, descendants) == 143, command.tail()


@pytest.mark.slow  # two sides import torch and build the case side by side before the signal
def test_a_lockstep_pair_stopped_by_sigterm_leaves_no_side_running(tmp_path):
    (tmp_path / "baselines").mkdir()
    with Command(["baseline", "compare", "--dir", str(tmp_path / "baselines"), "--reference", sys.executable,
                  "--cases", "embed:tiny-bert:compile@aot_eager", "--pairs", "1", "--rounds", "100000"],
                 tmp_path) as command:
        descendants = command.wait_for_children("ragperf.perf.lockstep", 2)
        assert command.stop_with(signal.SIGTERM, descendants) == 143, command.tail()
