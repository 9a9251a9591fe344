"""Lockstep pairs planned from measured noise (ragperf.perf.sequential, ragperf.perf.ab.decide_planned): the plan
matches the closed-form power calculation, synthetic A/A streams rarely alarm, a planted 2% is caught, a clear
answer stops early, a budget says what it can see, and every count is bounded. Synthetic pair streams on a virtual
clock: seeded, no process started, no time slept."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragperf.perf import ab, gate, sequential

DETECT = 0.02


class Stream:
    """Pairs whose regression log(reference/candidate speedup) is N(log(1 + slowdown), sigma); each pair costs
    ``pair_s`` seconds of the virtual clock."""

    def __init__(self, slowdown: float, sigma: float, seed: int, pair_s: float = 30.0):
        self.rng, self.mu, self.sigma, self.pair_s = np.random.default_rng(seed), math.log1p(slowdown), sigma, pair_s
        self.t, self.pairs = 0.0, 0

    def __call__(self) -> tuple[dict, dict]:
        self.t += self.pair_s
        self.pairs += 1
        draw = self.rng.normal(self.mu, self.sigma)
        shared = self.rng.lognormal(0, 0.05)  # the pair's machine state: both sides alike
        return ({"speedup": 1.3 * shared, "speedup_se": 0.002, "median_s": 0.01 / shared, "latency_se": 0.002},
                {"speedup": 1.3 * shared * math.exp(-draw), "speedup_se": 0.002,
                 "median_s": 0.01 / shared * math.exp(draw), "latency_se": 0.002})

    def clock(self) -> float:
        return self.t


def _run(stream: Stream, detect=DETECT, **kw):
    return sequential.run(stream, detect, clock=stream.clock, **kw)[2]


@pytest.mark.parametrize(("effect_size", "power", "textbook"), [(0.5, 0.90, 35), (0.5, 0.80, 25), (1.0, 0.90, 9)])
def test_the_plan_is_the_closed_form_one_sided_sample_size(effect_size, power, textbook):
    """n = ((z_0.95 + z_power) / (theta / sigma))^2, rounded up: 34.3 -> 35, 24.7 -> 25, 8.6 -> 9 (textbook tables
    of the one-sided one-sample z-test at alpha 5%)."""
    sigma = math.log1p(DETECT) / effect_size
    assert sequential.pairs_needed(DETECT, sigma, power=power) == textbook
    assert sequential.detectable(sigma / math.sqrt(textbook), power=power) <= DETECT  # n pairs see the change
    assert sequential.detectable(sigma / math.sqrt(textbook - 1), power=power) > DETECT  # one fewer does not


def test_the_plan_comes_from_the_noise_the_pilot_pairs_measured():
    stream = Stream(0.0, 0.02, seed=1)
    reference, candidate, outcome = sequential.run(stream, DETECT, clock=stream.clock)
    pilot = [sequential.regression(r, c) for r, c in zip(reference[:3], candidate[:3], strict=True)]
    assert outcome.planned == sequential.pairs_needed(DETECT, sequential.sigma_upper(pilot, 0.002 * math.sqrt(2)))
    assert f"planned {outcome.planned} for a 2.0% change" in outcome.line() or "no early stop" in outcome.line()
    assert "noise of one pair" in outcome.line() and "from 3 pairs" in outcome.line()


@pytest.mark.parametrize("sigma", [0.005, 0.01, 0.02])
def test_a_a_streams_rarely_alarm_and_a_planted_2_percent_is_caught(sigma):
    aa = [_run(Stream(0.0, sigma, seed)) for seed in range(200)]
    planted = [_run(Stream(DETECT, sigma, 10_000 + seed)) for seed in range(200)]
    false_alarms = sum(o.status == sequential.FAIL for o in aa) / len(aa)
    caught = sum(o.status == sequential.FAIL for o in planted) / len(planted)
    assert false_alarms <= 0.07, false_alarms  # alpha 5%; 200 streams: 0.07 is 1.3 binomial sds above
    assert caught >= 0.90, caught  # power 90%
    assert max(o.pairs for o in aa + planted) <= sequential.MAX_PAIRS


def test_a_clear_answer_stops_early_and_a_close_one_runs_longer():
    clear = [_run(Stream(0.10, 0.01, seed)) for seed in range(20)]
    assert all(o.status == sequential.FAIL for o in clear)
    assert np.median([o.pairs for o in clear]) == 3  # a 10% slowdown: the pilot's 3 pairs mostly say so
    close = [_run(Stream(0.01, 0.02, seed)) for seed in range(20)]  # halfway between no change and 2%
    assert np.mean([o.pairs for o in close]) > np.mean([o.pairs for o in clear]) + 3


def test_a_change_too_small_for_the_cap_says_what_the_cap_can_see():
    outcome = _run(Stream(0.0, 0.2, seed=3), detect=0.005)
    assert outcome.pairs <= sequential.MAX_PAIRS
    assert f"capped at {sequential.MAX_PAIRS}: the smallest change {sequential.MAX_PAIRS} pairs can see is" \
           in outcome.line()


def test_a_budget_measures_the_pairs_it_affords_and_says_what_they_can_see():
    stream = Stream(0.0, 0.01, seed=4, pair_s=30.0)
    outcome = _run(stream, detect=None, budget_s=300)
    assert stream.pairs == outcome.pairs == 10 and outcome.status == ""  # judged by the gate's rule, not here
    assert "the budget of 300 s affords 10 pairs: the smallest change they can see is" in outcome.line()
    tight = Stream(0.0, 0.05, seed=5, pair_s=30.0)
    planned = _run(tight, budget_s=120)  # a 2% change at 5% noise needs far more than 4 pairs
    assert tight.pairs <= 4 and "the budget affords 4" in planned.line()


def test_the_planned_judgement_calls_the_speedup_by_the_sequential_rule_and_says_so():
    decisions = ab.decide_planned("embed/tiny-bert/compile", Stream(DETECT, 0.005, seed=6), detect=DETECT)
    speedup = next(d for d in decisions if d.measured.kind == "speedup")
    assert speedup.status == gate.FAIL and speedup.bound == DETECT and speedup.band == 0.0
    assert "sequential test: FAIL after" in speedup.message
    assert "the smallest change" in speedup.message
    same = ab.decide_planned("embed/tiny-bert/compile", Stream(0.0, 0.005, seed=7), detect=DETECT)
    assert {d.status for d in same} == {gate.PASS}


def test_every_ab_judgement_says_the_smallest_change_its_pairs_could_see():
    stream = Stream(0.0, 0.01, seed=8)
    pairs = [stream() for _ in range(3)]
    decisions = ab.judge("embed/tiny-bert/compile", [p[0] for p in pairs], [p[1] for p in pairs])
    for d in decisions:
        shown = float(d.message.split("the smallest change 3 pairs could see: ")[1].split("%")[0]) / 100
        assert shown == pytest.approx(sequential.detectable(d.measured.se), abs=5e-4)
