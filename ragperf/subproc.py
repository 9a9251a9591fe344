"""Run one process-latched configuration in a child Python process and read back its JSON result.

The child prints its result as the last line of stdout. It runs in its own process group; Ctrl-C, SIGTERM
(:func:`honour_interrupts`) or any exception in the parent terminates that group and waits for it, so no
orphan keeps a core busy; a child that runs past its
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
import time
from collections.abc import Callable, Iterator

from ragperf import knobs
from ragperf.errors import RagperfError

JOBS = "ragperf.jobs"  # the one child-process entry: python -m ragperf.jobs NAME ...
TIMEOUT_ENV = knobs.JOB_TIMEOUT_ENV
DEFAULT_TIMEOUT_S = 7200.0  # a child job running longer than this is hung, not slow


def run_job(name: str, args: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
            progress: Callable[[str], None] | None = None, python: str | None = None,
            cores: set[int] | None = None, cancel: threading.Event | None = None) -> dict:
    """Child job ``name`` (``python -m ragperf.jobs NAME *args``, :mod:`ragperf.jobs.child`) through :func:`run_json`."""
    return run_json(JOBS, [name, *args], env=env, timeout=timeout, progress=progress, python=python, cores=cores,
                    cancel=cancel)


class Cancelled(Exception):
    """A child job stopped because its caller set the ``cancel`` event (:func:`run_json`)."""


CANCEL_POLL_S = 0.2  # how often a job waited on from another thread looks at its cancel event


def run_json(module: str, args: list[str], env: dict[str, str] | None = None, timeout: float | None = None,
             progress: Callable[[str], None] | None = None, python: str | None = None,
             cores: set[int] | None = None, cancel: threading.Event | None = None) -> dict:
    """``python -m module *args`` with ``env`` overrides; returns the JSON object on its last stdout line.

    With ``progress``, the parent first reports ``[ragperf]   started MODULE (pid N)`` (a job:
    ``ragperf.jobs NAME``) - once the child is running and a Ctrl-C is sure to stop it - then gets the
    child's stderr lines that start with ``[ragperf]`` as they arrive (the child says what it is compiling or
    timing). ``timeout`` defaults to :func:`job_timeout`; ``python`` runs the child on another interpreter
    (default: this one's); ``cores`` pins the child (and what it starts) to those cores. ``cancel``: a job
    waited on in another thread than the main one (which alone gets Ctrl-C) is stopped within
    :data:`CANCEL_POLL_S` of the event being set, raising :class:`Cancelled`.
    """
    cmd = [python or sys.executable, "-m", module, *args]
    timeout = job_timeout() if timeout is None else timeout
    out: list[str] = []
    err: list[str] = []
    proc = None
    try:
        # An interrupt while the child is forked or its readers start would leave `proc` unset (or
        # the `try` not yet entered) and the child running on; hold it until both are done.
        with interrupts_held():
            proc = subprocess.Popen(cmd, env=knobs.subprocess_env(env), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True,
                                    preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
            readers = [threading.Thread(target=drain, args=(proc.stdout, out, None), daemon=True),
                       threading.Thread(target=drain, args=(proc.stderr, err, progress), daemon=True)]
            for reader in readers:
                reader.start()
        if progress is not None:
            what = f"{module} {args[0]}" if module == JOBS else module
            progress(f"[ragperf]   started {what} (pid {proc.pid})")
        _wait(proc, timeout, cancel)
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


def _wait(proc: subprocess.Popen, timeout: float, cancel: threading.Event | None) -> None:
    """``proc.wait(timeout)``, and :class:`Cancelled` once ``cancel`` is set."""
    if cancel is None:
        proc.wait(timeout=timeout)
        return
    deadline = time.monotonic() + timeout
    while not cancel.is_set():
        try:
            proc.wait(timeout=max(0.0, min(CANCEL_POLL_S, deadline - time.monotonic())))
            return
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
    raise Cancelled(f"stopped: {' '.join(proc.args[1:3])}")


def last_line(output: str) -> str:
    """The last non-blank line of a child's ``output`` (its stderr, say), or ``(no output)``: what an error names."""
    return (output.strip().splitlines() or ["(no output)"])[-1]


def job_timeout() -> float:
    """Seconds a child job may run: ``$RAGPERF_JOB_TIMEOUT_S`` (:data:`ragperf.knobs.ENV_RULES`), else
    :data:`DEFAULT_TIMEOUT_S`."""
    return knobs.env_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, knobs.MAX_JOB_TIMEOUT_S)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``kill``, ``timeout`` and a cancelled CI job send), raised where SIGINT raises
    KeyboardInterrupt: every Ctrl-C cleanup path - children stopped, temporary folders removed - runs for it
    too, and the command then exits :data:`TERMINATED_EXIT` instead of 130."""


TERMINATED_EXIT = 143  # 128 + SIGTERM, what a shell reports for a process SIGTERM ended
INTERRUPTED_EXIT = 130  # 128 + SIGINT


def interrupted_exit(exc: KeyboardInterrupt) -> int:
    """The exit status for an interrupt that ended a command, once its cleanup ran: 143 for SIGTERM, else 130."""
    return TERMINATED_EXIT if isinstance(exc, Terminated) else INTERRUPTED_EXIT


def _raise_terminated(signum, frame):
    raise Terminated


def honour_interrupts() -> None:
    """Make SIGINT raise KeyboardInterrupt and SIGTERM raise :class:`Terminated` in this process.

    A non-interactive shell starts its background commands (``cmd &``, many CI steps) with SIGINT
    ignored, and Python keeps that; a ``ragperf`` command would then run every child job to the end
    on a Ctrl-C or ``kill -INT`` and exit 0. SIGTERM's default ends the process on the spot and leaves its
    children and temporary folders behind. A handler the process set itself is left alone, and so is a
    SIGTERM its starter chose to ignore.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_terminated)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """A SIGINT or SIGTERM arriving inside the block raises KeyboardInterrupt (:class:`Terminated`) when the
    block ends, not inside it.

    Only the main thread gets signals; elsewhere the block runs unchanged, and so does a signal whose
    handler is not ragperf's (:func:`honour_interrupts`) - a caller's own.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ours = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _raise_terminated}
    held = [signum for signum, handler in ours.items() if signal.getsignal(signum) is handler]
    caught: list[int] = []
    for signum in held:
        signal.signal(signum, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for signum in held:
            signal.signal(signum, ours[signum])
    if caught:
        raise Terminated if signal.SIGTERM in caught else KeyboardInterrupt


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Terminate ``proc`` and wait for it (killed after ``grace_s``). When it leads its own process group
    (started with ``start_new_session``), the whole group gets the SIGTERM, and whatever of it outlives the
    leader is killed: nothing it started keeps running."""
    group = _own_group(proc)
    _signal(proc, signal.SIGTERM, group)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL, group)
        proc.wait()
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _own_group(proc: subprocess.Popen) -> bool:
    try:
        return proc.returncode is None and os.getpgid(proc.pid) == proc.pid
    except (ProcessLookupError, PermissionError):
        return False


def _signal(proc: subprocess.Popen, signum: int, group: bool) -> None:
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)


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
