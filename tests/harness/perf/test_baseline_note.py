"""``--ragperf-update-baselines`` adds runs to a baseline file and keeps the note someone wrote into it."""

import json

from ragperf.perf import baselines, machine

USER_TEST = """
from ragperf.perf.gate import Measurement

def test_figure(ragperf_perf):
    ragperf_perf.check({"x/speedup": Measurement("x/speedup", "speedup", 1.25, 0.01)})
"""


def test_update_baselines_keeps_a_hand_written_note(pytester, tmp_path):
    directory = tmp_path / "perf"
    path = baselines.record(machine.fingerprint(), {"x/speedup": baselines.metric("speedup", 1.2, 0.01)},
                            directory, note="first note")
    data = json.loads(path.read_text())
    data["note"] = "idle machine, performance governor, 5 runs (hand-written)"
    path.write_text(json.dumps(data))
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("--ragperf-update-baselines", "--ragperf-baselines", str(directory))
    result.assert_outcomes(passed=1)
    recorded = baselines.load(path)
    assert [r["value"] for r in recorded.metrics["x/speedup"]["history"]] == [1.2, 1.25]  # the run was recorded
    assert recorded.note == "idle machine, performance governor, 5 runs (hand-written)"


def test_a_new_baseline_file_gets_the_recorders_note(tmp_path):
    path = baselines.record(machine.fingerprint(), {"x/speedup": baselines.metric("speedup", 1.2, 0.01)},
                            tmp_path, note="recorded by a test")
    assert baselines.load(path).note == "recorded by a test"
