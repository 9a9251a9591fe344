"""GPU out of memory in a test or fixture: one line naming the test and what to do, and the run goes on.

A fake OOM (``torch.cuda.OutOfMemoryError`` raised on purpose) stands in for the GPU, so this runs on CPU.
"""

USER_TESTS = """
import pytest
import torch

OOM = "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.15 GiB total capacity)"

@pytest.fixture
def big_model():
    raise torch.cuda.OutOfMemoryError(OOM)

def test_oom_in_the_test():
    raise torch.cuda.OutOfMemoryError(OOM)

def test_oom_in_a_fixture(big_model):
    pass

def test_oom_wrapped_by_the_compiler():
    try:
        raise torch.cuda.OutOfMemoryError(OOM)
    except RuntimeError as exc:
        raise RuntimeError("backend='inductor' raised: see above") from exc

def test_other_errors_are_left_alone():
    raise ValueError("not memory")

def test_the_run_goes_on():
    assert True
"""


def test_gpu_oom_fails_with_one_line_and_the_run_goes_on(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3, errors=1)
    out = result.stdout.str()
    for phase, test in (("the test", "test_oom_in_the_test"), ("setup", "test_oom_in_a_fixture"),
                        ("the test", "test_oom_wrapped_by_the_compiler")):
        line = (f"GPU out of memory in {phase} of test_user.py::{test}: CUDA out of memory. Tried to allocate "
                "20.00 GiB (GPU 0; 79.15 GiB total capacity) - free the GPU (other processes?) or run smaller shapes")
        assert line in out, out
    assert out.count("raise torch.cuda.OutOfMemoryError(OOM)") == 0  # no traceback for the OOMs ...
    assert 'raise ValueError("not memory")' in out  # ... while any other error keeps its own
