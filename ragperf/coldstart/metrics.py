"""The cold-start perf metrics: first calls of the start paths, for the perf gate (:mod:`ragperf.perf.gate`).

Per rung or decode mode ``V`` of model ``M`` (prefix ``coldstart/M/V``, ``@backend`` off Inductor):

=====================================  ========  ================================================================
``.../cold/first_call_s``              latency   the empty-cache first call, seconds (per-machine, like ``median_s``)
``.../warm/start_speedup``             speedup   cold first call / warm-local-cache first call
``.../megacache/start_speedup``        speedup   cold first call / carried-Mega-Cache first call
``.../aoti/start_speedup``             speedup   cold first call / AOTInductor-package first call
=====================================  ========  ================================================================

The three ``start_speedup`` ratios divide two first calls of the same machine, measured minutes apart,
so they hold across machine speeds; only the cold seconds are absolute. A start that fell back (no
Mega-Cache to carry: the frozen rungs; a refused package) or failed (no package: dynamic-cache
decode modes) measured something else and yields no metric. Each figure is the median over
``repeats`` independent matrices (fresh processes, fresh cache dirs); its relative standard error
comes from their spread (one matrix: se 1.0, "cannot tell", so a gated run needs repeats >= 2).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from ragperf.coldstart.start import PATHS
from ragperf.perf.gate import Measurement

GATED = tuple(p for p in PATHS if p != "cold")


def prefix(model: str, variant: str, backend: str = "inductor") -> str:
    return f"coldstart/{model}/{variant}" + ("" if backend == "inductor" else f"@{backend}")


def measurements(name: str, datas: Sequence[dict]) -> dict[str, Measurement]:
    """The metrics of one rung/mode from ``repeats`` results of :func:`~ragperf.coldstart.matrix.matrix`
    (each with that one variant); ``name`` is the :func:`prefix`."""
    runs = [next(iter(d["results"].values())) for d in datas]
    cold = [r["cold"]["first_call_s"] for r in runs if _usable(r.get("cold"))]
    out = {}
    if cold:
        out[f"{name}/cold/first_call_s"] = _measurement(f"{name}/cold/first_call_s", "latency", cold)
    for path in GATED:
        ratios = [r["cold"]["first_call_s"] / r[path]["first_call_s"] for r in runs
                  if _usable(r.get("cold")) and _usable(r.get(path))]
        if ratios:
            out[f"{name}/{path}/start_speedup"] = _measurement(f"{name}/{path}/start_speedup", "speedup", ratios)
    return out


def _usable(result: dict | None) -> bool:
    return bool(result) and "error" not in result and not result.get("fallback") and result["first_call_s"] > 0


def _measurement(name: str, kind: str, values: list[float]) -> Measurement:
    value = statistics.median(values)
    se = statistics.stdev(values) / statistics.fmean(values) / math.sqrt(len(values)) if len(values) > 1 else 1.0
    return Measurement(name, kind, value, se)  # no interval: a few processes give none worth the name
