"""Open-loop load: requests sent on a Poisson schedule whatever the server does, timed from their schedule.

A closed-loop user waits for each answer before sending the next, so an overloaded server slows the
load down and its latency is understated (coordinated omission). Here request i is due at its scheduled
time ``t_i`` (exponential gaps of mean ``1 / rate``, seeded; ``rate = inf`` sends all at once), is sent then
on a fresh connection whatever is still in flight, and every latency is measured from ``t_i`` - a client
that falls behind its schedule counts against the server's figures, never in their favour.

Measures, as vLLM's ``bench serve`` defines them (per request, then over requests):

- **TTFT** - time to first token: schedule -> first token event;
- **TPOT** - time per output token after the first: ``(e2e - TTFT) / (tokens - 1)``, for requests of > 1 token;
- **ITL** - inter-token latency: every gap between consecutive token events, over all requests;
- **e2e** - schedule -> last event of the stream;
- **request throughput** - completed requests / duration (first schedule -> last completion);
- **goodput** - completed requests meeting every SLO given (``ttft``, ``tpot``, ``e2e`` in ms) / duration.

:func:`run_open_loop` drives any per-request coroutine (the LLM endpoint alone, or the whole chain of
:mod:`ragperf.serve.chain`), bounded in requests and seconds; :func:`summarize` turns records into figures.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from ragperf.errors import RagperfError

SLO_KEYS = ("ttft", "tpot", "e2e")
PERCENTILES = (50, 95, 99)
MAX_REQUESTS = 10_000


@dataclass
class Record:
    """One request: seconds after its scheduled send time for each event; ``error`` when it failed."""

    scheduled_s: float  # after the run's start
    token_s: list[float] = field(default_factory=list)  # each token's arrival, after the schedule
    end_s: float = math.nan
    tokens: list[int] = field(default_factory=list)
    error: str | None = None
    stages: dict[str, float] = field(default_factory=dict)  # seconds per named stage (the chain's)
    answer: dict = field(default_factory=dict)  # what the request got back (the chain's top-k, for checks)

    @property
    def ttft_s(self) -> float:
        return self.token_s[0] if self.token_s else math.nan

    @property
    def tpot_s(self) -> float:
        return (self.end_s - self.ttft_s) / (len(self.token_s) - 1) if len(self.token_s) > 1 else math.nan

    @property
    def itl_s(self) -> list[float]:
        return [b - a for a, b in zip(self.token_s, self.token_s[1:], strict=False)]


def parse_slo(text: str) -> dict[str, float]:
    """``ttft:MS,tpot:MS,e2e:MS`` (any subset) -> {key: seconds}; RagperfError with the form otherwise."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        key, _, value = part.partition(":")
        try:
            ms = float(value)
        except ValueError:
            ms = math.nan
        if key not in SLO_KEYS or not math.isfinite(ms) or ms <= 0 or key in out:
            raise RagperfError(f"--slo {text!r}: give each of {', '.join(SLO_KEYS)} at most once as KEY:MS with MS "
                               "> 0, comma-separated, e.g. ttft:500,tpot:50,e2e:2000")
        out[key] = ms / 1e3
    return out


def schedule(rate: float, requests: int, seed: int = 0) -> list[float]:
    """Send times (s after start) of ``requests`` Poisson arrivals at ``rate``/s; all at 0 for ``inf``."""
    if not rate > 0 or not 1 <= requests <= MAX_REQUESTS:
        raise RagperfError(f"open-loop load needs a rate > 0 (inf: all at once) and 1..{MAX_REQUESTS} requests "
                           f"(got {rate}/s, {requests})")
    if math.isinf(rate):
        return [0.0] * requests
    draw = random.Random(seed)
    times, now = [], 0.0
    for _ in range(requests):
        times.append(now)
        now += draw.expovariate(rate)
    return times


async def stream_generate(client, url: str, prompt: str, max_tokens: int, record: Record, start: float) -> None:
    """POST ``/generate`` and read its events into ``record`` (times after ``start``, the schedule)."""
    async with client.stream("POST", f"{url}/generate", json={"prompt": prompt, "max_tokens": max_tokens}) as answer:
        if answer.status_code != 200:
            body = (await answer.aread()).decode("utf-8", "replace")
            record.error = f"{answer.status_code}: {_reason(body)}"
            return
        async for line in answer.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if "token" in event:
                record.token_s.append(time.perf_counter() - start)
                record.tokens.append(int(event["token"]))
            elif "error" in event:
                record.error = str(event["error"])
                return
            elif event.get("done"):
                return
    record.error = record.error or "the stream ended without its done event"


