"""``ragperf baseline merge``: many runners' gate reports -> one section per fingerprint, one overall verdict."""

import json
from pathlib import Path

import pytest

from ragperf.cli import main
from ragperf.errors import RagperfError
from ragperf.perf import baselines, fleet, gate
from ragperf.perf.baselines import BaselineFile
from ragperf.perf.plugin import report_json

SPEEDUP, LATENCY = "embed/minilm/compile/speedup", "embed/minilm/compile/latency"


def _report(tmp_path: Path, name: str, key: str, speedup: float) -> Path:
    """A real gate report (the plugin's writer) of a runner whose baseline speedup is 1.50x."""
    stored = {SPEEDUP: baselines.metric("speedup", 1.50, 0.01), LATENCY: baselines.metric("latency", 0.010, 0.01)}
    base = BaselineFile(key, "measured", {}, stored, path=Path(f"baselines/perf/{key}.json"))
    measured = {SPEEDUP: gate.Measurement(SPEEDUP, "speedup", speedup, 0.01),
                LATENCY: gate.Measurement(LATENCY, "latency", 0.010, 0.01)}
    path = tmp_path / name
    path.write_text(json.dumps(report_json(gate.gate(measured, base), {"key": key}, base)))
    return path


def test_two_fingerprints_each_get_a_section_and_one_failure_fails_the_fleet(tmp_path, capsys):
    x86 = _report(tmp_path, "x86.json", "x86_64-intel-2c", speedup=1.51)
    graviton = _report(tmp_path, "graviton.json", "aarch64-neoverse-v1-16c", speedup=1.10)  # -27%: FAIL
    assert main(["baseline", "merge", str(x86), str(graviton)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("## ragperf fleet perf gate: FAIL")
    assert "### `x86_64-intel-2c`: PASS" in out and "### `aarch64-neoverse-v1-16c`: FAIL" in out
    graviton_section = out.split("### `aarch64-neoverse-v1-16c`")[1]
    assert f"| {SPEEDUP} | FAIL |" in graviton_section and f"| {LATENCY} | PASS |" in graviton_section
    assert out.split("### `x86_64-intel-2c`")[1].split("###")[0].count("| PASS |") == 2


def test_a_fleet_that_passes_everywhere_passes(tmp_path, capsys):
    reports = [_report(tmp_path, f"{k}.json", k, speedup=1.52) for k in ("x86_64-intel-2c", "cuda-h200")]
    assert main(["baseline", "merge", *map(str, reports)]) == 0
    assert capsys.readouterr().out.startswith("## ragperf fleet perf gate: PASS")


def test_reports_of_one_fingerprint_share_its_section(tmp_path):
    reports = [fleet.load_report(_report(tmp_path, f"run{i}.json", "x86_64-intel-2c", s))
               for i, s in enumerate((1.5, 1.1))]
    text = fleet.merge(reports)
    assert text.count("### `x86_64-intel-2c`: FAIL") == 1 and text.count("report `") == 2


@pytest.mark.parametrize(("content", "expected"), [
    ("{not json", "its text is not valid JSON"),
    ('{"benchmarks": []}', "is not a ragperf gate report"),          # a pytest-benchmark file, say
    ("a decision whose status is GREAT", "bad status 'GREAT'"),
])
def test_a_corrupt_or_foreign_report_is_one_clear_line(tmp_path, capsys, content, expected):
    good = _report(tmp_path, "good.json", "x86_64-intel-2c", speedup=1.5)
    bad = tmp_path / "bad.json"
    if "GREAT" in content:  # a complete report but for one unknown status
        data = json.loads(good.read_text())
        data["decisions"][0]["status"] = "GREAT"
        content = json.dumps(data)
    bad.write_text(content)
    assert main(["baseline", "merge", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert not captured.out
    err = captured.err.strip()
    assert "\n" not in err and expected in err and str(bad) in err and "--ragperf-perf-report" in err
    with pytest.raises(RagperfError):
        fleet.load_report(bad)


def test_a_missing_report_is_one_clear_line(tmp_path, capsys):
    assert main(["baseline", "merge", str(tmp_path / "nowhere.json")]) == 2
    assert "cannot read ragperf gate report" in capsys.readouterr().err
