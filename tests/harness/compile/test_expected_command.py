"""``ragperf expected`` (check and ``--update``) over the scenario cases, with the scenarios' counts stubbed so
the words it prints are what is tested: NEW for a row the written table lacked, CHANGED for a differing
one, ok for an equal one; a check on an unrecorded version is judged by the nearest earlier table."""

from types import SimpleNamespace

import pytest

from ragperf import cli
from ragperf.compile import scenarios
from ragperf.compile.expected import COUNT_FIELDS, ExpectedTable, table_name
from ragperf.compile.probe import ProbeReport

CASES = [("index16-query1", "auto"), ("seq1", "auto")]


@pytest.fixture
def measured(monkeypatch):
    """The counts the stubbed scenarios report, by scenario name (edit to change reality)."""
    counts = {name: dict.fromkeys(COUNT_FIELDS, 0) | {"graphs": 1} for name, _ in CASES}

    def run_case(name, strategy_name, backend="eager", models=None):
        report = ProbeReport()
        report.counts = lambda: dict(counts[name])  # type: ignore[method-assign]
        return SimpleNamespace(report=report)

    monkeypatch.setattr(scenarios, "cases", lambda: CASES)
    monkeypatch.setattr(scenarios, "run_case", run_case)
    return counts


def _words(capsys) -> dict[str, str]:
    err = capsys.readouterr().err
    return {line.split()[1]: line.split()[0] for line in err.splitlines() if " / auto / eager" in line
            and not line.startswith(" ")}


def test_update_says_new_for_rows_the_table_did_not_have(tmp_path, measured, capsys):
    assert cli.main(["expected", "--update", "--dir", str(tmp_path)]) == 0
    assert _words(capsys) == {"index16-query1": "NEW", "seq1": "NEW"}
    assert set(ExpectedTable.load(tmp_path).rows) == {(n, s, "eager") for n, s in CASES}

    measured["seq1"]["recompiles"] = 2
    assert cli.main(["expected", "--update", "--dir", str(tmp_path)]) == 0
    assert _words(capsys) == {"index16-query1": "ok", "seq1": "CHANGED"}
    assert ExpectedTable.load(tmp_path).rows[("seq1", "auto", "eager")]["recompiles"] == 2


def test_a_check_without_a_table_of_its_own_is_judged_by_the_earlier_one(tmp_path, measured, capsys):
    earlier = tmp_path / "torch2.0-transformers4.0.csv"  # earlier than anything installed
    assert cli.main(["expected", "--update", "--dir", str(tmp_path)]) == 0
    (tmp_path / table_name()).rename(earlier)
    capsys.readouterr()
    assert cli.main(["expected", "--dir", str(tmp_path)]) == 0
    assert "no table of its own; 2/2 rows equal torch2.0-transformers4.0" in capsys.readouterr().out

    measured["seq1"]["graphs"] = 3
    assert cli.main(["expected", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "seq1 / auto / eager: changed: graphs 1 -> 3" in out.err and "ragperf expected --update" in out.err
    assert not (tmp_path / table_name()).exists()  # a check records nothing
