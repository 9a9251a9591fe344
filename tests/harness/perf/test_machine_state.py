"""The machine's state beside every timed table (ragperf.perf.machine_state): a busy period planted in files of our
own (load average, CPU steal), a drifting yardstick, and the flags they raise - in the state, the run report, the
perf gate's table and the release report. A quiet reading flags nothing. No real load, no sleeping."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import threading
import time

import pytest

from ragperf.perf import gate, machine_state

QUIET_STAT = "cpu  1000 0 100 8000 10 0 5 {steal} 0 0\ncpu0 500 0 50 4000 5 0 2 0 0 0\n"


class Planted:
    """A /proc of our own: ``set(load, steal, idle)`` rewrites loadavg and stat before the next reading."""

    def __init__(self, root):
        self.root = root
        (root / "proc").mkdir(parents=True)
        self.set(0.3, 0, 8000)

    def set(self, load: float, steal: int, idle: int, mhz: float = 2600.0) -> None:
        (self.root / "proc" / "loadavg").write_text(f"{load:.2f} 0.50 0.40 2/150 999\n")
        (self.root / "proc" / "stat").write_text(f"cpu  1000 0 100 {idle} 10 0 5 {steal} 0 0\n")
        (self.root / "proc" / "cpuinfo").write_text(f"processor\t: 0\ncpu MHz\t\t: {mhz}\n"
                                                     f"processor\t: 1\ncpu MHz\t\t: {mhz}\n")


def _watch(root, yardsticks=None, **limits) -> machine_state.Watch:
    ticks = itertools.count()
    seconds = iter(yardsticks) if yardsticks else None
    bounds = dataclasses.replace(machine_state.limits(), **limits)
    return machine_state.Watch(proc=machine_state.Proc(root), clock=lambda: float(next(ticks)),
                               yardstick=(lambda: next(seconds)) if seconds else None, cpus=2, bounds=bounds)


def _window(tmp_path, states, yardsticks=None, **limits) -> dict:
    """Readings before, during and after a window whose /proc shows ``states`` (load, steal, idle) in turn."""
    proc = Planted(tmp_path)
    proc.set(*states[0])
    watch = _watch(tmp_path, yardsticks, **limits).start()
    for state in states[1:-1]:
        proc.set(*state)
        watch.sample()
    proc.set(*states[-1])
    return watch.stop()


def test_the_proc_files_parse_as_the_kernel_writes_them():
    assert machine_state.parse_loadavg("4.80 3.10 2.00 7/152 30402\n") == 4.8
    assert machine_state.parse_stat("cpu  1586110 11226 138448 443457 3712 0 862 750 40 0\n") == (
        750, 1586110 + 11226 + 138448 + 443457 + 3712 + 862 + 750)
    assert machine_state.parse_cpuinfo_mhz("cpu MHz\t\t: 2600.002\ncpu MHz\t\t: 2400.000\n") == pytest.approx(2500.001)
    assert machine_state.parse_loadavg(None) is None and machine_state.parse_stat("") == (None, None)


def test_a_planted_busy_period_flags_the_window_with_its_load_and_the_caveat(tmp_path):
    state = _window(tmp_path, [(0.4, 0, 8000), (4.8, 0, 8100), (5.6, 0, 8200), (4.4, 0, 8300)])
    assert state["flags"] == ["busy: load 3.8 on 2 cores"]  # the mean of before, during and after
    line = machine_state.flag_line(state)
    assert line == "busy: load 3.8 on 2 cores - absolute figures unreliable; ratios measured interleaved still hold"
    assert machine_state.mark(state) == "busy"


def test_a_quiet_reading_flags_nothing(tmp_path):
    state = _window(tmp_path, [(0.4, 0, 8000), (1.9, 1, 8100), (2.0, 1, 8200), (1.8, 1, 8300)], yardsticks=(0.10, 0.103))
    assert state["readable"] and state["flags"] == [] and machine_state.flag_line(state) == ""
    assert state["steal"] == pytest.approx(1 / 301)  # 300 idle jiffies and 1 stolen
    assert machine_state.header({"embed": state}).startswith("machine: quiet throughout (load at most 2.0 on 2 cores")


def test_stolen_cpu_time_is_busy_even_at_a_low_load(tmp_path):
    # 300 jiffies pass; 45 of them stolen by other guests: 15%
    state = _window(tmp_path, [(0.5, 0, 8000), (0.5, 45, 8255)])
    assert state["steal"] == pytest.approx(45 / 300)
    assert state["flags"] == ["busy: 15% of CPU time stolen by other guests"]


def test_a_yardstick_that_moved_between_before_and_after_is_drifting(tmp_path):
    state = _window(tmp_path, [(0.5, 0, 8000), (0.5, 0, 8300)], yardsticks=(0.100, 0.130))
    assert state["drift"] == pytest.approx(0.30)
    assert state["flags"] == ["drifting: the yardstick +30% from before to after"]


def test_the_cpu_frequency_moving_is_drifting(tmp_path):
    proc = Planted(tmp_path)
    watch = _watch(tmp_path).start()
    proc.set(0.5, 0, 8300, mhz=1800.0)
    state = watch.stop()
    assert state["freq_mhz"] == [1800.0, 2600.0]
    assert state["flags"] == ["drifting: CPU frequency 1800-2600 MHz"]


def test_the_thresholds_are_data(tmp_path):
    from importlib import resources

    text = resources.files("ragperf").joinpath("data", machine_state.TABLE_FILE).read_text()
    assert "busy_load_per_cpu = 1.5" in text and machine_state.limits().busy_load_per_cpu == 1.5
    states = [(2.5, 0, 8000), (2.5, 0, 8300)]  # 1.25 per CPU on 2 cores
    assert _window(tmp_path / "a", states)["flags"] == []
    assert _window(tmp_path / "b", states, busy_load_per_cpu=1.0)["flags"] == ["busy: load 2.5 on 2 cores"]


def test_a_machine_without_proc_flags_nothing_and_says_it_cannot_tell(tmp_path):
    state = _watch(tmp_path).start().stop()
    assert state == {"cpus": 2, "readings": 2, "readable": False, "flags": []}
    assert "not readable" in machine_state.header({"embed": state})


def test_the_readings_of_a_long_window_are_bounded(tmp_path):
    Planted(tmp_path)
    watch = _watch(tmp_path, max_readings=50).start()
    for _ in range(500):
        watch.sample()
    assert len(watch.readings) <= 50 and watch.readings[0].t == 0.0  # the before reading is kept


def test_the_sampler_thread_reads_during_the_window(tmp_path):
    Planted(tmp_path)
    watch = _watch(tmp_path, interval_s=0.001)
    with watch:
        deadline = time.monotonic() + 30
        while len(watch.readings) < 4 and time.monotonic() < deadline:  # wait for the state, not a fixed time
            threading.Event().wait(0.01)
    assert watch.state["readings"] >= 5  # before, at least three during, after
    assert not watch._thread.is_alive()


def test_the_gate_table_flags_a_metric_measured_while_busy_and_a_quiet_table_has_no_column(tmp_path):
    busy = _window(tmp_path, [(4.8, 0, 8000), (4.8, 0, 8300)])
    measured = gate.Measurement("embed/minilm/compile/speedup", "speedup", 1.3, 0.01)
    decision = gate.judge(measured, {"kind": "speedup", "value": 1.3, "se": 0.01})
    quiet_table = gate.table([decision])
    assert "machine" not in quiet_table.splitlines()[0]
    decision.machine = busy
    header, row = gate.table([decision]).splitlines()
    assert header.split()[-1] == "machine" and row.split()[-1] == "busy"
    assert decision.to_json()["machine"] == busy
    assert machine_state.header({decision.metric: busy}) == (
        "machine: NOT QUIET during embed/minilm/compile/speedup (busy) - their absolute figures unreliable; "
        "ratios measured interleaved still hold")


def test_the_release_report_names_a_timed_row_measured_while_busy(tmp_path):
    from ragperf.jobs import release, release_report

    busy = _window(tmp_path, [(4.8, 0, 8000), (4.8, 0, 8300)])
    measured = gate.Measurement("embed/minilm/compile/speedup", "speedup", 1.0, 0.005, processes=[1.0] * 3)
    decision = gate.judge(measured, {"kind": "speedup", "value": 1.0, "se": 0.0})
    decision.machine = busy
    side = {"versions": {"key": "x86", "torch": "2.13"}, "recompile": [], "parity": []}
    report = release_report.build(side, copy.deepcopy(side), ("OLD", "NEW"), release.family([decision]))
    text = release_report.markdown(report, all_rows=True)
    assert "- machine: NOT QUIET during embed/minilm/compile/speedup (busy)" in text
    assert "; measured while busy: load 4.8 on 2 cores - absolute figures unreliable" in text
    decision.machine = _window(tmp_path / "q", [(0.3, 0, 8000), (0.3, 0, 8300)])
    quiet = release_report.markdown(release_report.build(side, copy.deepcopy(side), ("OLD", "NEW"),
                                                         release.family([decision])), all_rows=True)
    assert "- machine: quiet throughout" in quiet and "measured while" not in quiet
