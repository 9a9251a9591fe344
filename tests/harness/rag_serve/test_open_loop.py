"""Open-loop load (ragperf.serve.open_loop): the schedule, vLLM's metric definitions, goodput, no coordinated omission.

No server: records are built by hand, or filled by a request coroutine the test controls.
"""

from __future__ import annotations

import asyncio
import math
import statistics

import pytest

from ragperf.errors import RagperfError
from ragperf.serve.chain import fit_prompt
from ragperf.serve.generate import prompt_tokens
from ragperf.serve.open_loop import Record, parse_slo, run_open_loop, schedule, summarize


def test_the_schedule_is_poisson_at_the_rate_seeded_and_inf_sends_all_at_once():
    times = schedule(50.0, 5000, seed=3)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times[0] == 0.0 and all(g > 0 for g in gaps)
    assert statistics.mean(gaps) == pytest.approx(1 / 50, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(1 / 50, rel=0.08)  # exponential: sd = mean
    assert schedule(50.0, 5000, seed=3) == times and schedule(50.0, 5000, seed=4) != times
    assert schedule(math.inf, 4) == [0.0] * 4


@pytest.mark.parametrize(("rate", "requests"), [(0.0, 5), (-1.0, 5), (math.nan, 5), (2.0, 0), (2.0, 10_001)])
def test_a_schedule_out_of_bounds_is_refused(rate, requests):
    with pytest.raises(RagperfError, match="rate > 0"):
        schedule(rate, requests)


def test_metrics_follow_vllm_definitions():
    a = Record(0.0, token_s=[0.1, 0.15, 0.3], end_s=0.3, tokens=[1, 2, 3])  # TPOT (0.3 - 0.1) / 2 = 0.1
    b = Record(0.5, token_s=[0.2], end_s=0.25, tokens=[7])  # one token: no TPOT, no ITL
    failed = Record(1.0, error="500: boom")
    out = summarize([a, b, failed], duration=2.0, slo={"ttft": 0.15, "tpot": 0.2, "e2e": 1.0})
    assert out["completed"] == 2 and out["errors"] == 1 and out["error_reasons"] == {"500: boom": 1}
    assert out["request_throughput"] == pytest.approx(1.0) and out["output_throughput"] == pytest.approx(2.0)
    assert out["ttft_mean_ms"] == pytest.approx(150) and out["ttft_p50_ms"] == pytest.approx(150)
    assert out["tpot_mean_ms"] == pytest.approx(100)  # only the request of > 1 token
    assert out["itl_mean_ms"] == pytest.approx(100) and out["itl_p99_ms"] == pytest.approx(149.0)  # gaps 50, 150
    assert out["e2e_p50_ms"] == pytest.approx(275)
    assert out["good"] == 1 and out["goodput"] == pytest.approx(0.5)  # b's TTFT 200 ms is over 150
    assert summarize([a, b], 2.0, {"tpot": 0.05})["good"] == 1  # a's TPOT over; b has none to hold to


@pytest.mark.parametrize("text", ["ttft", "ttft:", "ttft:-3", "ttft:0", "ttft:inf", "ttft:nan", "latency:5",
                                  "ttft:5,ttft:6", ""])
def test_a_bad_slo_is_refused_with_the_form(text):
    with pytest.raises(RagperfError, match="ttft:500,tpot:50,e2e:2000"):
        parse_slo(text)


def test_parse_slo_reads_milliseconds():
    assert parse_slo("ttft:500,e2e:2000") == {"ttft": 0.5, "e2e": 2.0}


def test_latency_runs_from_the_scheduled_send_even_when_the_server_falls_behind():
    """Every request waits until the last one has started (a server serving them all at the end): the first
    request's latency must include the whole schedule's span - a closed-loop client would have hidden it."""
    times = schedule(40.0, 8, seed=1)
    state: dict = {"started": 0}

    async def request(client, i, record, start):
        gate = state.setdefault("gate", asyncio.Event())  # made inside the run's event loop
        state["started"] += 1
        if state["started"] == len(times):
            gate.set()
        await gate.wait()
        record.token_s.append(0.0)

    records, _ = run_open_loop(request, 40.0, 8, max_seconds=60, seed=1)
    assert [r.error for r in records] == [None] * 8
    assert records[0].end_s >= times[-1] - times[0]
    assert all(r.end_s >= times[-1] - r.scheduled_s for r in records)


def test_a_request_past_the_bound_is_an_error_and_the_run_ends():
    async def never(client, i, record, start):
        await asyncio.Event().wait()

    records, duration = run_open_loop(never, math.inf, 3, max_seconds=0.5)
    assert all("not finished within" in r.error for r in records) and duration < 30


def test_the_chain_prompt_fits_the_context_and_keeps_the_seed_template():
    texts = ["tides " * 200, "harbors " * 200, "lights " * 200]
    prompt = fit_prompt("Where is the logbook?", texts, max_tokens=32, context=512)
    assert len(prompt_tokens(prompt)) <= 512 - 32
    assert prompt.startswith("Use the following pieces of context") and prompt.endswith("Helpful Answer:")
    assert all(t.split()[0] in prompt for t in texts)  # every chunk keeps its share
    short = fit_prompt("Why?", ["one", "two"], max_tokens=32, context=512)
    assert "one" in short and "two" in short and len(prompt_tokens(short)) < 480
