"""The compile probe: what ``torch.compile`` did around a block of calls, and why.

::

    with CompileProbe() as probe:
        model(index_batch)
        model(query_batch)
    print(probe.report.summary())

A :class:`ProbeReport` holds graphs compiled, frames total/ok, ops captured, fallbacks to eager,
graph breaks with reasons, each recompile with its guard-failure reason, compile time split into
Dynamo and backend (Inductor), and FX-graph / AOTAutograd cache hits, misses and bypasses.

Sources, all deltas over the block (torch 2.13 leaves ``counters["recompiles"]`` empty, so it is
not one of them): ``counters["stats"]`` (``unique_graphs``, ``calls_captured``), ``counters["frames"]``,
``counters["graph_break"]``/``["unimplemented"]``, the Inductor/AOTAutograd cache counters, and the
entries ``get_compilation_metrics()`` gained (``recompile_reason``, ``fail_reason``, compile times).

A graph count alone lies: ``mark_unbacked`` on torch 2.13 yields one graph while whole frames fall
back to eager. :attr:`ProbeReport.clean` is False whenever a frame fell back or the graph broke.

:func:`steady_state` is the gate for a window after warm-up: any recompile inside it raises
:class:`RecompileInSteadyState` with the guard failures, e.g. ``size mismatch at index 0. expected
16, actual 1``. :func:`steady_decode` adds CUDA graphs: a re-recording or a skip fails it too
(:attr:`ProbeReport.cudagraphs` reports them, with the graph pools' memory).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch

from ragperf.compile.cudagraphs import CudaGraphReport, CudaGraphWatch, steady_graphs

COUNT_FIELDS = ("graphs", "frames_total", "frames_ok", "fallbacks", "ops_captured", "graph_breaks", "recompiles")
_CACHE_COUNTERS = {
    "fxgraph_hit": ("inductor", "fxgraph_cache_hit"),
    "fxgraph_miss": ("inductor", "fxgraph_cache_miss"),
    "fxgraph_bypass": ("inductor", "fxgraph_cache_bypass"),
    "autograd_hit": ("aot_autograd", "autograd_cache_hit"),
    "autograd_miss": ("aot_autograd", "autograd_cache_miss"),
    "autograd_bypass": ("aot_autograd", "autograd_cache_bypass"),
}
_ZERO_ONE = re.compile(r"expected \d+, actual [01]\b|0/1 specialization|\b2 <= \S*size\(\)")
_ARITY = re.compile(r"^\S+: len\((args|kwargs)\) == \d+")  # a wrapper's *args/**kwargs count (the guard itself)


@dataclass(frozen=True)
class Recompile:
    """One recompile: the first failed guard of each cache entry, as Dynamo reports it."""

    reason: str

    @property
    def kind(self) -> str:
        """``0/1-specialization``, ``shape``, ``kv-cache-state``, ``grad-mode``, ``dispatch-keys``, ``call-arity``
        or ``other``."""
        if _ZERO_ONE.search(self.reason):
            return "0/1-specialization"
        if "size mismatch" in self.reason or "stride mismatch" in self.reason:
            return "shape"
        if "past_key_values" in self.reason:
            return "kv-cache-state"  # e.g. is_initialized flips at the first decode after an empty cache
        if "grad_mode" in self.reason:
            return "grad-mode"
        if "dispatch key set mismatch" in self.reason:
            return "dispatch-keys"  # e.g. an inference tensor after a normal one (inference_mode vs no_grad)
        if _ARITY.search(self.reason):
            return "call-arity"  # e.g. transformers 5.24's deprecation wrapper, traced as its own frame
        return "other"

    @property
    def hint(self) -> str:
        return _HINTS.get(self.kind, "")


_HINTS = {
    "0/1-specialization": "sizes 0 and 1 are always specialized (even with dynamic=True/mark_dynamic): "
                          "warm up at batch 1 too, or pad to >= 2",
    "shape": "a static size changed: warm up with a second size, or use dynamic=True / mark_dynamic",
    "kv-cache-state": "a guard on the KV cache object's state: warm up with one prefill + decode, or use a "
                      "static cache",
    "grad-mode": "grad mode differs from the compile: call under the same no_grad/inference_mode",
    "call-arity": "a traced Python wrapper (e.g. a deprecation decorator) was called with another number of "
                  "positional/keyword arguments: call the model the same way each time",
    "dispatch-keys": "inference tensors vs normal tensors: build index and query inputs under the same "
                     "inference_mode/no_grad",
}


@dataclass
class ProbeReport:
    """What torch.compile did over one probed block (all counts are deltas over the block)."""

    graphs: int = 0
    frames_total: int = 0
    frames_ok: int = 0
    ops_captured: int = 0
    graph_breaks: int = 0
    break_reasons: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # what Dynamo could not trace (breaks or fallbacks)
    fallback_reasons: list[str] = field(default_factory=list)
    recompile_list: list[Recompile] = field(default_factory=list)
    ops_per_graph: list[int] = field(default_factory=list)
    dynamo_s: float = 0.0
    backend_s: float = 0.0
    inductor_s: float = 0.0
    cache: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # a compile that raised (e.g. fullgraph=True on a graph break)
    cudagraphs: CudaGraphReport = field(default_factory=CudaGraphReport)  # see ragperf.compile.cudagraphs

    @property
    def fallbacks(self) -> int:
        """Frames Dynamo gave up on: they ran eagerly ("Failed to handle graph break gracefully")."""
        return self.frames_total - self.frames_ok

    @property
    def recompiles(self) -> int:
        return len(self.recompile_list)

    @property
    def clean(self) -> bool:
        """Everything traced: no fallback to eager, no graph break, no compile error."""
        return self.fallbacks == 0 and self.graph_breaks == 0 and self.error is None

    def counts(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in COUNT_FIELDS}

    def to_dict(self) -> dict:
        out = asdict(self)
        out["recompile_list"] = [{"reason": r.reason, "kind": r.kind} for r in self.recompile_list]
        out.update(fallbacks=self.fallbacks, recompiles=self.recompiles, clean=self.clean)
        return out

    def summary(self) -> str:
        """A few lines a person can act on; never calls a compile with fallbacks 'one graph' plainly."""
        lines = [f"graphs: {self.graphs}   frames: {self.frames_ok}/{self.frames_total} ok   "
                 f"ops captured: {self.ops_captured} {self.ops_per_graph or ''}".rstrip()]
        if self.error:
            lines.append(f"COMPILE ERROR: {self.error}")
        if self.fallbacks:
            lines.append(f"NOT A CLEAN COMPILE: {self.fallbacks} frame(s) fell back to eager; the graph count "
                         "hides code that runs uncompiled")
            lines += [f"  fallback: {_first_line(r)}" for r in self.fallback_reasons]
        lines.append(f"graph breaks: {self.graph_breaks}")
        lines += [f"  break: {_first_line(r)}" for r in self.break_reasons]
        lines += [f"  not traceable: {_first_line(r)}" for r in self.unsupported if r not in self.break_reasons]
        lines.append(f"recompiles: {self.recompiles}")
        for r in self.recompile_list:
            lines.append(f"  [{r.kind}] {_first_line(r.reason)}")
            if r.hint:
                lines.append(f"      hint: {r.hint}")
        lines.append(f"compile time: dynamo {self.dynamo_s:.2f} s, backend {self.backend_s:.2f} s "
                     f"(inductor {self.inductor_s:.2f} s)")
        caches = ", ".join(f"{k} {v}" for k, v in self.cache.items() if v)
        lines.append(f"caches: {caches or 'no cache activity'}")
        if self.cudagraphs.active or self.cudagraphs.pool_bytes:
            lines.append(self.cudagraphs.summary())
        return "\n".join(lines)


class CompileProbe:
    """Context manager recording a :class:`ProbeReport` (in ``.report``) over the calls inside it."""

    def __init__(self) -> None:
        self.report = ProbeReport()
        self._counters: dict[str, Counter] = {}
        self._metrics: list = []
        self._graphs = CudaGraphWatch()

    def __enter__(self) -> CompileProbe:
        from torch._dynamo.utils import counters, get_compilation_metrics

        self._counters = {k: Counter(v) for k, v in counters.items()}
        self._metrics = get_compilation_metrics()  # kept alive, so ids of old entries stay unique
        self._graphs.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._graphs.__exit__(*exc_info)
        self.report = self._collect()
        self.report.cudagraphs = self._graphs.report

    def _collect(self) -> ProbeReport:
        from torch._dynamo.utils import counters, get_compilation_metrics

        def delta(group: str) -> Counter:
            now, before = Counter(counters.get(group, {})), self._counters.get(group, Counter())
            diff = Counter({k: now[k] - before.get(k, 0) for k in now})
            return +diff  # drop zeros

        stats, frames = delta("stats"), delta("frames")
        breaks, unsupported = delta("graph_break"), delta("unimplemented")
        seen = {id(m) for m in self._metrics}
        new = [m for m in get_compilation_metrics() if id(m) not in seen]
        entire = sum(m.entire_frame_compile_time_s or 0.0 for m in new)
        backend = sum(m.backend_compile_time_s or 0.0 for m in new)
        return ProbeReport(
            graphs=stats["unique_graphs"],
            frames_total=frames["total"],
            frames_ok=frames["ok"],
            ops_captured=stats["calls_captured"],
            graph_breaks=sum(breaks.values()),
            break_reasons=list(breaks),
            unsupported=list(unsupported),
            fallback_reasons=[m.fail_reason for m in new if m.fail_type and m.fail_reason],
            recompile_list=[Recompile(m.recompile_reason) for m in new if m.recompile_reason],
            ops_per_graph=[m.graph_op_count for m in new if m.graph_op_count],
            dynamo_s=max(0.0, entire - backend),
            backend_s=backend,
            inductor_s=sum(m.inductor_compile_time_s or 0.0 for m in new),
            cache={name: delta(group)[key] for name, (group, key) in _CACHE_COUNTERS.items()},
        )


class RecompileInSteadyState(AssertionError):
    """A recompile inside a :func:`steady_state` window; the message carries the guard failures."""


@contextlib.contextmanager
def steady_state() -> Iterator[None]:
    """Fail on the first recompile inside the block (``set_stance("fail_on_recompile")``).

    Raises :class:`RecompileInSteadyState` whose message lists the failed guards.
    """
    try:
        with torch.compiler.set_stance("fail_on_recompile"):
            yield
    except RuntimeError as exc:
        text = str(exc)
        if "fail_on_recompile" not in text:
            raise
        failures = [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("- ")]
        where = text.splitlines()[0].split(". ", 1)[-1]
        raise RecompileInSteadyState(
            "recompile in a steady-state window (" + where + "); guard failure(s):\n"
            + "\n".join(f"  - {f}" for f in failures or ["(Dynamo gave no reason)"])) from None


@contextlib.contextmanager
def steady_decode() -> Iterator[None]:
    """:func:`steady_state` and :func:`~ragperf.compile.cudagraphs.steady_graphs` together: the block
    neither recompiles nor records (re-records) or skips a CUDA graph; each failure says why."""
    with steady_state(), steady_graphs():
        yield


def compile_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a compile raises for the model rather than for the harness (fullgraph breaks, DDEs)."""
    from torch._dynamo.exc import TorchDynamoException

    return (TorchDynamoException,)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
