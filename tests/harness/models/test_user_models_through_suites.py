"""A user's own models through the suites: ``--ragperf-embedder`` / ``--ragperf-decoder`` naming folders of
families this project names nowhere reach every test that can judge them, those tests pass on them (every
skip naming its reason), and a broken compiled path on the user's model turns its parity tests red.

Each runs pytest in a child process over the repository's suites: slow (a collection of three suites, then
compiles on one core).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragperf.models.ladder import LADDER
from ragperf.numerics.fastmath import LANES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[3]


def _pytest(folders: dict[str, Path], *args: str, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(extra_path or ""),
                                                                      os.environ.get("PYTHONPATH", "")]))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "--ragperf-embedder", str(folders["distilbert-cls"]),
                           "--ragperf-decoder", str(folders["qwen2"]), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)


def test_collection_puts_the_user_models_in_every_suite(user_model_folders):
    run = _pytest(user_model_folders, "tests/correctness", "tests/recompile", "tests/perf", "-m", "not slow",
                  "--collect-only", "-q")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ids = {line for line in run.stdout.splitlines() if "::" in line}
    expected = [
        *(f"tests/correctness/test_embedder_parity.py::test_ladder_variant_matches_eager[distilbert-cls-{v}-{lane}]"
          for v in LADDER for lane in LANES),
        "tests/correctness/test_embedder_parity.py::test_eager_embedding_is_canonical[distilbert-cls]",
        "tests/correctness/test_embedder_parity.py::test_compiled_embedding_is_canonical[distilbert-cls]",
        "tests/correctness/test_embedder_parity.py::test_pooler_output_wrapper_fails[distilbert-cls]",
        "tests/correctness/test_fastmath_lanes.py::test_emulated_error_vs_fp64_is_bf16_sized[distilbert-cls]",
        "tests/correctness/test_rag_retrieval.py::test_compiled_variant_retrieves_eager_top5[serve-distilbert-cls-compile]",
        "tests/recompile/test_freezing.py::test_no_grad_outside_the_compiled_call_freezes_and_prepacks[distilbert-cls]",
        "tests/recompile/test_probe_gates.py::test_steady_state_window_fails_with_the_guard_reason[distilbert-cls]",
        "tests/recompile/test_scenarios.py::test_scenario_matches_expected_table[index16-query1-auto-distilbert-cls]",
        "tests/recompile/test_scenarios.py::test_scenario_matches_expected_table[prefill5-decode-prefill10-auto-qwen2]",
        "tests/recompile/test_scenarios.py::test_scenario_matches_expected_table[static-cache-two-prompts-auto-qwen2]",
        "tests/correctness/test_decoder_parity.py::test_greedy_tokens_and_step_logits_match_eager[qwen2-compile-decode-off]",
        "tests/correctness/test_decode_sizes.py::test_sizes_compiled_ahead_are_timed_without_a_recompile[qwen2]",
        "tests/correctness/test_ragged_decode.py::test_ragged_rows_equal_their_prompts_generated_alone[qwen2-eager-cpu]",
        "tests/correctness/test_ragged_decode.py::test_a_new_length_mix_reuses_the_compiled_decode[qwen2-static-cudagraphs-cpu]",
        "tests/correctness/test_static_decode.py::test_static_mode_greedy_tokens_equal_eager[qwen2-static-cudagraphs-cpu]",
        "tests/perf/test_embed_perf.py::test_embedding_ladder_rung_vs_eager[distilbert-cls-compile]",
        "tests/perf/test_decode_perf.py::test_compiled_decode_vs_eager[qwen2]",
    ]
    missing = [i for i in expected if i not in ids]
    assert not missing, f"{len(missing)} expected ids not collected: {missing}"
    # the project's own tiny models still check the harness; the option's default (minilm) is not judged
    assert "tests/correctness/test_embedder_parity.py::test_eager_embedding_is_canonical[tiny-bert]" in ids
    assert not [i for i in ids if "minilm" in i.split("::")[-1]], sorted(i for i in ids if "minilm" in i)


SELECTION = [
    "tests/correctness/test_embedder_parity.py::test_ladder_variant_matches_eager[distilbert-cls-eager-off]",
    "tests/correctness/test_embedder_parity.py::test_ladder_variant_matches_eager[distilbert-cls-compile-off]",
    "tests/correctness/test_embedder_parity.py::test_ladder_variant_matches_eager[distilbert-cls-compile-emulated]",
    "tests/correctness/test_embedder_parity.py::test_eager_embedding_is_canonical[distilbert-cls]",
    "tests/correctness/test_embedder_parity.py::test_pooler_output_wrapper_fails[distilbert-cls]",
    "tests/correctness/test_fastmath_lanes.py::test_emulated_error_vs_fp64_is_bf16_sized[distilbert-cls]",
    "tests/correctness/test_rag_retrieval.py::test_known_answers_reach_recall_floor[serve-distilbert-cls]",
    "tests/recompile/test_probe_gates.py::test_steady_state_window_fails_with_the_guard_reason[distilbert-cls]",
    "tests/recompile/test_scenarios.py::test_scenario_matches_expected_table[index16-query1-auto-distilbert-cls]",
    "tests/recompile/test_scenarios.py::test_scenario_matches_expected_table[prefill5-decode-prefill10-auto-qwen2]",
    "tests/correctness/test_ragged_decode.py::test_ragged_rows_equal_their_prompts_generated_alone[qwen2-eager-cpu]",
    "tests/correctness/test_ragged_decode.py::test_ragged_rows_equal_their_prompts_generated_alone[qwen2-reference-eager-cpu]",
    "tests/correctness/test_decoder_parity.py::test_kv_cache_decoding_equals_full_recomputation[qwen2-static]",
]


def test_a_selection_passes_on_the_user_models_and_every_skip_says_why(user_model_folders):
    run = _pytest(user_model_folders, *SELECTION, "-rs", "-q")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    skips = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    # pytest -rs: "SKIPPED [1] path:line: reason"; a reason is more than a location
    assert all(len(line.split(": ", 1)[-1]) > 20 for line in skips), skips
    reasons = "\n".join(skips)
    for says in ("calibrated on minilm, not distilbert-cls", "returns no pooler_output", "mirrors Llama",
                 "distilbert-cls has no rows", "qwen2 has no rows"):
        assert says in reasons, f"no skip saying {says!r}:\n{reasons}"
    assert f"{len(SELECTION) - len(skips)} passed" in run.stdout, run.stdout[-3000:]


PLANT = '''"""Every compiled fixture through the wrong-op backend (GELU lowered as SiLU)."""
from ragperf.compile.planted import WRONG_OP


def pytest_configure(config):
    config.option.ragperf_backend = WRONG_OP
'''


def test_a_wrong_op_backend_turns_the_user_models_parity_red(user_model_folders, tmp_path):
    (tmp_path / "planted_wrong_op.py").write_text(PLANT)
    case = "tests/correctness/test_embedder_parity.py::test_ladder_variant_matches_eager[distilbert-cls-compile-off]"
    run = _pytest(user_model_folders, case, "-p", "planted_wrong_op", "--ragperf-minify-timeout", "0", "-q",
                  extra_path=tmp_path)  # the minifier (minutes) is tested with the evidence
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"FAILED {case}" in run.stdout and "fail_accuracy" in run.stdout, run.stdout[-3000:]
