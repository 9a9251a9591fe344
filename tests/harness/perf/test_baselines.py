"""Baseline files: round trip, atomic writes, clear errors, and matching by fingerprint."""

import json
from pathlib import Path

import pytest

from ragperf.errors import RagperfError
from ragperf.perf import baselines, machine

REPO_BASELINES = Path(__file__).resolve().parents[3] / "baselines" / "perf"


@pytest.fixture
def fp():
    return machine.fingerprint()


def speedup(value, se=0.01):
    return baselines.metric("speedup", value, se)


def test_record_round_trips_and_merges(tmp_path, fp):
    path = baselines.record(fp, {"a/speedup": speedup(1.5)}, tmp_path)
    baselines.record(fp, {"b/speedup": speedup(2.0)}, tmp_path)
    loaded = baselines.load(path)
    assert loaded.source == "measured" and loaded.key == fp["key"]
    assert {k: (v["value"], v["se"]) for k, v in loaded.metrics.items()} == {"a/speedup": (1.5, 0.01),
                                                                          "b/speedup": (2.0, 0.01)}
    assert baselines.find(fp, tmp_path).path == path
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_each_recorded_run_joins_a_rolling_history_whose_spread_counts_as_noise(tmp_path, fp):
    for value in (1.0, 1.2, 1.1):
        path = baselines.record(fp, {"a/speedup": speedup(value, se=0.01)}, tmp_path)
    entry = baselines.load(path).metrics["a/speedup"]
    assert [r["value"] for r in entry["history"]] == [1.0, 1.2, 1.1]
    assert entry["value"] == 1.1
    assert entry["se"] > 0.09  # run-to-run spread (1.4826 x MAD 0.1 / 1.1, over sqrt 3), not the 1% within-run se
    for _ in range(20):
        path = baselines.record(fp, {"a/speedup": speedup(2.0)}, tmp_path)
    entry = baselines.load(path).metrics["a/speedup"]
    assert len(entry["history"]) == baselines.HISTORY and entry["value"] == 2.0
    assert entry["se"] == pytest.approx(0.01 / baselines.HISTORY ** 0.5)  # no spread: the within-run floor


def test_a_run_of_several_processes_stores_each_process_and_pools_them(tmp_path, fp):
    runs = [[1.46, 1.47, 1.56], [1.45, 1.48, 1.47]]
    for values in runs:
        path = baselines.record(fp, {"a/speedup": baselines.metric("speedup", sorted(values)[1], 0.005,
                                                                   processes=values)}, tmp_path)
    entry = baselines.load(path).metrics["a/speedup"]
    assert [r["processes"] for r in entry["history"]] == runs
    assert entry["value"] == pytest.approx(1.47)  # median of the six processes
    pairs = sorted([0.01, 0.09, 0.10] + [0.03, 0.02, 0.01])  # |a - b| within each recording (medians 1.47, 1.47)
    assert entry["process_sd"] == pytest.approx(1.0483 * (pairs[2] + pairs[3]) / 2 / 1.47)  # the 1.56 barely counts
    assert entry["session_sd"] == 0  # both recordings' medians are 1.47
    assert entry["se"] == pytest.approx(1.2533 * entry["process_sd"] / 6 ** 0.5, rel=1e-3)


def test_drift_between_recordings_is_the_session_spread_not_the_process_spread(tmp_path, fp):
    """Two recordings 8% apart whose own processes agree to 1%: the drift is a session term (it does not
    shrink with more processes per run); the same six values spread across both recordings are process
    noise and no drift."""
    import statistics

    def entry(runs, folder):
        for values in runs:
            path = baselines.record(fp, {"a/speedup": baselines.metric("speedup", statistics.median(values), 0.002,
                                                                       processes=values)}, folder)
        raw = json.loads(path.read_text())
        del raw["metrics"]["a/speedup"]["session_sd"]  # what is stored is a cache: the history decides
        path.write_text(json.dumps(raw))
        return baselines.load(path).metrics["a/speedup"]

    for folder in ("d", "m"):
        (tmp_path / folder).mkdir()
    drifting = entry([[1.30, 1.31, 1.29], [1.20, 1.21, 1.19]], tmp_path / "d")
    mixed = entry([[1.30, 1.21, 1.25], [1.20, 1.31, 1.25]], tmp_path / "m")
    assert drifting["value"] == mixed["value"] == pytest.approx(1.25)
    assert drifting["process_sd"] == pytest.approx(1.0483 * 0.01 / 1.25, rel=0.1)
    levels = statistics.variance([1.30 / 1.25, 1.20 / 1.25])
    within = 1.2533 * drifting["process_sd"] / 3 ** 0.5
    assert drifting["session_sd"] == pytest.approx((levels - within ** 2) ** 0.5)
    assert mixed["session_sd"] == 0 and mixed["process_sd"] > 5 * drifting["process_sd"]


