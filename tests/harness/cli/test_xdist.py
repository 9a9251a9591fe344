"""Under pytest-xdist: perf and arm64 tests never share the machine, and workers share the cores."""

import pytest

from ragperf.knobs import worker_threads

LANE_TESTS = """
import pytest

@pytest.mark.perf
def test_timed():
    pass

@pytest.mark.arm64
def test_emulated():
    pass

def test_plain():
    import os
    import torch

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:  # each worker gets its share of the cores
        assert torch.get_num_threads() == max(1, len(os.sched_getaffinity(0)) // workers)
        assert os.environ["OMP_NUM_THREADS"] == str(torch.get_num_threads())
"""


@pytest.mark.parametrize("marker", ["perf", "coldstart", "arm64", "perf or slow"])
def test_a_distributed_run_that_asks_for_a_lone_lane_is_refused_at_start_up(pytester, marker):
    pytester.makepyfile(test_lanes=LANE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-m", marker)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    refusal = [line for line in result.errlines if "must not share the machine" in line]
    assert len(refusal) == 1 and refusal[0].endswith("run them with -n 0"), result.errlines
    assert not any("Traceback" in line for line in result.errlines + result.outlines)


def test_the_same_lane_runs_with_n_0(pytester):
    pytester.makepyfile(test_lanes=LANE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", "-m", "perf")
    result.assert_outcomes(passed=1, deselected=2)


def test_a_lone_lane_test_that_reaches_a_worker_fails_instead_of_timing(pytester, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # test_plain also checks each worker's thread share
    pytester.makepyfile(test_lanes=LANE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*perf tests must not share the machine*-n 0*"])


@pytest.mark.parametrize(("workers", "cores", "env", "threads"), [
    (16, 64, {}, 4),
    (3, 16, {}, 5),
    (4, 2, {}, 1),        # never zero
    (1, 64, {}, None),    # a single process keeps torch's default
    (16, 64, {"OMP_NUM_THREADS": "8"}, None),  # the user's setting wins
])
def test_worker_threads_share_the_cores(workers, cores, env, threads):
    assert worker_threads(workers, cores=cores, env=env) == threads
