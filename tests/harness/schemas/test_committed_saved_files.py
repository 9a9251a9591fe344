"""Every saved file committed to the repository loads through its schema (:mod:`ragperf.schemas`): tightening a
schema must not refuse a file ragperf wrote, and a new kind of committed file must be claimed by a loader here."""

from pathlib import Path

import pytest

from ragperf.coldstart.bypass import BypassTable
from ragperf.compile.expected import ExpectedTable
from ragperf.jobs import release_report
from ragperf.perf import baselines, fleet, proof

ROOT = Path(__file__).resolve().parents[3]


def _table(cls):
    return lambda path: cls.load(path.parent, path.name).rows


# a glob under the repository -> the loader ragperf reads such a file with (returning what it read)
LOADERS = {
    "baselines/perf/*.json": lambda path: baselines.load(path).metrics,
    "baselines/expected/coldstart-*.csv": _table(BypassTable),
    "baselines/expected/torch*.csv": _table(ExpectedTable),
    "docs/results/perf-gate/*-report.json": lambda path: fleet.load_report(path).decisions,
    "docs/results/gpu/*-gate.json": lambda path: fleet.load_report(path).decisions,
    "docs/results/perf-gate/*-speedup.json": lambda path: proof.load(path).runs,
    "docs/results/release/*.json": lambda path: release_report.load_report(path)["rows"],
    "docs/results/torch2.13-to-2.14/*.json": lambda path: release_report.load_side(path)["recompile"],
    "tests/harness/data/drift-side-tiny.json": lambda path: release_report.load_side(path)["recompile"],
}
# committed data ragperf never reads back: the inputs of scripts/render_results.py
NOT_READ_BACK = {"docs/results/headline.json", "docs/results/ladder.json"}
# records of one GPU sitting as the device wrote them (bench, suite summary, gate decisions): read by people
NOT_READ_BACK |= {f"docs/results/gpu/{name}.json" for name in ("h100-bench", "gpu-suite")}
FILES = sorted({path for pattern in LOADERS for path in ROOT.glob(pattern)})


def _loader(path: Path):
    (pattern,) = [p for p in LOADERS if path.match(str(ROOT / p))]
    return LOADERS[pattern]


def test_every_committed_saved_file_has_one_loader():
    saved = {p for folder in ("baselines", "docs/results") for p in (ROOT / folder).rglob("*")
             if p.suffix in (".json", ".csv")}
    unclaimed = sorted(str(p.relative_to(ROOT)) for p in saved
                       if str(p.relative_to(ROOT)) not in NOT_READ_BACK and p not in FILES)
    assert not unclaimed, f"saved files no loader here reads: {unclaimed}; add their glob to LOADERS"
    assert all(len([p for p in LOADERS if f.match(str(ROOT / p))]) == 1 for f in FILES)


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(ROOT))) for p in FILES])
def test_a_committed_saved_file_loads_through_its_schema(path):
    assert _loader(path)(path), f"{path} loaded empty"
