"""The fp64-anchored parity rule and the tolerance table, on synthetic tensors (no models)."""

import pytest
import torch

from ragperf.errors import RagperfError
from ragperf.numerics import tolerances
from ragperf.numerics.verdicts import ParityFailure, assert_parity, judge

FP32 = tolerances.lookup("cpu", torch.float32, "off")
BF16 = tolerances.lookup("cpu", torch.float32, "emulated")


def _outputs(noise: float, rows: int = 8, dim: int = 384, seed: int = 0):
    """fp64 truth and an 'eager' result carrying relative noise of size ``noise``."""
    g = torch.Generator().manual_seed(seed)
    fp64 = torch.randn(rows, dim, generator=g, dtype=torch.float64)
    eager = (fp64 * (1 + noise * torch.randn(rows, dim, generator=g, dtype=torch.float64))).float()
    return fp64, eager


def test_identical_outputs_pass_by_allclose():
    fp64, eager = _outputs(1e-7)
    verdict = judge(eager, eager.clone(), fp64, FP32, eager_again=eager.clone())
    assert verdict.passed and verdict.rule == "allclose"


def test_compiled_as_far_from_fp64_as_eager_passes_by_rmse():
    fp64, eager = _outputs(3e-3)
    _, compiled = _outputs(3e-3, seed=1)
    compiled = (fp64 * (compiled.double() / _outputs(0, seed=1)[0])).float()  # same size of noise, other draw
    verdict = judge(eager, compiled, fp64, BF16)
    assert verdict.passed and verdict.rule == "rmse", verdict.message()


def test_compiled_much_farther_than_eager_fails_by_rmse():
    fp64, eager = _outputs(1e-3)
    compiled = (fp64 * (1 + 1e-2 * torch.randn(fp64.shape, dtype=torch.float64))).float()
    verdict = judge(eager, compiled, fp64, BF16)
    assert not verdict.passed and verdict.status == "fail_accuracy"
    assert verdict.rmse_compiled > verdict.budget


def test_planted_scale_bug_fails_with_a_readable_message():
    fp64, eager = _outputs(1e-7)
    with pytest.raises(ParityFailure) as failure:
        assert_parity(eager, eager * (1 + 1e-3), fp64, FP32, name="planted", eager_again=eager.clone())
    text = str(failure.value)
    for expected in ("planted [off]: FAIL", "RMSE(compiled, fp64)", "RMSE(eager, fp64)", "budget",
                     "max |compiled - eager|", "max rel diff", "worst element"):
        assert expected in text, text
    assert failure.value.verdict.max_rel == pytest.approx(1e-3, rel=1e-2)


def test_eager_disagreeing_with_itself_is_not_judged():
    fp64, eager = _outputs(1e-7)
    verdict = judge(eager, eager.clone(), fp64, FP32, eager_again=eager + 1e-6)
    assert not verdict.passed and verdict.status == "eager_two_runs_differ"
    assert "eager disagrees with itself" in verdict.message()


def test_cosine_floor_catches_a_wrong_pooling():
    """A pooler_output-like embedding: unrelated direction, near-zero cosine vs the fp64 embedding."""
    fp64, eager = _outputs(1e-7)
    pooled = torch.tanh(torch.randn(eager.shape))
    verdict = judge(eager, pooled, fp64, FP32, cosine=True)
    assert not verdict.passed and verdict.min_cosine < 0.5
    assert "lowest cosine vs fp64" in verdict.message()


def test_cosine_floor_alone_can_fail_one_row():
    fp64, eager = _outputs(1e-7)
    tolerance = FP32.replace(tol=10.0)  # allclose passes anything this size
    compiled = eager.clone()
    compiled[3] = -compiled[3]
    verdict = judge(eager, compiled, fp64, tolerance, cosine=True)
    assert not verdict.passed and verdict.status == "fail_cosine" and verdict.worst_row == 3


def test_small_tensors_get_multiplier_three():
    fp64, eager = _outputs(1e-3, rows=2, dim=10)
    assert judge(eager, eager, fp64, FP32).k == 3.0
    fp64, eager = _outputs(1e-3, rows=4, dim=384)
    assert judge(eager, eager, fp64, FP32).k == FP32.k == 2.0