def test_a_schema_1_file_is_upgraded_on_read_with_one_line_and_rewritten_as_schema_2(tmp_path, fp):
    v1 = {"schema": "ragperf-perf-baseline", "schema_version": 1, "key": fp["key"], "source": "measured",
          "match": {}, "metrics": {"a/speedup": {"kind": "speedup", "value": 1.1, "se": 0.2, "history": [
              {"value": 1.0, "se": 0.01}, {"value": 1.2, "se": 0.01}, {"value": 1.1, "se": 0.01}]}}}
    path = tmp_path / f"{fp['key']}.json"
    path.write_text(json.dumps(v1))
    loaded = baselines.load(path)
    line = baselines.schema_line(loaded)
    assert loaded.upgraded_from == 1 and "\n" not in line
    assert "schema 1 upgraded to 2" in line and "each stored run counts as one process" in line
    entry = loaded.metrics["a/speedup"]  # re-summarized by the schema-2 rule: three one-process runs
    assert entry["value"] == 1.1 and entry["process_sd"] > 0 and entry["se"] < 0.2
    baselines.record(fp, {"a/speedup": baselines.metric("speedup", 1.1, 0.01, processes=[1.1, 1.1])}, tmp_path)
    again = baselines.load(path)
    assert json.loads(path.read_text())["schema_version"] == 2 and baselines.schema_line(again) is None
    assert [r["value"] for r in again.metrics["a/speedup"]["history"]] == [1.0, 1.2, 1.1, 1.1]


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, fp, monkeypatch):
    path = baselines.record(fp, {"a/speedup": speedup(1.5)}, tmp_path)
    before = path.read_text()
    monkeypatch.setattr(json, "dump", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        baselines.record(fp, {"a/speedup": speedup(9.0)}, tmp_path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    ('{"hello": 1}', "not a ragperf perf baseline"),
    ('[1, 2]', "not a ragperf perf baseline"),
    ('{"schema": "ragperf-perf-baseline", "schema_version": 99, "source": "measured", "match": {}, "metrics": {}}',
     "schema_version 99"),
    ('{"schema": "ragperf-perf-baseline", "schema_version": 1, "source": "measured", "match": {}, '
     '"metrics": {"x": {"kind": "speed", "value": 1}}}', "malformed"),
    ('{"schema": "ragperf-perf-baseline", "schema_version": 1, "source": "guessed", "match": {}, "metrics": {}}',
     "malformed"),
    ('{"schema": "ragperf-perf-baseline", "schema_version": 1, "source": "measured", "match": {}}', "malformed"),
    ('{"schema": "ragperf-perf-baseline", "schema_version": 2, "source": "measured", "match": {}, '  # a run lost its se
     '"metrics": {"x": {"kind": "speedup", "value": 1.2, "history": [{"value": 1.2, "processes": [1.2, 1.3]}]}}}',
     "malformed"),
    ('{"schema": "ragperf-perf-baseline", "schema_version": 2, "source": "measured", "match": {}, '
     '"metrics": {"x": {"kind": "speedup", "value": 1.2, "history": [{"value": 1.2, "se": 0.01, "processes": 3}]}}}',
     "malformed"),
])
def test_corrupt_foreign_or_future_files_give_one_clear_line(tmp_path, fp, content, words):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(RagperfError, match=words) as info:
        baselines.find(fp, tmp_path)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_no_folder_or_no_match_means_no_baseline(tmp_path, fp):
    assert baselines.find(fp, tmp_path / "missing") is None
    baselines.record(dict(fp, key="other", arch="aarch64"), {"a/speedup": speedup(1.5)}, tmp_path)
    assert baselines.find(fp, tmp_path) is None


def test_measured_beats_published_and_published_needs_its_fingerprint(tmp_path, fp):
    published = baselines.BaselineFile("pub", "published", {"arch": fp["arch"]}, {"a/speedup": speedup(1.2)})
    baselines.save(published, tmp_path / "pub.json")
    assert baselines.find(fp, tmp_path).source == "published"
    assert baselines.find(dict(fp, arch="riscv64"), tmp_path) is None
    baselines.record(fp, {"a/speedup": speedup(1.5)}, tmp_path)
    assert baselines.find(fp, tmp_path).source == "measured"


def test_shipped_graviton3_figures_apply_only_on_graviton3(fp):
    graviton3 = dict(fp, arch="aarch64", **machine.parse_cpuinfo(
        "CPU implementer\t: 0x41\nCPU part\t: 0xd40\nFeatures\t: sve bf16\n"))
    found = baselines.find(graviton3, REPO_BASELINES)
    assert found is not None and found.source == "published"
    assert {k: v["value"] for k, v in found.metrics.items()} == {
        "embed/mpnet/compile/speedup": 1.04, "embed/mpnet/compile+freeze/speedup": 1.69,
        "embed/mpnet/compile+freeze+inference_mode/speedup": 1.70,
        "rag/mpnet/compile+freeze+inference_mode/speedup": 1.3}
    assert baselines.find(dict(graviton3, cpu_part="0xd0c"), REPO_BASELINES) is None  # Graviton2
    mine = baselines.find(fp, REPO_BASELINES)
    assert mine is None or mine.source == "measured"


def test_every_shipped_baseline_file_loads():
    files = baselines.load_all(REPO_BASELINES)
    assert files and all(f.metrics for f in files)


def test_emulated_machines_neither_record_nor_match_baselines(tmp_path, monkeypatch):
    """The arm64 QEMU lane looks like a Graviton3 from inside; its timings must never gate or be stored."""
    real = machine.fingerprint()
    monkeypatch.setenv("RAGPERF_EMULATED", "qemu")
    monkeypatch.setenv("RAGPERF_EMULATED_CPU", "Neoverse-V1")
    lane = machine.fingerprint()
    assert lane["emulated"] == "aarch64 Neoverse-V1 (emulated)" and lane["key"] != real["key"]
    stored = baselines.load(baselines.record(real, {"a/speedup": baselines.metric("speedup", 1.5, 0.01)}, tmp_path))
    assert stored.matches(real) and not stored.matches(lane)
    with pytest.raises(RagperfError, match="emulation"):
        baselines.record(lane, {"a/speedup": baselines.metric("speedup", 1.5, 0.01)}, tmp_path)
