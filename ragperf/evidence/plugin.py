"""pytest side of the evidence (loaded by :mod:`ragperf.plugin`).

Tests marked ``recompile``, ``correctness`` or ``perf`` run their call phase under a
:class:`~ragperf.evidence.trace.StructuredTrace` in ``<trace dir>/<test>/trace/``. When such a test
fails, the trace is rendered by tlparse into ``<test>/tlparse/``, a repro bundle is written to
``<test>/repro/``, and the failure report gets a "ragperf evidence" section naming all three. A failed
``correctness`` test's bundle also gets a minified repro (:mod:`ragperf.evidence.minify`, bounded by
``--ragperf-minify-timeout``, 0 turns it off), and with ``--ragperf-bundle-weights`` the tiny models it
loaded. A passing test leaves nothing behind unless ``--ragperf-keep-traces``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ragperf import argtypes
from ragperf.evidence import bundle, weights
from ragperf.evidence.trace import StructuredTrace, detach_foreign_handlers, render

TRACED_MARKERS = ("recompile", "correctness", "perf")
DEFAULT_DIR = "ragperf-traces"
MINIFY_TIMEOUT_S = 120.0
MINIFY_TIMEOUT = argtypes.Amount(argtypes.DAY_S, zero="0 turns it off")
_TRACE = pytest.StashKey[StructuredTrace]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ragperf")
    group.addoption("--ragperf-trace-dir", default=None, type=argtypes.output_dir, metavar="DIR",
                    help=f"evidence of failed recompile/correctness/perf tests: structured trace, tlparse "
                         f"report, repro bundle (default: <rootdir>/{DEFAULT_DIR})")
    group.addoption("--ragperf-keep-traces", action="store_true",
                    help="keep the structured trace of passing tests too")
    group.addoption("--ragperf-no-evidence", action="store_true",
                    help="run without structured traces or repro bundles (what the tracing costs is the "
                         "difference against a run without this flag)")
    group.addoption("--ragperf-bundle-weights", action="store_true",
                    help="a failed test's bundle also gets a copy of the tiny embedders it loaded (tiny models only)")
    group.addoption("--ragperf-minify-timeout", type=MINIFY_TIMEOUT, default=MINIFY_TIMEOUT_S, metavar="S",
                    help="a failed correctness test's bundle gets a minified repro from torch's accuracy "
                         f"minifier, given up after S seconds ({MINIFY_TIMEOUT.bounds}; default {MINIFY_TIMEOUT_S:g}; 0: off)")


def _root(config: pytest.Config) -> Path:
    given = config.getoption("--ragperf-trace-dir")
    return (config.invocation_params.dir / given) if given else config.rootpath / DEFAULT_DIR


def evidence_folder(config: pytest.Config, nodeid: str) -> Path:
    """This test's evidence folder: the node id made a safe file name."""
    return _root(config) / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    detach_foreign_handlers()  # inside pytest's per-phase log capture, which attached them
    weights.start_test()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item):
    detach_foreign_handlers()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    detach_foreign_handlers()
    if item.config.getoption("--ragperf-no-evidence") or not any(item.get_closest_marker(m) for m in TRACED_MARKERS):
        yield
        return
    folder = evidence_folder(item.config, item.nodeid)
    shutil.rmtree(folder, ignore_errors=True)  # a previous run's evidence must not pass for this one's
    trace = StructuredTrace(folder / "trace")
    item.stash[_TRACE] = trace
    with trace:
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    trace = item.stash.get(_TRACE, None)
    if call.when != "call" or trace is None:
        return
    report = outcome.get_result()
    if not report.failed or hasattr(report, "wasxfail"):
        if not item.config.getoption("--ragperf-keep-traces"):
            shutil.rmtree(trace.folder.parent, ignore_errors=True)
        return
    report.sections.append(("ragperf evidence", _evidence(item, trace)))


def _evidence(item: pytest.Item, trace: StructuredTrace) -> str:
    config = item.config
    lines = []
    raws = trace.raw_files
    if raws:
        lines.append(f"raw trace:      {raws[0]}")
        index, why = render(raws[0], trace.folder.parent / "tlparse")
        lines.append(f"tlparse report: {index}" if index else f"tlparse report: none ({why})")
    else:
        lines.append("raw trace:      none (nothing was compiled in the test's call)")
    cwd = config.invocation_params.dir
    args = bundle.pytest_args(item.nodeid, config.rootpath, cwd, list(config.invocation_params.args))
    params = getattr(getattr(item, "callspec", None), "params", {})
    repro = bundle.write(trace.folder.parent / "repro", args, cwd, item.nodeid, params)
    lines.append(f"repro bundle:   {repro}  (re-run: ragperf repro {repro})")
    if config.getoption("--ragperf-bundle-weights"):
        lines.append(weights.bundle_weights(repro, weights.used_embedders(item)))
    timeout = config.getoption("--ragperf-minify-timeout")
    if item.get_closest_marker("correctness") and timeout > 0:
        from ragperf.evidence.minify import minify

        found, why = minify(repro, timeout)
        lines.append(f"minified repro: {found or 'none'}" + (f" ({why})" if why else ""))
    return "\n".join(lines)
