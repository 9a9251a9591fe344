"""pytest side of the perf gate (loaded by :mod:`ragperf.plugin`): options, the ``ragperf_perf`` fixture,
and the verdict table in the terminal summary.

A perf test is a thin call::

    @pytest.mark.perf
    def test_embed(benchmark, ragperf_perf):
        ragperf_perf.check(Case("embed", "minilm", "compile"), benchmark)

``check`` measures the case through pytest-benchmark's fixture (so ``--benchmark-json`` and
``--benchmark-autosave`` keep working), puts ragperf's figures in ``benchmark.extra_info``, gates
them against this machine's baseline, re-measures a suspect once in a fresh process, and fails
the test with the metric, baseline, measured value and interval. The same ``check`` gates compile times
(``ragperf_perf.check(ragperf_perf.compile_times(case))``), peak memory, and figures measured elsewhere (the
RAG perf test's), of any metric kind (:mod:`ragperf.perf.metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ragperf import argtypes, jobargs
from ragperf.errors import RagperfError
from ragperf.files import write_atomic
from ragperf.perf import ab, gate, metrics, processes


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ragperf")
    group.addoption("--ragperf-update-baselines", action="store_true",
                    help="perf: record the measured figures as this machine's baseline instead of gating")
    group.addoption("--ragperf-baselines", default=None, metavar="DIR", type=argtypes.nonblank,
                    help="perf: baseline folder (default: <rootdir>/baselines/perf)")
    group.addoption("--ragperf-plant-slowdown", type=argtypes.slowdown, default=0.0, metavar="FRACTION",
                    help="perf: make every compiled candidate FRACTION slower (e.g. 0.1) to prove the gate fails")
    group.addoption("--ragperf-plant-compile-slowdown", type=argtypes.slowdown, default=0.0, metavar="FRACTION",
                    help="perf: make the compiler backend FRACTION slower (e.g. 0.1) to prove the compile-time gate")
    group.addoption("--ragperf-tolerance", type=gate.fraction, default=None, metavar="FRACTION",
                    help="perf: the speedup drop always allowed (default: the metric's stored tolerance, else "
                         f"{metrics.SPEEDUP.tolerance:g}); a runner with a tight history can gate tighter, e.g. 0.03")
    group.addoption("--ragperf-processes", type=jobargs.PROCESSES, default=processes.DEFAULT, metavar="N",
                    help=f"perf: measure each gated case in N processes ({jobargs.PROCESSES.bounds}: this one + N-1 "
                         f"fresh) and gate the median, "
                         f"the spread between processes as its noise (default {processes.DEFAULT})")
    group.addoption("--ragperf-compile-processes", type=jobargs.PROCESSES, default=processes.COMPILE_DEFAULT,
                    metavar="N", help=f"perf: time the compile-time case's cold and warm first calls in N "
                                      f"({jobargs.PROCESSES.bounds}) pairs of fresh "
                                      f"processes and gate their medians (default {processes.COMPILE_DEFAULT})")
    group.addoption("--ragperf-reference", default=None, metavar="PYTHON|VENV", type=argtypes.nonblank,
                    help="perf: gate the ladder's and decode's speedups and latencies against this interpreter's "
                         "environment (the previous torch's, say; ragperf installed there), measured now in lockstep "
                         "pairs of processes with this one, instead of the stored baseline")
    group.addoption("--ragperf-pairs", type=jobargs.PAIRS, default=None, metavar="N",
                    help=f"perf: with --ragperf-reference, the lockstep pairs of processes per case ({jobargs.PAIRS.bounds}; default "
                         f"{ab.DEFAULT_PAIRS})")
    group.addoption("--ragperf-detect", type=argtypes.detect_fraction, default=None, metavar="FRACTION",
                    help="perf: with --ragperf-reference, plan the pairs from the noise of the first "
                         "--ragperf-pairs: as many as catching a FRACTION slowdown (e.g. 0.02) needs at 5%% false "
                         "alarms, stopping early when the answer is clear")
    group.addoption("--ragperf-budget-s", type=argtypes.budget_seconds, default=None, metavar="SECONDS",
                    help="perf: with --ragperf-reference, at most the pairs SECONDS per case affords; says what "
                         "change that budget can see")
    group.addoption("--ragperf-perf-report", default=None, type=argtypes.output_file, metavar="PATH",
                    help="perf: write the gate's decisions as JSON (render with `ragperf baseline summary`)")


def pytest_configure(config: pytest.Config) -> None:
    """Refuse, at start-up, a --ragperf-baselines folder that is not there (unless recording), a
    --ragperf-reference that cannot run the lockstep worker and --ragperf-pairs without it (one line each)."""
    directory = config.getoption("--ragperf-baselines", None)
    if directory:  # a mistyped folder must not quietly make the gate report-only
        check = argtypes.output_dir if config.getoption("--ragperf-update-baselines") else argtypes.existing_dir
        try:
            check(directory)
        except argtypes.Bad as exc:
            raise pytest.UsageError(f"--ragperf-baselines: {exc}") from None
    try:
        argtypes.refuse_inside(config.getoption("--ragperf-perf-report", None),
                               Path(directory) if directory else config.rootpath / "baselines" / "perf",
                               "--ragperf-perf-report", "the perf baselines")
    except RagperfError as exc:
        raise pytest.UsageError(str(exc)) from None
    planned = [flag for flag in ("--ragperf-detect", "--ragperf-budget-s") if config.getoption(flag, None)]
    if planned and not config.getoption("--ragperf-reference", None):
        raise pytest.UsageError(f"{' and '.join(planned)} plan the lockstep pairs of an A/B run: add "
                                "--ragperf-reference PYTHON|VENV, or drop them")
    if config.getoption("--ragperf-reference", None):
        _check_reference(config)
    elif config.getoption("--ragperf-pairs", None):
        raise pytest.UsageError("--ragperf-pairs counts lockstep pairs against --ragperf-reference PYTHON: give "
                                "--ragperf-reference too, or drop --ragperf-pairs")
    if config.getoption("--ragperf-update-baselines", False) and not hasattr(config, "workerinput"):
        _check_recordable(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--ragperf-reference`` the gated cases are timed in lockstep pairs of processes, so a perf test's
    ``benchmark`` fixture goes unused: its warning about that is expected, not news."""
    if getattr(config, "_ragperf_ab", None) is not None:
        for item in items:
            if item.get_closest_marker("perf"):
                item.add_marker(pytest.mark.filterwarnings("ignore:Benchmark fixture was not used at all"))


