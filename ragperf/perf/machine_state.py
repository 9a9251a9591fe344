"""The machine's state while a timed table was measured: load, CPU steal, its speed (the yardstick) before and
after, CPU frequency - and whether that makes the table's absolute figures unreliable.

A timed section is *watched* (:class:`Watch`): a reading of ``/proc/loadavg``, ``/proc/stat`` and the CPU
frequency before, one every ``interval_s`` during (a light daemon thread that reads those files and nothing
else), one after; and, for a section, :func:`ragperf.perf.machine.yardstick_seconds` before and after.
:func:`summarize` turns the readings into a JSON-ready state whose ``flags`` say, in one line each, why the
table is unreliable:

* **busy**: the mean 1-minute load average over the readings exceeds ``busy_load_per_cpu`` x CPUs, or the
  hypervisor stole more than ``busy_steal`` of the CPU time (other guests ran on our cores);
* **drifting**: the yardstick moved more than ``drift`` between before and after, or the CPU frequency spread
  more than ``freq_spread`` over the readings.

The thresholds live in ``ragperf/data/machine_state.toml`` (each documented there). A flagged table's absolute
figures (seconds, tok/s, req/s measured in separate processes) are unreliable; ratios timed interleaved in one
process (a speedup) or in lockstep pairs still hold, since the load falls on both sides alike - :data:`CAVEAT`
says so beside every flag. A machine whose ``/proc`` cannot be read yields a state that flags nothing and says
it could not tell (``readable`` false).

The files are read through :class:`Proc` (a root folder, ``/`` by default), so tests plant a busy period with
files of their own and drive :meth:`Watch.sample` by hand: no real load, no sleeping.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

TABLE_FILE = "machine_state.toml"
CAVEAT = "absolute figures unreliable; ratios measured interleaved still hold"


@dataclass(frozen=True)
class Limits:
    """The thresholds of ``data/machine_state.toml`` (documented there)."""

    busy_load_per_cpu: float
    busy_steal: float
    drift: float
    freq_spread: float
    interval_s: float
    max_readings: int


def limits() -> Limits:
    """The built-in thresholds."""
    text = resources.files("ragperf").joinpath("data", TABLE_FILE).read_text(encoding="utf-8")
    return Limits(**tomllib.loads(text))


@dataclass(frozen=True)
class Reading:
    """One look at the machine: monotonic seconds, the 1-minute load average, cumulative steal and total CPU
    jiffies (``/proc/stat``'s ``cpu`` line), the mean CPU frequency in MHz (``None`` where not exposed)."""

    t: float
    load: float | None
    steal: int | None
    total: int | None
    freq_mhz: float | None


def parse_loadavg(text: str | None) -> float | None:
    """The 1-minute load average from ``/proc/loadavg``'s text."""
    try:
        return float(text.split()[0]) if text else None
    except ValueError:
        return None


def parse_stat(text: str | None) -> tuple[int | None, int | None]:
    """(steal, total) jiffies of all CPUs from ``/proc/stat``'s ``cpu`` line (steal is its 8th value)."""
    for line in (text or "").splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            try:
                values = [int(v) for v in fields[1:]]
            except ValueError:
                return None, None
            # guest time is already inside user/nice: the total is the first 8 fields (user .. steal)
            return (values[7] if len(values) > 7 else 0), sum(values[:8])
    return None, None


def parse_cpuinfo_mhz(text: str | None) -> float | None:
    """The mean ``cpu MHz`` of ``/proc/cpuinfo``'s text (x86 kernels print it; arm64 ones do not)."""
    values = []
    for line in (text or "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == "cpu MHz":
            try:
                values.append(float(value))
            except ValueError:
                pass
    return sum(values) / len(values) if values else None


class Proc:
    """Reads the machine's state files under ``root`` (``/``; a test's folder of planted files)."""

    def __init__(self, root: str | Path = "/"):
        self.root = Path(root)

    def read(self, relative: str) -> str | None:
        try:
            return (self.root / relative).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def freq_mhz(self) -> float | None:
        """cpufreq's current frequency averaged over CPUs, else ``/proc/cpuinfo``'s ``cpu MHz``."""
        folder = self.root / "sys/devices/system/cpu"
        khz = []
        for path in sorted(folder.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"))[:1024]:
            try:
                khz.append(int(path.read_text().strip()))
            except (OSError, ValueError):
                pass
        if khz:
            return sum(khz) / len(khz) / 1000
        return parse_cpuinfo_mhz(self.read("proc/cpuinfo"))

    def reading(self, clock: Callable[[], float] = time.monotonic) -> Reading:
        steal, total = parse_stat(self.read("proc/stat"))
        return Reading(clock(), parse_loadavg(self.read("proc/loadavg")), steal, total, self.freq_mhz())


def summarize(readings: list[Reading], cpus: int, yardstick: tuple[float, float] | None = None,
              bounds: Limits | None = None) -> dict:
    """The JSON-ready state of a window from its ``readings`` (first: before, last: after) and the yardstick's
    (before, after) seconds; ``flags`` empty when the window was quiet (see the module docstring)."""
    bounds = bounds or limits()
    loads = [r.load for r in readings if r.load is not None]
    state: dict = {"cpus": cpus, "readings": len(readings), "readable": bool(loads), "flags": []}
    if loads:
        state["load"] = {"before": loads[0], "mean": sum(loads) / len(loads), "max": max(loads), "after": loads[-1]}
        if state["load"]["mean"] > bounds.busy_load_per_cpu * cpus:
            state["flags"].append(f"busy: load {state['load']['mean']:.1f} on {cpus} "
                                  f"{'core' if cpus == 1 else 'cores'}")
    counted = [r for r in readings if r.total is not None and r.steal is not None]
    if len(counted) >= 2 and counted[-1].total > counted[0].total:
        steal = (counted[-1].steal - counted[0].steal) / (counted[-1].total - counted[0].total)
        state["steal"] = steal
        if steal > bounds.busy_steal:
            state["flags"].append(f"busy: {steal:.0%} of CPU time stolen by other guests")
    if yardstick is not None and yardstick[0] > 0:
        state["yardstick_s"] = {"before": yardstick[0], "after": yardstick[1]}
        state["drift"] = yardstick[1] / yardstick[0] - 1
        if abs(state["drift"]) > bounds.drift:
            state["flags"].append(f"drifting: the yardstick {state['drift']:+.0%} from before to after")
    freqs = [r.freq_mhz for r in readings if r.freq_mhz]
    if freqs:
        state["freq_mhz"] = [min(freqs), max(freqs)]
        if max(freqs) / min(freqs) - 1 > bounds.freq_spread:
            state["flags"].append(f"drifting: CPU frequency {min(freqs):.0f}-{max(freqs):.0f} MHz")
    return state


def flag_line(state: dict | None) -> str:
    """``busy: load 4.8 on 2 cores - absolute figures unreliable; ...``; empty for a quiet (or missing) state."""
    if not state or not state.get("flags"):
        return ""
    return f"{'; '.join(state['flags'])} - {CAVEAT}"


def mark(state: dict | None) -> str:
    """A table cell: ``busy``, ``drifting``, ``busy, drifting`` or empty."""
    kinds = dict.fromkeys(f.split(":")[0] for f in (state or {}).get("flags", []))
    return ", ".join(kinds)


def describe(state: dict | None) -> str:
    """One line of what was read: ``load 0.9 (max 1.2) on 2 cores, steal 0.1%, yardstick +2%, 2600 MHz``."""
    if not state or not state.get("readable"):
        return "machine state not readable here (no /proc)"
    parts = [f"load {state['load']['mean']:.1f} (max {state['load']['max']:.1f}) on {state['cpus']} "
             f"{'core' if state['cpus'] == 1 else 'cores'}"]
    if "steal" in state:
        parts.append(f"steal {state['steal']:.1%}")
    if "drift" in state:
        parts.append(f"yardstick {state['drift']:+.0%} before to after")
    if "freq_mhz" in state:
        low, high = state["freq_mhz"]
        parts.append(f"{low:.0f} MHz" if round(low) == round(high) else f"{low:.0f}-{high:.0f} MHz")
    return ", ".join(parts)


def header(states: dict[str, dict | None]) -> str:
    """The report's line: ``machine: quiet throughout (...)`` or which of the named windows were busy or drifting."""
    known = {name: s for name, s in states.items() if s}
    if not known:
        return "machine state: not recorded"
    flagged = {name: s for name, s in known.items() if s.get("flags")}
    if not flagged:
        if not any(s.get("readable") for s in known.values()):
            return "machine state: not readable here (no /proc); quiet or busy cannot be told"
        peak = max(s["load"]["max"] for s in known.values() if s.get("readable"))
        cpus = next(iter(known.values()))["cpus"]
        return f"machine: quiet throughout (load at most {peak:.1f} on {cpus} cores, no steal or drift flagged)"
    names = ", ".join(f"{name} ({mark(s)})" for name, s in flagged.items())
    return f"machine: NOT QUIET during {names} - their {CAVEAT}"


@dataclass
class Watch:
    """Readings of one timed window: :meth:`start`, :meth:`sample` (by hand, or every ``interval_s`` from a
    thread when used as a context manager), :meth:`stop` -> :attr:`state`. ``yardstick``: a callable timed before
    and after (``None``: not timed - a row inside a watched section)."""

    proc: Proc = field(default_factory=Proc)
    clock: Callable[[], float] = time.monotonic
    yardstick: Callable[[], float] | None = None
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    bounds: Limits = field(default_factory=limits)
    readings: list[Reading] = field(default_factory=list)
    state: dict | None = None

    def start(self) -> Watch:
        self._before = self.yardstick() if self.yardstick else None
        self.readings.append(self.proc.reading(self.clock))
        return self

    def sample(self) -> None:
        self.readings.append(self.proc.reading(self.clock))
        if len(self.readings) > self.bounds.max_readings:  # thin the middle; keep the first (before)
            self.readings[1:] = self.readings[2::2]

    def stop(self) -> dict:
        self.readings.append(self.proc.reading(self.clock))
        after = self.yardstick() if self.yardstick else None
        yardstick = (self._before, after) if self._before is not None and after is not None else None
        self.state = summarize(self.readings, self.cpus, yardstick, self.bounds)
        return self.state

    def __enter__(self) -> Watch:
        self.start()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ragperf-machine-state", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._done.wait(self.bounds.interval_s):
            self.sample()

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.stop()


def section_yardstick() -> float:
    """The yardstick as a section's before/after reading: 3 repeats (about half a second on the 2-core VM)."""
    from ragperf.perf.machine import yardstick_seconds

    return yardstick_seconds(repeats=3)


def watch_section() -> Watch:
    """A :class:`Watch` of a timed section: readings plus the yardstick before and after."""
    return Watch(yardstick=section_yardstick)


def watch_row() -> Watch:
    """A :class:`Watch` of one row inside a watched section: readings only."""
    return Watch()
