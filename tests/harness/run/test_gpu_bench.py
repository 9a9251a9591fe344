"""The GPU decode benchmark's CPU path end to end (tiny shapes): the table, the JSON, exit 0; a mode
that fails leaves the others' figures and exits 1; bad input exits 2 in one line."""

import json

import pytest
import torch

from ragperf.jobs import gpu_bench

TINY = ["--device", "cpu", "--decoder", "tiny-llama", "--prompt-len", "5", "--new-tokens", "3", "--repeats", "2",
        "--backend", "aot_eager"]


def test_end_to_end_on_cpu_prints_the_table_and_writes_the_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = gpu_bench.main(TINY + ["--modes", "eager,static-cudagraphs,reference-cudagraphs", "--sizes", "1,2",
                                "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    results = json.loads(out.read_text())["tiny-llama"]["results"]
    assert [r["mode"] for r in results] == ["eager", "static-cudagraphs", "reference-cudagraphs"]
    for result in results:
        assert [row["batch"] for row in result["rows"]] == [1, 2] and all(row["tok_s"] > 0 for row in result["rows"])
        assert result["tokens"] in ("equal", "near-tie") and not result["problems"]
    kv = json.loads(out.read_text())["tiny-llama"]["kv_cache_vs_recompute"]
    assert kv["speedup"] > 0 and kv["tokens_equal"] and "KV cache vs full recompute (HF eager, bs 1)" in printed
    assert kv["tokens"] == "equal" and "tokens: equal)" in printed
    assert "%ref" in printed and "copy bandwidth measured on the device: n/a" in printed
    assert printed.rstrip().endswith("ok")


def test_a_failing_mode_leaves_the_others_and_exits_1(tmp_path, capsys, monkeypatch):
    real = gpu_bench.measure

    def planted(decoder, mode, *args, **kwargs):
        if mode == "reference-eager":
            raise RuntimeError("planted: capture failed")
        return real(decoder, mode, *args, **kwargs)

    monkeypatch.setattr(gpu_bench, "measure", planted)
    out = tmp_path / "bench.json"
    rc = gpu_bench.main(TINY + ["--modes", "eager,reference-eager", "--no-recompute", "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 1
    assert "reference-eager          FAILED: RuntimeError: planted: capture failed" in printed
    results = json.loads(out.read_text())["tiny-llama"]["results"]
    assert results[0]["rows"][0]["tok_s"] > 0 and "error" in results[1]


@pytest.mark.parametrize("argv,message", [
    (["--sizes", "0"], "distinct positive batch sizes"),
    (["--modes", "eager,warp-speed"], "unknown modes ['warp-speed']"),
])
def test_bad_input_exits_2_in_one_line(argv, message, capsys):
    assert gpu_bench.main(TINY + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: nothing to refuse")
def test_cuda_without_a_device_exits_2(capsys):
    assert gpu_bench.main(["--device", "cuda"]) == 2
    assert "torch.cuda.is_available() is False" in capsys.readouterr().err


def test_target_lines_follow_the_targets():
    results = [{"mode": "static-max-autotune", "rows": [{"batch": 1, "tok_s": 528.0}]},
               {"mode": "reference-max-autotune", "rows": [{"batch": 1, "tok_s": 690.0, "copy_fraction": 0.41}]},
               {"mode": "compile-decode", "error": "planted"}]
    assert gpu_bench.target_lines(results) == [("best HF mode 528 tok/s >= 500", True),
                                             ("reference 690 tok/s >= 700", False),
                                             ("reference at 41% of measured copy bandwidth >= 40%", True)]


def test_target_lines_name_the_device_found():
    label = gpu_bench.target_label("NVIDIA H100 80GB HBM3", "llama-3.2-1b", torch.bfloat16, 128)
    assert label == "target (NVIDIA H100 80GB HBM3, llama-3.2-1b, bfloat16, bs 1, prompt 128)"


STEPS = 6


@pytest.fixture(scope="module")
def tiny_decode():
    """tiny-llama (fp32, CPU): the prompt, the KV-cache generation with its logits, recompute's tokens."""
    from ragperf.models.decoders import load_decoder, random_prompts
    from ragperf.models.generation import build_generator, recompute_greedy

    decoder = load_decoder("tiny-llama")
    prompt = random_prompts(decoder, 1, 5, seed=1)
    cached = build_generator(decoder, "eager").generate(prompt, STEPS, record_logits=True)
    return decoder, prompt, cached, recompute_greedy(decoder, prompt, STEPS)


@pytest.fixture
def tolerance():
    from ragperf.numerics import tolerances

    return tolerances.lookup(torch.device("cpu"), torch.float32, "off")


def test_recompute_logits_are_those_recompute_picked_its_tokens_from(tiny_decode):
    decoder, prompt, _, recomputed = tiny_decode
    logits = gpu_bench.RecomputeLogits(decoder, prompt, recomputed)
    assert [int(logits[step].argmax(-1)) for step in range(STEPS)] == recomputed[0].tolist()


def _planted(tiny_decode, monkeypatch, pick):
    """Recompute's tokens with the KV cache's token at the nearest-tie step replaced by ``pick(logits, std)``'s
    token, whose logit is set as ``pick`` says; returns (step, the top-two gap there in std units, tokens)."""
    decoder, prompt, cached, _ = tiny_decode
    gaps = []
    for step, logits in enumerate(cached.logits):
        top = logits[0].topk(2)
        gaps.append((float(top.values[0] - top.values[1]) / float(logits[0].std()), step, int(top.indices[1])))
    gap, step, runner_up = min(gaps)
    token, value = pick(cached.logits[step][0], runner_up)
    planted = cached.tokens.clone()
    planted[0, step] = token
    honest = gpu_bench.RecomputeLogits.__getitem__

    class Planted(gpu_bench.RecomputeLogits):
        def __getitem__(self, at):
            logits = honest(self, at).clone()
            if at == step:
                logits[0, token] = value
            return logits

    monkeypatch.setattr(gpu_bench, "RecomputeLogits", Planted)
    return step, gap, planted


def test_kv_cache_and_recompute_tokens_equal_near_tie_or_differ(tiny_decode, tolerance, monkeypatch):
    """Equal tokens say equal; a flip to the runner-up by a hair at a step within the tie gap is a near-tie with
    its logit margin; a flip to the least likely token, its logit pushed far past the rest, is DIFFER."""
    decoder, prompt, cached, recomputed = tiny_decode
    assert gpu_bench.recompute_agreement(decoder, prompt, cached.tokens, recomputed, tolerance) == (
        "equal", f"greedy tokens equal ({STEPS} steps)")

    step, gap, planted = _planted(tiny_decode, monkeypatch,
                                  lambda logits, runner_up: (runner_up, float(logits.max() + 1e-4 * logits.std())))
    near = tolerance.replace(tie_gap=2 * max(gap, 1e-4))
    verdict, detail = gpu_bench.recompute_agreement(decoder, prompt, cached.tokens, planted, near)
    assert verdict == "near-tie", detail
    assert f"first differ at step {step}" in detail and f"logit gaps {gap:.3g} (eager)" in detail
    assert detail.startswith("KV cache as eager, recompute as compiled:")

    monkeypatch.undo()
    step, _, planted = _planted(tiny_decode, monkeypatch, lambda logits, _: (
        int(logits.argmin()), float(logits.max() + 100 * logits.std())))
    verdict, detail = gpu_bench.recompute_agreement(decoder, prompt, cached.tokens, planted, tolerance)
    assert verdict == "DIFFER" and "NOT a near-tie" in detail and "beyond rounding: DIFFER" in detail, detail
