"""Bundles hold no weights unless ``--ragperf-bundle-weights``, and then only the tiny models' folders."""

import pytest

PLANTED = '''
import pytest

@pytest.mark.recompile
def test_tiny(load_embedder):
    load_embedder("tiny-bert")
    assert False

@pytest.mark.recompile
def test_real(load_embedder):
    load_embedder("minilm")
    assert False
'''
TRACES = "ragperf-traces"


def _weight_files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin"))


@pytest.mark.slow  # kept out of the default suite for its time budget (CI: 2 cores, 15 min)
def test_bundle_weights_copies_the_tiny_model_and_refuses_a_real_one(pytester):
    pytester.makepyfile(test_weights=PLANTED)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--ragperf-bundle-weights")
    result.assert_outcomes(failed=2)
    tiny = pytester.path / TRACES / "test_weights.py_test_tiny" / "repro" / "weights" / "tiny-bert"
    assert _weight_files(tiny) and (tiny / "modules.json").is_file()
    result.stdout.fnmatch_lines([f"weights:*{tiny.parent} (tiny-bert)",
                                 "weights:*not bundled: minilm (--ragperf-bundle-weights copies only the tiny*"])
    assert not _weight_files(pytester.path / TRACES / "test_weights.py_test_real")


def test_bundles_hold_no_weights_unless_asked(pytester):
    pytester.makepyfile(test_weights=PLANTED)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-k", "tiny")
    result.assert_outcomes(failed=1)
    assert (pytester.path / TRACES / "test_weights.py_test_tiny" / "repro" / "command.txt").is_file()
    assert not _weight_files(pytester.path / TRACES) and "weights:        " not in result.stdout.str()
