"""Baseline files: round trip, atomic writes, clear errors, and matching by fingerprint."""

import json
from pathlib import Path

import pytest

from ragperf.errors import RagperfError
from ragperf.perf import baselines, machine

REPO_BASELINES = Path(__file__).resolve().parents[2] / "baselines" / "perf"


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
    assert entry["se"] > 0.09  # run-to-run spread (stdev 0.1 / mean 1.1), not the 1% within-run se
    for _ in range(20):
        path = baselines.record(fp, {"a/speedup": speedup(2.0)}, tmp_path)
    entry = baselines.load(path).metrics["a/speedup"]
    assert len(entry["history"]) == baselines.HISTORY and entry["value"] == 2.0 and entry["se"] == 0.01


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
