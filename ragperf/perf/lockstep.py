"""Lockstep timing: a reference and a candidate interpreter, each in its own process, timed round by round.

Why: on the 2-core VM a decode speedup measured in separate processes, one after another, spread 1.5-2.3%
from process to process - the state of the machine while each ran, not the process itself: neither the hash
seed nor the address layout set it (16 processes, 4 hash seeds x ASLR on and off, docs/perf.md). Two processes
alive at once, taking turns round by round on one core, see the same machine: over 8 A/A pairs (decode, 90
rounds) the log ratio of their speedups spread 0.67%, where two processes run one after the other differ by
about 3%.

* Each side is ``python -m ragperf.perf.lockstep CASE-ARGS`` on its own interpreter: it builds the case,
  compiles and warms up (both sides at once, on any core), says it is ready, then answers one request per
  round on stdin/stdout (:data:`SCHEMA` names the protocol; both sides must speak the same).
* Once both are ready they are pinned to the same cores (:func:`pin`), so a round runs on the core whose
  caches the other side just used, never on a cold one.
* A round is one untimed call of each function (caches refilled after the other side's round), then eager
  and the candidate timed in random order (:func:`ragperf.perf.timing.interleaved`); the sides take the
  rounds in ABBA order (:func:`order`), so a drift linear in time cancels.
* A *block* is ``case.rounds`` rounds of each side; its figures per side are
  :meth:`ragperf.perf.timing.Comparison.figures`. The candidate's planted slowdown is chosen per block, so a
  proof campaign mixes A/A and planted blocks in one pair of processes.

Under :mod:`ragperf.perf.clocks`' virtual clock (tests) both sides' figures are exact.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from ragperf import knobs
from ragperf.errors import RagperfError
from ragperf.perf import clocks, timing

SCHEMA = "ragperf-lockstep-1"  # the request/reply protocol below; both sides' ragperf must speak it
REFERENCE, CANDIDATE = "reference", "candidate"


def order(round_index: int) -> tuple[str, str]:
    """Which side times first in round ``round_index``: reference, candidate, candidate, reference, ... (ABBA)."""
    return (REFERENCE, CANDIDATE) if round_index % 2 == 0 else (CANDIDATE, REFERENCE)


def pin(pids: list[int], threads: int) -> set[int] | None:
    """Every thread of ``pids`` onto the same ``threads`` cores, the last of this process's; the cores, or
    ``None`` where the sides need every core anyway or the OS cannot pin (not Linux)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if threads >= len(cores):
        return None
    chosen = set(cores[-threads:])
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            tids = [pid]
        for tid in tids:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(tid, chosen)
    return chosen


class Side:
    """One side's worker process, answering one JSON request per line; :meth:`close` always stops it."""

    def __init__(self, name: str, python: str, case):
        from ragperf.subproc import drain, interrupts_held

        self.name, self.python, self.errors, self.hung = name, python, [], False
        with interrupts_held():
            self.proc = subprocess.Popen([python, "-m", __name__, *case.args()], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         env=knobs.subprocess_env(), start_new_session=True)
            self.reader = threading.Thread(target=drain, args=(self.proc.stderr, self.errors, None), daemon=True)
            self.reader.start()
        self.ready: dict = {}
        self.done: dict = {}

    def read(self) -> dict:
        from ragperf.subproc import TIMEOUT_ENV, last_line

        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.reader.join(timeout=5)
            why = (f"hung: killed after its timeout (set {TIMEOUT_ENV} to allow longer)" if self.hung else
                   f"exit {code}: {last_line(''.join(self.errors))}")
            raise RagperfError(f"the {self.name} side ({self.python} -m {__name__}) stopped - {why}")
        try:
            return json.loads(line)
        except ValueError:
            raise RagperfError(f"the {self.name} side ({self.python} -m {__name__}) answered {line.strip()[:80]!r}, "
                               f"not {SCHEMA}: install the same ragperf on both sides") from None

    def ask(self, request: dict) -> dict:
        with contextlib.suppress(BrokenPipeError):  # a side that died: read() says how
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        return self.read()

    def kill(self) -> None:
        """Its timeout passed: kill it and whatever it started (its own session), so :meth:`read` returns."""
        self.hung = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        from ragperf.subproc import stop

        if self.proc.poll() is None:
            stop(self.proc)
        with contextlib.suppress(ProcessLookupError):  # anything it left behind in its session
            os.killpg(self.proc.pid, signal.SIGKILL)


