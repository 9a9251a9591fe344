"""Run one process-latched configuration in a child Python process and read back its JSON result.

The child prints its result as the last line of stdout. Ctrl-C (or any exception) in the parent
terminates the child and waits for it, so no orphan keeps a core busy; a child that runs past its
timeout is killed the same way and reported as a :class:`RagperfError` naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

from ragperf import knobs
from ragperf.errors import RagperfError

JOBS = "ragperf.jobs"  # the one child-process entry: python -m ragperf.jobs NAME ...
TIMEOUT_ENV = "RAGPERF_JOB_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 7200.0  # a child job running longer than this is hung, not slow


def run_job(name: str, args: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
            progress: Callable[[str], None] | None = None, python: str | None = None,
            cores: set[int] | None = None) -> dict:
    """Child job ``name`` (``python -m ragperf.jobs NAME *args``, :mod:`ragperf.jobs.child`) through :func:`run_json`."""
    return run_json(JOBS, [name, *args], env=env, timeout=timeout, progress=progress, python=python, cores=cores)


def run_json(module: str, args: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
             progress: Callable[[str], None] | None = None, python: str | None = None,
             cores: set[int] | None = None) -> dict:
    """``python -m module *args`` with ``env`` overrides; returns the JSON object on its last stdout line.

    With ``progress``, the parent first reports ``[ragperf]   started MODULE (pid N)`` (a job:
    ``ragperf.jobs NAME``) - once the child is running and a Ctrl-C is sure to stop it - then gets the
    child's stderr lines that start with ``[ragperf]`` as they arrive (the child says what it is compiling or
    timing). ``timeout`` defaults to :func:`job_timeout`; ``python`` runs the child on another interpreter
    (default: this one's); ``cores`` pins the child (and what it starts) to those cores.
    """
    cmd = [python or sys.executable, "-m", module, *args]
    timeout = job_timeout() if timeout is None else timeout
    out: list[str] = []
    err: list[str] = []
    proc = None
    try:
        # An interrupt while the child is forked or its readers start would leave `proc` unset (or
        # the `try` not yet entered) and the child running on; hold it until both are done.
        with sigint_held():
            proc = subprocess.Popen(cmd, env=knobs.subprocess_env(env), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
            readers = [threading.Thread(target=drain, args=(proc.stdout, out, None), daemon=True),
                       threading.Thread(target=drain, args=(proc.stderr, err, progress), daemon=True)]
            for reader in readers:
                reader.start()
        if progress is not None:
            what = f"{module} {args[0]}" if module == JOBS else module
            progress(f"[ragperf]   started {what} (pid {proc.pid})")
        proc.wait(timeout=timeout)
        for reader in readers:
            reader.join()
    except subprocess.TimeoutExpired:
        stop(proc)
        raise RagperfError(f"{module} {' '.join(args)} hung: killed after its {timeout:g} s timeout "
                           f"(set {TIMEOUT_ENV} to allow longer)") from None
    except BaseException:
        if proc is not None:
            stop(proc)
        raise
    lines = "".join(out).strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RagperfError(f"{module} {' '.join(args)} failed (exit {proc.returncode}): {last_line(''.join(err))}")
    return json.loads(lines[-1])


def last_line(output: str) -> str:
    """The last non-blank line of a child's ``output`` (its stderr, say), or ``(no output)``: what an error names."""
    return (output.strip().splitlines() or ["(no output)"])[-1]


def job_timeout() -> float:
    """Seconds a child job may run: ``$RAGPERF_JOB_TIMEOUT_S``, else :data:`DEFAULT_TIMEOUT_S`."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise RagperfError(f"{TIMEOUT_ENV}={raw!r}: give a positive number of seconds")
    return value


def honour_sigint() -> None:
    """Make SIGINT raise KeyboardInterrupt in this process even if it started with SIGINT ignored.

    A non-interactive shell starts its background commands (``cmd &``, many CI steps) with SIGINT
    ignored, and Python keeps that; a ``ragperf`` command would then run every child job to the end
    on a Ctrl-C or ``kill -INT`` and exit 0. A handler the process set itself is left alone.
    """
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """A SIGINT arriving inside the block raises KeyboardInterrupt when the block ends, not inside it.

    Only the main thread gets signals; elsewhere, and where SIGINT is not Python's default
    handler (a caller's own), the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


def stop(proc: subprocess.Popen) -> None:
    """Terminate ``proc`` and wait for it (killed after 10 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drain(stream, sink: list[str], progress: Callable[[str], None] | None) -> None:
    """Every line of ``stream`` into ``sink``; those starting with ``[ragperf]`` also to ``progress``."""
    for line in stream:
        sink.append(line)
        if progress is not None and line.startswith("[ragperf]"):
            progress(line.rstrip("\n"))


def child_progress(enabled: bool, line: str) -> None:
    """In a child job: a progress line on stderr, in the form :func:`run_json` passes through."""
    if enabled:
        print(f"[ragperf]   {line}", file=sys.stderr, flush=True)
