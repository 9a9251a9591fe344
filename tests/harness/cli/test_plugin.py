"""The installed plugin gives any project's tests the ragperf markers, options and fixtures."""

import pytest

USER_TESTS = '''
import torch
from ragperf.models.decoders import random_prompts
from ragperf.models.generation import build_generator

TEXTS = ["hello world", "a longer sentence about retrieval augmented generation"]

def test_every_ladder_rung_runs_and_agrees_with_eager(embedder_variant, eager_embedder, ladder_variant):
    assert embedder_variant.variant.name == ladder_variant
    assert torch.allclose(embedder_variant.encode(TEXTS), eager_embedder.encode(TEXTS), atol=1e-5)

def test_every_decode_mode_gives_eagers_greedy_tokens(generator, decoder, decode_mode):
    assert generator.mode == decode_mode
    prompt = random_prompts(decoder, 2, 5)
    eager = build_generator(decoder, "eager").generate(prompt, 6).tokens
    assert torch.equal(generator.generate(prompt, 6).tokens, eager)
'''


@pytest.fixture
def user_project(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


@pytest.mark.slow  # ~60 s on 2 cores (three Inductor rungs in a fresh project); the ladder fixtures run in-process in
# tests/correctness, and the entry point in a user's project is proven by the decode test below
def test_fixtures_build_every_ladder_variant_in_a_users_project(user_project):
    result = user_project.runpytest_subprocess("--ragperf-embedder", "tiny-bert", "-k", "ladder", "-v")
    result.assert_outcomes(passed=4, deselected=3)
    result.stdout.fnmatch_lines(["*ladder_rung*compile+freeze+inference_mode*PASSED*"])


def test_fixtures_build_every_decode_mode_in_a_users_project(user_project):
    # aot_eager: the fixtures are under test here; Inductor's decode parity is in tests/correctness.
    result = user_project.runpytest_subprocess("--ragperf-decoder", "tiny-gpt2", "--ragperf-backend", "aot_eager",
                                               "-k", "decode", "-v")
    result.assert_outcomes(passed=3, deselected=4)
    result.stdout.fnmatch_lines(["*decode_mode*compile-prefill-decode*PASSED*"])


def test_markers_are_registered_and_strict(pytester):
    pytester.makepyfile(test_marks="import pytest\n@pytest.mark.perf\ndef test_a(): pass\n"
                                   "@pytest.mark.no_such_marker\ndef test_b(): pass\n")
    result = pytester.runpytest("--strict-markers")
    result.stdout.fnmatch_lines(["*'no_such_marker' not found in `markers` configuration option*"])
    markers = pytester.runpytest("--markers").stdout.str()
    for name in ("correctness", "recompile", "perf", "coldstart", "gpu", "slow"):
        assert f"@pytest.mark.{name}:" in markers


def test_an_unknown_variant_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x(): pass\n")
    result = pytester.runpytest("--ragperf-variants", "eager,compile+magic")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ragperf-variants: unknown variant 'compile+magic'; choose from*"])


def test_a_missing_model_path_is_a_usage_error_not_a_traceback(pytester):
    pytester.makepyfile(test_x="def test_x(embedder): pass\n")
    result = pytester.runpytest("--ragperf-embedder", "/no/such/model")
    assert result.ret != 0
    output = result.stdout.str() + result.stderr.str()
    assert "model path '/no/such/model' does not exist" in output
    assert "site-packages/transformers" not in output


def test_gpu_tests_skip_with_the_reason_without_a_gpu(pytester):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the skip under test does not happen here")
    pytester.makepyfile(test_g="import pytest\n@pytest.mark.gpu\ndef test_g(): pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs an NVIDIA GPU: torch.cuda.is_available() is False*"])


def test_a_missing_gpu_is_a_usage_error_unless_the_skip_is_asked_for(pytester):
    """A GPU runner that lost its GPU must not pass its gate by skipping everything; a mixed fleet may opt in."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal under test does not happen here")
    pytester.makepyfile(test_c="def test_c(): pass\n")
    refused = pytester.runpytest("--ragperf-device", "cuda")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--ragperf-device cuda*--ragperf-skip-missing-device*"])
    skipped = pytester.runpytest("--ragperf-device", "cuda", "--ragperf-skip-missing-device", "-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*needs an NVIDIA GPU*"])