def pair(case, reference: str, candidate: str, slowdowns: list[float],
         progress: Callable[[str], None] | None = None) -> list[dict]:
    """One pair of processes - ``case`` on the ``reference`` and on the ``candidate`` interpreter - measuring one
    block per entry of ``slowdowns`` (the candidate's planted slowdown in that block): per block
    ``{"slowdown": s, "reference": figures, "candidate": figures}``."""
    from ragperf.subproc import job_timeout

    with contextlib.ExitStack() as stack:
        sides = {}
        for name, python in ((REFERENCE, reference), (CANDIDATE, candidate)):
            sides[name] = Side(name, python, case)
            stack.callback(sides[name].close)
        watchdog = threading.Timer(job_timeout(), lambda: [side.kill() for side in sides.values()])
        watchdog.daemon = True
        watchdog.start()
        stack.callback(watchdog.cancel)
        for side in sides.values():
            side.ready = side.read()
            if side.ready.get("schema") != SCHEMA:
                raise RagperfError(f"the {side.name} side ({side.python}) speaks {side.ready.get('schema')}, this "
                                   f"ragperf {SCHEMA}: install the same ragperf on both sides")
        pin([side.proc.pid for side in sides.values()], max(side.ready["threads"] for side in sides.values()))
        blocks = []
        for i, slowdown in enumerate(slowdowns):
            if progress:
                progress(f"{case.prefix}: block {i + 1}/{len(slowdowns)} of {case.rounds} lockstep rounds")
            seconds = {name: {"eager": [], "candidate": []} for name in sides}
            for k in range(case.rounds):
                for name in order(k):
                    reply = sides[name].ask({"slowdown": slowdown if name == CANDIDATE else 0.0})
                    for arm in ("eager", "candidate"):
                        seconds[name][arm].append(reply[arm])
            blocks.append({"slowdown": slowdown, **seconds})
        for side in sides.values():
            side.done = side.ask({"done": True})
            timing.check_quiet(side.done["recompiles_while_timed"], side.ready["warmup_calls"])
        return [{"slowdown": b["slowdown"], **{name: _figures(case, sides[name], b[name]) for name in sides}}
                for b in blocks]


def _figures(case, side: Side, seconds: dict[str, list[float]]) -> dict:
    eager, candidate = timing.Samples("eager", seconds["eager"]), timing.Samples("candidate", seconds["candidate"])
    ready = side.ready
    comparison = timing.Comparison(eager, candidate, timing.speedup(eager, candidate, seed=case.seed),
                                   ready["first_call_s"], ready["warmup_calls"], ready["graphs"],
                                   side.done["recompiles_while_timed"], ready["calls_per_round"])
    return {"case": case.prefix, **comparison.figures(), **side.done["figures"]}


def serve(case, requests, reply: Callable[[dict], None]) -> None:
    """The worker: build ``case``, compile, warm up, reply ready; then one round per ``{"slowdown": f}`` request
    (eager and the candidate slowed by ``f``: their seconds per call), until ``{"done": true}``, answered with the
    graphs compiled while timing and, for decode, :meth:`ragperf.perf.cases.Case.token_figures`."""
    import torch

    clock = clocks.active()
    device = torch.device(case.device)
    eager, candidate = (clock.charged(fn) for fn in case.callables())
    first_call_s, warmup_calls, graphs, calls = timing.prepare(eager, candidate, device)
    reply({"schema": SCHEMA, "first_call_s": first_call_s, "warmup_calls": warmup_calls, "graphs": graphs,
           "calls_per_round": calls, "threads": torch.get_num_threads()})
    for index, line in enumerate(requests):
        request = json.loads(line)
        if "slowdown" not in request:
            break
        slowed = timing.slowed(candidate, request["slowdown"])
        eager(), slowed()  # untimed: this core's caches hold the other side's data
        samples = timing.interleaved({"eager": eager, "candidate": slowed}, 1, calls_per_round=calls,
                                     seed=case.seed + index, device=device)
        reply({arm: samples[arm].seconds[0] for arm in samples})
    recompiles = timing.compile_count() - graphs
    extra = case.token_figures(eager(), candidate()) if case.kind == "decode" else {}
    reply({"recompiles_while_timed": recompiles, "figures": extra})


def main(argv: list[str] | None = None) -> None:
    from ragperf.perf.cases import add_case_arguments, case_from_args

    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__)
    add_case_arguments(parser)
    case = case_from_args(parser.parse_args(argv))
    protocol = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not reach the protocol stream

    def reply(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    serve(case, sys.stdin, reply)


if __name__ == "__main__":
    from ragperf.subproc import honour_interrupts, interrupted_exit

    honour_interrupts()  # the parent's stop (SIGTERM) unwinds the side like Ctrl-C
    try:
        main()
    except KeyboardInterrupt as exc:
        sys.exit(interrupted_exit(exc))
