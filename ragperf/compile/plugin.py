"""pytest side of the expected-behaviour tables (loaded by :mod:`ragperf.plugin`): ``--ragperf-drift``, the
``expected_compile`` fixture, and the drift summary at the end of the terminal report.

``expected_compile.verify(key, report)`` compares a scenario's counts with the resolved reference table
(:func:`ragperf.compile.drift.resolve`). Under ``--ragperf-drift=fail`` (the default) a row that is not
``same`` fails its test with the diff and the command that records the table; under ``report`` (for
canaries) it passes and the summary lists it. Either way the summary says once which table judged the
run and how many rows equal it. Outcomes travel to the xdist controller in ``report.user_properties``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragperf.compile.drift import Reference, RowOutcome, compare, failure, resolve, summary_lines
from ragperf.compile.expected import EXPECTED_DIR, ExpectationMismatch, ExpectedTable
from ragperf.compile.probe import ProbeReport

DRIFT_MODES = ("fail", "report")
PROPERTY = "ragperf_drift"
_CHECKER = pytest.StashKey["ExpectedCompile"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ragperf")
    group.addoption("--ragperf-drift", default="fail", choices=DRIFT_MODES,
                    help="a recompile row that differs from the expected table: fail its test (default), or "
                         "report it in the terminal summary and pass (canaries on a new torch/transformers)")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(DriftSummary(config), "ragperf-drift-summary")


class ExpectedCompile:
    """What the ``expected_compile`` fixture gives: ``.verify(key, report)``, ``.rows``, ``.path``."""

    def __init__(self, ref: Reference, mode: str, recording: ExpectedTable | None) -> None:
        self.ref, self.mode, self.recording = ref, mode, recording
        self.pending: list[RowOutcome] = []  # outcomes of the running test, moved into its report

    @property
    def rows(self):
        return self.ref.table.rows

    @property
    def path(self):
        return self.ref.table.path

    def verify(self, key, report: ProbeReport | dict[str, int]) -> None:
        """Record the row (``--ragperf-update-expected``), or compare it: raise unless ``same`` in fail mode."""
        __tracebackhide__ = True
        if isinstance(report, ProbeReport):
            counts, reasons = report.counts(), [f"[{r.kind}] {r.reason}" for r in report.recompile_list]
        else:
            counts, reasons = dict(report), []
        if self.recording is not None:
            self.recording.record(key, counts)
            return
        outcome = compare(self.ref.table, key, counts, reasons)
        self.pending.append(outcome)
        if outcome.status != "same" and self.mode == "fail":
            raise ExpectationMismatch(failure(outcome, self.ref))


@pytest.fixture(scope="session")
def expected_compile(pytestconfig: pytest.Config):
    """The expected-behaviour table of this torch/transformers, or the nearest earlier one; see the module.

    With ``--ragperf-update-expected`` it records the rows instead and writes this version's table at
    session end.
    """
    directory = pytestconfig.rootpath / EXPECTED_DIR
    ref = resolve(directory)
    updating = bool(pytestconfig.getoption("--ragperf-update-expected"))
    recording = ExpectedTable.load(directory) if updating else None
    checker = ExpectedCompile(ref, pytestconfig.getoption("--ragperf-drift"), recording)
    pytestconfig.stash[_CHECKER] = checker
    yield checker
    if recording is not None and recording.recorded:
        recording.save()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    checker = item.config.stash.get(_CHECKER, None)
    if checker is not None and checker.pending:
        ref = checker.ref
        payload = {"torch": ref.torch_version, "transformers": ref.transformers_version,
                   "target": str(ref.target), "reference": str(ref.table.path),
                   "rows": [o.to_dict() for o in checker.pending]}
        report.user_properties.append((PROPERTY, json.dumps(payload)))
        checker.pending = []
    return report


class DriftSummary:
    """Collects the rows' outcomes from the test reports (this process's, or every xdist worker's) and
    prints them once in the terminal summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.received: list[dict] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.received += [json.loads(value) for name, value in report.user_properties if name == PROPERTY]

    def lines(self) -> list[str]:
        if not self.received:
            return []
        first = self.received[0]
        outcomes = {o.key: o for payload in self.received for o in map(RowOutcome.from_dict, payload["rows"])}
        reference = Path(first["reference"])
        ref = Reference(first["torch"], first["transformers"], Path(first["target"]),
                        ExpectedTable.load(reference.parent, reference.name))
        return summary_lines(ref, list(outcomes.values()), self.config.getoption("--ragperf-drift"))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        lines = self.lines()
        if lines:
            terminalreporter.write_sep("-", "ragperf expected tables")
            for line in lines:
                terminalreporter.write_line(line)
