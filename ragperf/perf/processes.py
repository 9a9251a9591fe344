"""Several fresh processes per gated case: per-process figures combined into one, the noise term
being the spread *between* processes.

Within one process eager and candidate are interleaved, so load bursts cancel in the ratio; what
stays is the process's own draw (memory layout, thread placement, what the compiler chose): a
process's speedup is a sample of that distribution, and the run-to-run variation of the gate is
the variation of the median of N such samples. So:

* **value**: the median of the N per-process speedups (and of the per-process median latencies);
* **spread** (``process_sd``): the robust standard deviation between processes, relative to the
  median - ``scipy.stats.median_abs_deviation(x, scale="normal") / median(x)`` (1.4826 x MAD);
* **se** of the median of N: ``1.2533 * spread / sqrt(N)`` (the median's asymptotic efficiency
  against the mean under a normal spread), floored by the processes' own within-run se over
  ``sqrt(N)`` so that N processes that happen to agree still carry their measured jitter.

With N = 1 the figures are the single process's own (the within-run bootstrap se).
"""

from __future__ import annotations

import math
import statistics

import numpy as np

DEFAULT = 3  # processes per gated case; docs/perf.md "Several processes per case" says why
# Cold/warm process pairs per compile-time case: at 3 a planted 10% compile slowdown was caught in 12 of 16
# runs on the 2-core VM, at 5 in 9 of 10 with A/A 0/20 (docs/perf.md, the compile-time campaign).
COMPILE_DEFAULT = 5
MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)  # 1.2533: se(median) / se(mean) for a normal spread


def spread(values: list[float]) -> float:
    """Robust relative standard deviation of ``values`` (1.4826 x MAD / median); 0 for fewer than 2."""
    from scipy.stats import median_abs_deviation

    if len(values) < 2:
        return 0.0
    return float(median_abs_deviation(np.asarray(values), scale="normal") / np.median(values))


def se_of_median(sd: float, n: int) -> float:
    """Relative standard error of a median of ``n`` samples whose relative sd is ``sd``."""
    return MEDIAN_EFFICIENCY * sd / math.sqrt(max(n, 1))


def combine(runs: list[dict]) -> dict:
    """One figures dict (:meth:`ragperf.perf.timing.Comparison.figures` keys) from per-process ``runs``.

    ``speedup``/``median_s`` become the medians over processes, ``speedup_se``/``latency_se`` the
    between-process se of those medians (see the module docstring), ``speedup_low``/``high`` the
    normal 95% interval around the median; ``processes`` keeps each process's figures.
    """
    if len(runs) == 1:
        return {**runs[0], "processes": [_per_process(runs[0])]}
    n = len(runs)
    out = dict(runs[0])  # non-statistical keys (case, rounds, graphs, ...) from the first process
    for key, se_key in (("speedup", "speedup_se"), ("median_s", "latency_se")):
        values = [r[key] for r in runs]
        within = statistics.median(r[se_key] for r in runs) / math.sqrt(n)
        out[key] = statistics.median(values)
        out[f"{key}_process_sd"] = spread(values)
        out[se_key] = max(se_of_median(out[f"{key}_process_sd"], n), within)
    out["speedup_low"] = out["speedup"] * (1 - 1.96 * out["speedup_se"])
    out["speedup_high"] = out["speedup"] * (1 + 1.96 * out["speedup_se"])
    for key in ("eager_median_s", "first_call_s", "p90_s", "eager_p90_s"):
        if key in runs[0]:
            out[key] = statistics.median(r[key] for r in runs)
    out["recompiles_while_timed"] = max(r["recompiles_while_timed"] for r in runs)
    out["processes"] = [_per_process(r) for r in runs]
    return out


def _per_process(figures: dict) -> dict:
    return {k: figures[k] for k in ("speedup", "speedup_se", "median_s", "latency_se", "eager_median_s")
            if k in figures}


def measure(case, processes: int, *, slowdown: float = 0.0, first: dict | None = None) -> dict:
    """``case`` measured in ``processes`` processes and combined: ``first`` (figures already measured,
    e.g. in the pytest process through pytest-benchmark) counts as one, the rest are fresh children
    run one after another (never side by side: they would share the cores)."""
    runs = [first] if first is not None else []
    while len(runs) < processes:
        runs.append(case.measure_fresh(slowdown))
    return combine(runs)