def test_nan_in_compiled_fails_and_shape_mismatch_fails():
    fp64, eager = _outputs(1e-7)
    broken = eager.clone()
    broken[0, 0] = float("nan")
    assert not judge(eager, broken, fp64, FP32).passed
    verdict = judge(eager, eager[:, :10], fp64, FP32)
    assert verdict.status == "fail_shape" and "shapes differ" in verdict.message()


def test_table_has_every_cpu_lane_and_the_cuda_lanes():
    for key in ("cpu.float32.off", "cpu.float32.emulated", "cpu.float32.real", "cuda.float32.real",
                "cuda.bfloat16.off"):
        assert tolerances.lookup(*key.split(".")).key == key
    assert BF16.k == 3.0 and FP32.k == 2.0


def test_unknown_key_says_how_to_add_it():
    with pytest.raises(RagperfError, match=r'tool.ragperf.tolerance."cpu.float16.off"'):
        tolerances.lookup("cpu", torch.float16, "off")


def test_pyproject_overrides_then_marker_then_explicit(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.ragperf.tolerance]\nk = 4.0\n\n'
                         '[tool.ragperf.tolerance."cpu.float32.off"]\ntol = 5e-5\n')
    tol = tolerances.lookup("cpu", torch.float32, "off", pyproject=pyproject)
    assert (tol.k, tol.tol, tol.cosine_floor) == (4.0, 5e-5, FP32.cosine_floor)
    tol = tolerances.lookup("cpu", torch.float32, "off", pyproject=pyproject, marker={"tol": 1e-3}, k=5)
    assert (tol.k, tol.tol) == (5.0, 1e-3)


def test_bad_override_is_one_clear_error(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.ragperf.tolerance]\ntoll = 1\n')
    with pytest.raises(RagperfError, match="unknown tolerance field.*toll"):
        tolerances.lookup("cpu", torch.float32, "off", pyproject=pyproject)
    with pytest.raises(RagperfError, match="must be a number"):
        tolerances.lookup("cpu", torch.float32, "off", tol="small")


def test_marker_reaches_the_fixture(pytester):
    pytester.makepyprojecttoml('[tool.ragperf.tolerance]\ncosine_floor = 0.5\n')
    pytester.makepyfile("""
        import pytest, torch

        @pytest.mark.ragperf_tolerance(tol=0.25)
        def test_marked(parity_tolerance):
            tol = parity_tolerance("cpu", torch.float32, "off")
            assert (tol.tol, tol.cosine_floor) == (0.25, 0.5)

        @pytest.mark.ragperf_tolerance(tolerance=1)
        def test_bad_marker(parity_tolerance):
            parity_tolerance("cpu", torch.float32, "off")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=0, failed=1)
    result.stdout.fnmatch_lines(["*unknown tolerance field(s) tolerance*"])


def _flipped_generations(candidate_noise: float):
    """Greedy runs that share step 0 and pick different tokens at step 1, where eager's gap (0.12) is past
    the near-tie rule (tie_gap 0.1 std units) and eager carries rounding noise 0.05 against fp64."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(3)
    fp64 = torch.randn(1000, generator=g, dtype=torch.float64)
    fp64[:2] = torch.tensor([5.0, 4.94], dtype=torch.float64)

    def run(noise, winner):
        logits = (fp64 + noise * torch.randn(1000, generator=g, dtype=torch.float64)).float()
        logits[winner], logits[1 - winner] = 5.06, 4.94  # this run's pick leads the other by 0.12
        return SimpleNamespace(tokens=torch.tensor([[7, winner]]), logits=[logits[None], logits[None]])

    return run(0.05, 0), run(candidate_noise, 1), (lambda step: fp64[None])


@pytest.mark.parametrize("noise,agree", [(0.05, True), (0.5, False)], ids=["rounding", "wrong-op"])
def test_a_flip_past_the_near_tie_agrees_only_within_eagers_rounding_against_fp64(noise, agree):
    from ragperf.numerics.parity import greedy_agreement

    tolerance = tolerances.lookup("cpu", torch.bfloat16, "off")
    eager, candidate, anchor = _flipped_generations(noise)
    assert greedy_agreement(eager, candidate, tolerance)[0] is False  # the near-tie rule alone says no
    ok, detail = greedy_agreement(eager, candidate, tolerance, anchor=anchor)
    assert ok is agree and "first differ at step 1" in detail and "NOT a near-tie" in detail
    assert ("rounding divergence, not a bug" if agree else "beyond rounding: DIFFER") in detail
