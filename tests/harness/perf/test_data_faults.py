"""Faults where ragperf's data lives: a killed writer, two writers at once, and damaged files.

Each test injects its fault deterministically (a hooked write that stops half way, a handshake
of two recorders that holds one between its read and its write) rather than hoping for a lucky schedule.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragperf.compile.expected import COLUMNS, COUNT_FIELDS, ExpectedTable
from ragperf.errors import RagperfError
from ragperf.perf import baselines, fleet
from ragperf.perf.machine import KEY_FIELDS

FP = {"key": "fault-test-machine", **dict.fromkeys(KEY_FIELDS, "x")}
PRELUDE = f"""
import sys, time
from pathlib import Path
from ragperf.perf import baselines
FP = {FP!r}
"""


def _child(script: str, *args: str, stdin=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(script), *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _record(directory: Path, value: float) -> Path:
    return baselines.record(FP, {"x/speedup": baselines.metric("speedup", value, 0.01)}, directory)


def _history(path: Path) -> list[float]:
    return [run["value"] for run in baselines.load(path).metrics["x/speedup"]["history"]]


def test_a_recording_killed_mid_write_leaves_the_previous_baseline_loadable(tmp_path):
    path = _record(tmp_path, 1.5)
    before = path.read_text()
    writer = _child("""
        import json
        def half_then_hang(obj, handle, **kwargs):  # the write is cut here by SIGKILL
            text = json.dumps(obj, **kwargs)
            handle.write(text[: len(text) // 2])
            handle.flush()
            print("mid-write", flush=True)
            time.sleep(300)
        json.dump = half_then_hang
        baselines.record(FP, {"x/speedup": baselines.metric("speedup", 9.0, 0.01)}, Path(sys.argv[1]))
    """, str(tmp_path))
    try:
        assert writer.stdout.readline().strip() == "mid-write", writer.stderr.read()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=30)
    assert path.read_text() == before
    assert _history(path) == [1.5]
    assert [b.path for b in baselines.load_all(tmp_path)] == [path]  # the dead writer's temp file is no baseline


def test_two_processes_recording_one_baseline_at_once_keep_both_runs(tmp_path):
    from filelock import Timeout

    path = _record(tmp_path, 1.0)
    # A handshake with no time bound: recorder A reads the baseline (inside its lock) and stops there
    # until the test lets it go; recorder B starts only then and reports its first lock attempt that
    # failed. With the lock, B's first word is "blocked"; without it, B reads the old file ("read") and
    # its write would drop A's run.
    script = """
        from ragperf.perf import baselines

        class ObservedLock(baselines.FileLock):  # says so when an attempt finds the lock taken
            def _acquire(self):
                super()._acquire()
                if not self.is_locked and not getattr(self, "told", False):
                    self.told = True
                    print("blocked", flush=True)

        real_load = baselines.load
        reads = []
        def load_then_hold(p):
            got = real_load(p)
            reads.append(p)
            if len(reads) == 2:  # the read under the lock (the first checks the file before measuring)
                print("read", flush=True)
                if sys.argv[3] == "hold":
                    sys.stdin.readline()
            return got
        baselines.FileLock, baselines.load = ObservedLock, load_then_hold
        baselines.record(FP, {"x/speedup": baselines.metric("speedup", float(sys.argv[2]), 0.01)}, Path(sys.argv[1]))
    """
    a = _child(script, str(tmp_path), "2.0", "hold", stdin=subprocess.PIPE)
    b, errors = None, []
    try:
        assert a.stdout.readline().strip() == "read", a.stderr.read()
        with pytest.raises(Timeout):  # A holds the lock between its read and its write
            baselines.record_lock(path).acquire(timeout=0)
        b = _child(script, str(tmp_path), "3.0", "go")
        first = b.stdout.readline().strip()
        assert first == "blocked", f"recorder B read the baseline while A was between its read and its write: {first!r}"
    finally:
        errors.append(a.communicate("go\n", timeout=120)[1])
        if b is not None:
            errors.append(b.communicate(timeout=120)[1])
    assert a.returncode == 0 and b.returncode == 0, errors
    assert _history(path) == [1.0, 2.0, 3.0]


VALID_BASELINE = json.dumps(baselines.BaselineFile(
    key="k", source="measured", match={"arch": "x"},
    metrics={"x/speedup": baselines.metric("speedup", 1.2, 0.01)}).to_json(), indent=1)
VALID_REPORT = json.dumps({"fingerprint": {"key": "k"}, "baseline": None, "decisions": []}, indent=1)
VALID_TABLE = ",".join(COLUMNS) + "\nminilm,auto,eager" + ",1" * len(COUNT_FIELDS) + "\n"


def _load_table(path: Path):
    return ExpectedTable.load(path.parent, path.name)


# file kind -> (file name, loader, a valid file, another schema's valid file, what the error tells to do)
KINDS = {
    "baseline": ("k.json", baselines.load, VALID_BASELINE, VALID_REPORT, ("re-record", "move it out")),
    "expected table": ("t.csv", _load_table, VALID_TABLE, "a,b,c\n1,2,3\n", ("ragperf expected --update",)),
    "gate report": ("r.json", fleet.load_report, VALID_REPORT, VALID_BASELINE, ("--ragperf-perf-report",)),
}
DAMAGE = {
    "truncated": lambda valid, other: valid[: len(valid) // 2],
    "empty": lambda valid, other: "",
    "not JSON or CSV": lambda valid, other: "<html>502 Bad Gateway</html>\n",
    "binary": lambda valid, other: b"\x89PNG\r\n\x1a\n\xff\xfe\x00".decode("latin-1"),
    "other schema": lambda valid, other: other,
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_data_file_is_one_clear_line_naming_it(tmp_path, kind, damage):
    name, loader, valid, other, remedies = KINDS[kind]
    path = tmp_path / name
    path.write_text(valid)
    loader(path)  # the undamaged file loads: the damage below is what the error is about
    path.write_bytes(DAMAGE[damage](valid, other).encode("latin-1"))
    with pytest.raises(RagperfError) as caught:
        loader(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and any(r in message for r in remedies), message
