"""The parts of job serve-bench that need no server: prompts over every bucket, the bench figure it quotes."""

from __future__ import annotations

import json

from ragperf.jobs.serve_bench import bench_figure, prompts_over
from ragperf.models.generation import bucket_for, length_buckets


def test_the_prompts_land_in_every_bucket_and_fit_the_context():
    buckets = length_buckets(512)
    prompts = prompts_over(buckets, 32)
    landed = {bucket_for(buckets, len(p) + 1 + 32) for p in prompts}
    assert landed == set(buckets)
    assert max(len(p) + 1 for p in prompts) + 32 == 512 and min(len(p) + 1 for p in prompts) >= 2


def test_the_bench_figure_is_the_modes_batch_one_row_or_says_why_not(tmp_path):
    report = {"args": {"prompt_len": 128, "new_tokens": 64},
              "llama-3.2-1b": {"results": [{"mode": "static-cudagraphs", "compile_s": 30.0, "cudagraphs_recorded": 2,
                                            "tokens": "equal", "problems": [],
                                            "rows": [{"batch": 2, "tok_s": 9.0}, {"batch": 1, "tok_s": 5.0}]}]}}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(report))
    figure = bench_figure(path, "llama-3.2-1b", "static-cudagraphs")
    assert figure["tok_s"] == 5.0 and figure["tokens_vs_eager"] == "equal" and figure["error"] is None
    assert "no llama-3.2-1b static-max-autotune row" in bench_figure(path, "llama-3.2-1b", "static-max-autotune")["error"]
    assert "did not finish" in bench_figure(tmp_path / "absent.json", "llama-3.2-1b", "static-cudagraphs")["error"]
    assert bench_figure(None, "llama-3.2-1b", "static-cudagraphs") is None