def _reason(body: str) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body.strip().splitlines()[0] if body.strip() else "(empty body)"


def generate_request(url: str, prompts: list[str], max_tokens: int) -> Callable:
    """The per-request coroutine for the LLM endpoint alone: prompt ``i % len(prompts)``."""

    async def one(client, i: int, record: Record, start: float) -> None:
        await stream_generate(client, url, prompts[i % len(prompts)], max_tokens, record, start)
    return one


def run_open_loop(request: Callable[..., Awaitable[None]], rate: float, requests: int, max_seconds: float,
                  seed: int = 0) -> tuple[list[Record], float]:
    """Send ``requests`` requests on a Poisson schedule at ``rate``; returns (records, duration s).

    ``request(client, i, record, start)`` fills ``record``; ``start`` is its scheduled time on
    ``time.perf_counter``. A request still running ``max_seconds`` after the first is cancelled and counted
    as an error, so a run never exceeds its bound."""
    if not max_seconds > 0 or math.isinf(max_seconds):
        raise RagperfError(f"open-loop load needs a finite bound in seconds (got {max_seconds})")
    return asyncio.run(_drive(request, schedule(rate, requests, seed), max_seconds))


async def _drive(request, times: list[float], max_seconds: float) -> tuple[list[Record], float]:
    import httpx

    # A fresh connection per request (as the locust load): the kernel hands it to an idle worker.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    timeout = httpx.Timeout(max_seconds, connect=max_seconds)
    records = [Record(t) for t in times]
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        begin = time.perf_counter()

        async def one(i: int, record: Record) -> None:
            start = begin + record.scheduled_s
            await asyncio.sleep(max(0.0, start - time.perf_counter()))
            try:
                await request(client, i, record, start)
            except Exception as exc:  # noqa: BLE001 - a failed request is a counted error, not the end of the run
                record.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            record.end_s = time.perf_counter() - start

        tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(records)]
        _, pending = await asyncio.wait(tasks, timeout=max_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        duration = time.perf_counter() - begin
    for record in records:
        if record.error is None and math.isnan(record.end_s):
            record.error = f"not finished within the run's bound of {max_seconds:.0f} s"
    return records, duration


def summarize(records: list[Record], duration: float, slo: dict[str, float] | None = None,
              rate: float = math.inf) -> dict:
    """Request throughput, TTFT/TPOT/ITL/e2e means and percentiles (ms), errors, goodput under ``slo``."""
    ok = [r for r in records if r.error is None]
    out = {"offered_rate": rate, "requests": len(records), "completed": len(ok), "errors": len(records) - len(ok),
           "duration_s": duration, "request_throughput": len(ok) / duration if duration > 0 else math.nan,
           "output_tokens": sum(len(r.tokens) for r in ok),
           "error_reasons": _count(r.error for r in records if r.error)}
    values = {"ttft": [r.ttft_s for r in ok], "tpot": [r.tpot_s for r in ok if len(r.token_s) > 1],
              "itl": [g for r in ok for g in r.itl_s], "e2e": [r.end_s for r in ok]}
    for name, seconds in values.items():
        finite = np.array([s for s in seconds if math.isfinite(s)]) * 1e3
        out[f"{name}_mean_ms"] = float(finite.mean()) if finite.size else math.nan
        for p in PERCENTILES:
            out[f"{name}_p{p}_ms"] = float(np.percentile(finite, p)) if finite.size else math.nan
    out["output_throughput"] = out["output_tokens"] / duration if duration > 0 else math.nan
    if slo:
        good = [r for r in ok if all(_within(r, key, limit) for key, limit in slo.items())]
        out["slo"] = {k: v * 1e3 for k, v in slo.items()}
        out["goodput"] = len(good) / duration if duration > 0 else math.nan
        out["good"] = len(good)
    return out


def _within(record: Record, key: str, limit_s: float) -> bool:
    value = {"ttft": record.ttft_s, "tpot": record.tpot_s, "e2e": record.end_s}[key]
    if key == "tpot" and len(record.token_s) < 2:
        return True  # one token: no time per output token to hold to (vLLM counts it as 0)
    return math.isfinite(value) and value <= limit_s


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out
