"""Load from locust in headless mode: C users in a closed loop against a loopback server, bounded in seconds.

:func:`run_load` runs ``locust --headless`` in a child process (locust monkey-patches the process with
gevent; torch must not share it), for its seconds and at least its ``min_requests`` (the locustfile quits
then), bounded by a hard timeout, and reads its CSV stats:
requests, failures (with locust's reason for each kind, e.g. a connection reset by a worker that died),
req/s, p50/p90/p99 latency.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ragperf import knobs
from ragperf.errors import RagperfError
from ragperf.subproc import last_line

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass
class LoadResult:
    users: int
    seconds: float
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    failure_reasons: dict[str, int] = field(default_factory=dict)  # locust's error text -> occurrences

    def to_dict(self) -> dict:
        return asdict(self)


def run_load(url: str, users: int, seconds: float, k: int = 5, min_requests: int = 1,
             keep_alive: bool = False) -> LoadResult:
    """``users`` closed-loop users against ``url`` (must be loopback) for ``seconds`` and at least until
    ``min_requests`` requests have finished; RagperfError when that takes over ``seconds + 60``.

    Each request goes on a new connection unless ``keep_alive`` (each user then keeps one connection, so
    its requests stay with one worker: what the worker-kill test needs, not what a measurement wants)."""
    if not url.startswith("http://127.0.0.1:"):
        raise RagperfError(f"load goes to loopback only (got {url})")
    if users < 1 or seconds <= 0:
        raise RagperfError(f"load needs at least 1 user and a positive duration (got {users} users, {seconds} s)")
    with tempfile.TemporaryDirectory(prefix="ragperf-load-") as tmp:
        prefix = Path(tmp) / "load"
        cmd = [sys.executable, "-m", "locust", "--headless", "-f", str(LOCUSTFILE), "--host", url,
               "--users", str(users), "--spawn-rate", str(users),
               "--stop-timeout", "5", "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
               "--exit-code-on-error", "0"]
        env = knobs.subprocess_env({"RAGPERF_LOAD_K": str(k), "RAGPERF_LOAD_SECONDS": str(seconds),
                                    "RAGPERF_LOAD_MIN_REQUESTS": str(min_requests),
                                    "RAGPERF_LOAD_KEEP_ALIVE": "1" if keep_alive else "0",
                                    "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            raise RagperfError(f"locust did not finish within {seconds + 60:.0f} s ({min_requests} request(s) "
                               "wanted): is the server answering?") from None
        stats = Path(f"{prefix}_stats.csv")
        if done.returncode != 0 or not stats.is_file():
            raise RagperfError(f"locust failed (exit {done.returncode}): {last_line(done.stderr)}")
        return _parse(stats, users, seconds, Path(f"{prefix}_failures.csv"))


def _parse(path: Path, users: int, seconds: float, failures: Path | None = None) -> LoadResult:
    with path.open(encoding="utf-8") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    reasons: dict[str, int] = {}
    if failures is not None and failures.is_file():
        with failures.open(encoding="utf-8") as f:
            for failure in csv.DictReader(f):
                reasons[failure["Error"]] = reasons.get(failure["Error"], 0) + int(failure["Occurrences"])
    row = rows.get("Aggregated") or rows.get("/retrieve")
    if row is None:
        raise RagperfError(f"locust wrote no stats row to {path}")
    return LoadResult(users=users, seconds=seconds, requests=int(row["Request Count"]),
                      failures=int(row["Failure Count"]), rps=float(row["Requests/s"]),
                      p50_ms=_ms(row["50%"]), p90_ms=_ms(row["90%"]), p99_ms=_ms(row["99%"]),
                      failure_reasons=reasons)


def _ms(cell: str) -> float:
    """A percentile cell: locust writes "N/A" (or nothing) when no request finished."""
    try:
        return float(cell)
    except (TypeError, ValueError):
        return float("nan")
