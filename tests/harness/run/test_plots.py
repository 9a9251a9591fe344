"""The report's PNGs: they open, and the lines, bars and break-even marks they claim are drawn."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb

from ragperf.jobs import plots
from ragperf.jobs.decode import break_even_tokens, phase_row
from ragperf.models.generation import Generation

STEPS = 30


def _job(mode: str, batch_sizes, first: float, per_token: float, prefill: float = 0.2) -> dict:
    rows = []
    for bs in batch_sizes:
        steps = [first] + [per_token * bs] * (STEPS - 1)
        cold = Generation(torch.zeros(bs, STEPS), prefill, steps)
        warm = Generation(torch.zeros(bs, STEPS), prefill, [per_token * bs] * (STEPS - 1))
        rows.append(phase_row(bs, cold, warm))
    return {"mode": mode, "rows": rows}


@pytest.fixture
def jobs():
    return {"eager": _job("eager", (1, 8), 0.05, 0.05),
            "compile-decode": _job("compile-decode", (1, 8), 3.0, 0.02),
            "compile-prefill-decode": _job("compile-prefill-decode", (1, 8), 3.0, 0.021, prefill=3.0)}


def _pixels_of(path, color: str) -> int:
    image = mpimg.imread(path)[..., :3]
    return int(np.all(np.abs(image - np.array(to_rgb(color))) < 0.02, axis=-1).sum())


def test_decode_latency_draws_each_mode_per_batch_size(tmp_path, jobs):
    path = plots.decode_latency(jobs, tmp_path / "latency.png", "per-token decode latency")
    image = mpimg.imread(path)
    assert image.shape[1] > image.shape[0] * 1.5  # one panel per batch size, side by side
    for mode in jobs:
        assert _pixels_of(path, plots.MODE_STYLE[mode][0]) > 100, f"no {mode} line"


def test_cumulative_time_marks_the_break_even(tmp_path, jobs):
    rows = {mode: job["rows"][0] for mode, job in jobs.items()}  # batch size 1
    marks = plots.break_even_marks(rows)
    assert marks["compile-decode"] == pytest.approx(break_even_tokens(rows["eager"], rows["compile-decode"]))
    assert marks["compile-decode"] > STEPS  # beyond the measured tokens: the lines are extended to it
    path = plots.cumulative_time(jobs, tmp_path / "cumulative.png", "cumulative time")
    for mode in jobs:
        assert _pixels_of(path, plots.MODE_STYLE[mode][0]) > 100, f"no {mode} line"
    slower = {m: _job(m, (1,), 3.0, 0.06) if m != "eager" else job for m, job in jobs.items()}
    assert set(plots.break_even_marks({m: j["rows"][0] for m, j in slower.items()}).values()) == {None}
    assert plots.cumulative_time(slower, tmp_path / "none.png", "cumulative time").stat().st_size > 10_000


def test_ladder_bars_color_speedups_and_slowdowns(tmp_path):
    rows = [{"variant": "compile", "eager_median_s": 0.010, "median_s": 0.012, "speedup": 0.83,
             "speedup_low": 0.8, "speedup_high": 0.86},
            {"variant": "compile+freeze", "eager_median_s": 0.010, "median_s": 0.006, "speedup": 1.66,
             "speedup_low": 1.6, "speedup_high": 1.7}]
    path = plots.ladder_bars(rows, tmp_path / "ladder.png", "ladder")
    assert _pixels_of(path, "tab:gray") > 500 and _pixels_of(path, "tab:red") > 500
    assert 0 < _pixels_of(path, "tab:green") < _pixels_of(path, "tab:red")  # the faster bar is shorter
