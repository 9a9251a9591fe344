"""A failing recompile test carries its evidence: raw trace showing the failed guard, tlparse report, bundle."""

import pytest

PLANTED = '''
import pytest, torch

@pytest.mark.recompile
def test_off_by_one():
    from torch._dynamo.utils import counters
    f = torch.compile(lambda x: x * 2, backend="eager")
    f(torch.ones(3)); f(torch.ones(2, 2))
    assert counters["stats"]["unique_graphs"] == {expected}
'''


def _run(pytester, expected, *args):
    pytester.makepyfile(test_planted=PLANTED.format(expected=expected))
    return pytester.runpytest_subprocess("-p", "no:randomly", *args)


def test_a_planted_recompile_names_a_trace_showing_the_failed_guard(pytester):
    result = _run(pytester, 1)  # off by one: the rank change compiles a second graph
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ragperf evidence*", "raw trace:*trace/*.log", "tlparse report:*index.html",
                                 "repro bundle:*repro*"])
    folder = pytester.path / "ragperf-traces" / "test_planted.py_test_off_by_one"
    raw = "".join(p.read_text() for p in (folder / "trace").glob("*.log"))
    assert "tensor 'x' rank mismatch" in raw
    assert (folder / "tlparse" / "index.html").is_file()
    assert (folder / "repro" / "command.txt").read_text().startswith("pytest test_planted.py::test_off_by_one")


@pytest.mark.parametrize("keep", [False, True])
def test_a_passing_test_keeps_its_trace_only_when_asked(pytester, keep):
    result = _run(pytester, 2, *(["--ragperf-keep-traces"] if keep else []))
    result.assert_outcomes(passed=1)
    assert (pytester.path / "ragperf-traces").exists() and any((pytester.path / "ragperf-traces").iterdir()) == keep


def test_no_evidence_runs_the_failing_test_without_a_trace(pytester):
    result = _run(pytester, 1, "--ragperf-no-evidence")
    result.assert_outcomes(failed=1)
    assert "ragperf evidence" not in result.stdout.str() and not (pytester.path / "ragperf-traces").exists()


@pytest.mark.slow  # ~65 s on 2 cores; `ragperf repro` saying "still fails" is in the default run through
# test_evidence_parity's planted wrong op, and its bad paths through the bad-input catalogue
def test_ragperf_repro_says_whether_the_bundle_still_fails(pytester):
    import subprocess
    import sys

    _run(pytester, 1).assert_outcomes(failed=1)
    repro = pytester.path / "ragperf-traces" / "test_planted.py_test_off_by_one" / "repro"

    def ragperf_repro(path):
        return subprocess.run([sys.executable, "-m", "ragperf.cli", "repro", str(path)], capture_output=True, text=True)

    still = ragperf_repro(repro)
    assert still.returncode == 1 and "still fails: test_planted.py::test_off_by_one" in still.stdout
    pytester.makepyfile(test_planted=PLANTED.format(expected=2))  # fixed
    fixed = ragperf_repro(repro)
    assert fixed.returncode == 0 and "passes now" in fixed.stdout
    bad = ragperf_repro(pytester.path / "nowhere")
    assert bad.returncode == 2 and "is not a repro bundle" in bad.stderr and "Traceback" not in bad.stderr


def test_compiles_outside_a_trace_build_no_trace_events(pytester):
    """pytest's log capture attaches to torch's (non-propagating) trace log; with its handlers there, torch
    would build structured-trace events for every compile of every test, and print them in failure reports."""
    pytester.makepyfile(test_untraced='''
import torch

def test_compiles(caplog):
    torch.compile(lambda x: x * 2, backend="eager")(torch.ones(3))
    assert not [r for r in caplog.records if r.name == "torch.__trace"]
''')
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=1)