def _check_recordable(config: pytest.Config) -> None:
    """``--ragperf-update-baselines``: the baseline file the session will merge into is valid now, not after
    every case was measured."""
    from ragperf.perf import baselines
    from ragperf.perf.machine import fingerprint

    directory = config.getoption("--ragperf-baselines", None)
    try:
        baselines.check_recordable(fingerprint(), Path(directory) if directory else
                                   config.rootpath / "baselines" / "perf")
    except RagperfError as exc:
        raise pytest.UsageError(f"--ragperf-update-baselines: {exc}") from None


def _check_reference(config: pytest.Config) -> None:
    """``--ragperf-reference``: probed once at start-up (one usage line when it cannot run the lockstep worker);
    it gates against another environment, so it records nothing."""
    if config.getoption("--ragperf-update-baselines"):
        raise pytest.UsageError("--ragperf-reference gates against another environment and records nothing: drop "
                                "it or --ragperf-update-baselines")
    try:
        config._ragperf_ab = ab.environments(config.getoption("--ragperf-reference"))
    except RagperfError as exc:
        raise pytest.UsageError(f"--ragperf-reference: {exc}") from None


class PerfGate:
    """Session-wide perf gate state: fingerprint, baseline, decisions, and figures to record."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.update = config.getoption("--ragperf-update-baselines")
        self.slowdown = config.getoption("--ragperf-plant-slowdown")
        self.processes = config.getoption("--ragperf-processes")
        self.compile_processes = config.getoption("--ragperf-compile-processes")
        self.compile_slowdown = config.getoption("--ragperf-plant-compile-slowdown")
        self.rules = {"tolerance": config.getoption("--ragperf-tolerance")}
        self.ab = getattr(config, "_ragperf_ab", None)  # ab.Environments when --ragperf-reference is given
        self.pairs = config.getoption("--ragperf-pairs")
        self.plan = {"detect": config.getoption("--ragperf-detect"), "budget_s": config.getoption("--ragperf-budget-s")}
        directory = config.getoption("--ragperf-baselines")
        self.directory = Path(directory) if directory else config.rootpath / "baselines" / "perf"
        self.decisions: list[gate.Decision] = []
        self.to_record: dict[str, dict] = {}
        self._fingerprint: dict | None = None
        self._baseline = None
        self._loaded = False

    @property
    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            from ragperf.perf.machine import fingerprint

            self._fingerprint = fingerprint()
        return self._fingerprint

    @property
    def baseline(self):
        if not self._loaded:
            from ragperf.perf import baselines

            self._baseline = baselines.find(self.fingerprint, self.directory)
            self._loaded = True
        return self._baseline

    def check(self, subject, benchmark=None, *, remeasure: Callable[[], dict[str, gate.Measurement]] | None = None,
              figures: dict | None = None, report_only: dict[str, str] | None = None) -> list[gate.Decision]:
        """Gate ``subject`` (or, with ``--ragperf-update-baselines``, record it) and fail the test on a suspect
        that stood after one re-measure. ``subject`` is one of:

        * a :class:`ragperf.perf.cases.Case`: eager and compiled timed interleaved through ``benchmark`` (its
          speedup and latency) in ``--ragperf-processes`` processes, re-measured in as many fresh ones - or, with
          ``--ragperf-reference``, in lockstep pairs against that environment (:meth:`against_reference`);
        * a measure, called once and again to re-measure a suspect: :meth:`compile_times`, :meth:`peak_memory`,
          or any zero-argument callable returning ``{name: Measurement}``;
        * figures measured elsewhere (``{name: Measurement}``), re-measured by ``remeasure`` when given.

        ``report_only`` (metric name -> the measured reason) judges and shows those metrics but never fails on
        them: their decisions become REPORT, and only the other metrics' suspects are re-measured (a Case says
        its own). ``figures`` go to ``benchmark.extra_info``. The machine's state while it was measured
        (:mod:`ragperf.perf.machine_state`) goes with each decision: the summary flags a busy or drifting one."""
        from ragperf.perf import machine_state

        with machine_state.watch_section() as watch:
            decisions, figures = self._decisions(subject, benchmark, remeasure, figures, report_only)
        for d in decisions:
            d.machine = watch.state
        return self.conclude(decisions, benchmark, figures)

    def _decisions(self, subject, benchmark, remeasure, figures, report_only) -> tuple[list[gate.Decision], dict | None]:
        from ragperf.perf.cases import Case

        if isinstance(subject, Case) and self.ab is not None:
            return self.against_reference(benchmark, subject)
        try:
            if isinstance(subject, Case):
                case = subject
                figures = processes.measure(case, self.processes, slowdown=self.slowdown,
                                            first=case.measure(benchmark=benchmark, slowdown=self.slowdown))
                measured, report_only = case.measurements(figures), case.report_only()

                def remeasure():
                    return case.measurements(processes.measure(case, self.processes, slowdown=self.slowdown))
            elif callable(subject):
                measured, remeasure = subject(), subject
            else:
                measured = subject
        except RagperfError as exc:
            pytest.fail(str(exc), pytrace=False)
        if self.update:
            from ragperf.perf import baselines

            self.to_record.update({name: baselines.metric(m.kind, m.value, m.se, low=m.low, high=m.high,
                                                          processes=m.processes)
                                   for name, m in measured.items()})
            decisions = [gate.Decision(name, gate.REPORT, m, message=f"{name}: {m.shown()} (recorded)")
                         for name, m in measured.items()]
        else:
            try:
                baseline = self.baseline
            except RagperfError as exc:
                pytest.fail(str(exc), pytrace=False)
            stored = metrics.stored_report_only({name: m.kind for name, m in measured.items()})
            decisions = gate.report_only(gate.gate(measured, baseline, **self.rules), {**stored, **(report_only or {})})
            if remeasure is not None:
                decisions = gate.confirm(decisions, baseline, remeasure, **self.rules)
        return decisions, figures

    def against_reference(self, benchmark, case) -> tuple[list[gate.Decision], dict]:
        """``case`` in lockstep pairs with ``--ragperf-reference`` and judged against it (:func:`ragperf.perf.ab.decide`).
        The timing happens in the pairs' processes, so pytest-benchmark records no stats; ``benchmark.extra_info``
        gets the candidate's figures of the median pair, and every pair's under ``ab``."""
        case, measured = ab.with_rounds(case), []

        def measure():
            measured.append(ab.measure(case, self.pairs, self.ab.reference, slowdown=self.slowdown))
            return measured[-1]

        def planned():
            pair = ab.next_pair(case, self.ab.reference, slowdown=self.slowdown)

            def one():
                ref, cand = pair()
                measured.append(([ref], [cand]))
                return ref, cand

            return ab.decide_planned(case.prefix, one, pilot=self.pairs, source=f"A/B {self.ab.reference}",
                                     report_only=case.report_only(), **self.plan, **self.rules)

        try:
            decisions = (planned() if any(self.plan.values()) else
                         ab.decide(case.prefix, measure, f"A/B {self.ab.reference}", case.report_only(), **self.rules))
        except RagperfError as exc:
            pytest.fail(str(exc), pytrace=False)
        reference, candidate = ([f for run in side for f in run] for side in zip(*measured, strict=True))
        middle = sorted(candidate, key=lambda f: f["speedup"])[len(candidate) // 2]
        return decisions, {**middle, "ab": {"reference": reference, "candidate": candidate}}

    def compile_times(self, case) -> Callable[[], dict[str, gate.Measurement]]:
        """A measure of ``case``'s cold (empty Inductor cache) and warm first calls, in
        ``--ragperf-compile-processes`` pairs of fresh processes (for :meth:`check`)."""
        from ragperf.perf import compile_time

        return lambda: compile_time.measurements(case.prefix, compile_time.measure(case, self.compile_processes,
                                                                                    self.compile_slowdown))

    def peak_memory(self, case) -> Callable[[], dict[str, gate.Measurement]]:
        """A measure of ``case``'s compiled/eager peak memory, each arm in its own fresh process (for :meth:`check`) -
        one pair of them, not ``--ragperf-processes``: the ratio is an allocation count, not a timing (its spread
        between processes was 0.03% over 9 processes on the 2-core VM, against a 10% tolerance), and the baseline's
        pooled spread is its noise."""
        from ragperf.perf import memory

        return lambda: memory.measurements(case.prefix, memory.measure(case, 1))

    def conclude(self, decisions: list[gate.Decision], benchmark=None, figures: dict | None = None) -> list[gate.Decision]:
        """Keep ``decisions`` for the summary, put them and ``figures`` in ``benchmark.extra_info``, and fail the
        test on a suspect that stood."""
        self.decisions.extend(decisions)
        if benchmark is not None:
            benchmark.extra_info.update({"ragperf": figures or {}, "fingerprint": self.fingerprint["key"],
                                         "gate": [d.to_json() for d in decisions]})
        failed = [d.message for d in decisions if d.status in gate.SUSPECT]
        if failed:
            pytest.fail("perf gate: " + "\n".join(failed), pytrace=False)
        return decisions


@pytest.fixture(scope="session")
def ragperf_perf(pytestconfig: pytest.Config) -> PerfGate:
    """The session's :class:`PerfGate`."""
    return _gate(pytestconfig)


def _gate(config: pytest.Config) -> PerfGate:
    if not hasattr(config, "_ragperf_perf_gate"):
        config._ragperf_perf_gate = PerfGate(config)
    return config._ragperf_perf_gate


def pytest_sessionfinish(session: pytest.Session) -> None:
    state: PerfGate | None = getattr(session.config, "_ragperf_perf_gate", None)
    if state is None:
        return
    if state.update and state.to_record:
        from ragperf.perf import baselines

        state.recorded_path = baselines.record(state.fingerprint, state.to_record, state.directory,
                                               note="recorded by pytest -m perf --ragperf-update-baselines")
    report = session.config.getoption("--ragperf-perf-report")
    if report:
        text = json.dumps(report_json(state.decisions, state.fingerprint, state.baseline
                                      if not state.update else None), indent=1) + "\n"
        write_atomic(Path(report), lambda f: f.write(text))


def report_json(decisions: list[gate.Decision], fingerprint: dict, baseline) -> dict:
    return {"verdict": gate.overall(decisions), "fingerprint": fingerprint,
            "baseline": str(baseline.path) if baseline is not None and baseline.path else None,
            "decisions": [d.to_json() for d in decisions]}


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state: PerfGate | None = getattr(config, "_ragperf_perf_gate", None)
    if state is None or not state.decisions:
        return
    terminalreporter.section("ragperf perf gate")
    terminalreporter.write_line(f"machine: {state.fingerprint['key']}")
    from ragperf.perf.machine_state import header

    terminalreporter.write_line(header({d.metric: d.machine for d in state.decisions}))
    if state.ab is not None:
        pairs = (f"lockstep pairs planned from the noise of the first {state.pairs} "
                 + (f"to catch a {state.plan['detect']:.1%} slowdown" if state.plan["detect"] else "")
                 + (f" within {state.plan['budget_s']:.0f} s" if state.plan["budget_s"] else "")
                 if any(state.plan.values()) else f"{state.pairs} lockstep pairs of processes")
        terminalreporter.write_line(f"A/B: the ladder and decode against the interleaved reference "
                                    f"{state.ab.describe(ab.REFERENCE)}, {pairs} per case; the other metrics "
                                    "against the stored baseline")
    if state.update:
        terminalreporter.write_line(f"recorded {len(state.to_record)} metrics -> "
                                    f"{getattr(state, 'recorded_path', state.directory)}")
    elif state.baseline is None:
        from ragperf.perf.baselines import load_all

        stored = ", ".join(b.key for b in load_all(state.directory)) or "none"
        terminalreporter.write_line(f"REPORT ONLY: {gate.NO_BASELINE} (looked in {state.directory}; stored: {stored})")
    else:
        from ragperf.perf.machine import upgrade_line

        terminalreporter.write_line(f"baseline: {state.baseline.path} ({state.baseline.source})")
        terminalreporter.write_line(upgrade_line(state.baseline.fingerprint, state.fingerprint))
        from ragperf.perf.baselines import schema_line

        if schema_line(state.baseline):
            terminalreporter.write_line(schema_line(state.baseline))
    terminalreporter.write_line(gate.table(state.decisions))
    terminalreporter.write_line(f"verdict: {gate.overall(state.decisions)}")
