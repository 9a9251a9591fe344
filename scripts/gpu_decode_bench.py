"""Decode tok/s per mode on a GPU (bf16, batch 1): ``python scripts/gpu_decode_bench.py [decoder ...]``.

Each mode: one warm-up generation (compiles and captures), then REPEATS timed generations inside
``steady_state()`` (a recompile fails the run). tok/s = 1 / median decode-step time from CUDA events.
Also prints the device-to-device copy bandwidth (bytes read + written) as the roofline.
"""

import statistics
import sys

import torch

from ragperf.compile.probe import steady_state
from ragperf.models.decoders import load_decoder, random_prompts
from ragperf.models.generation import build_generator

MODES = ("eager", "compile-decode", "static-cudagraphs", "static-max-autotune")
PROMPT, NEW_TOKENS, REPEATS = 128, 128, 3


def copy_bandwidth() -> float:
    src = torch.randn(1 << 29, device="cuda", dtype=torch.bfloat16)  # 1 GiB
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        dst.copy_(src)
    end.record()
    end.synchronize()
    return 2 * src.numel() * 2 * 20 / (start.elapsed_time(end) / 1e3)


def main(names: list[str]) -> None:
    bw = copy_bandwidth()
    print(f"device {torch.cuda.get_device_name()} torch {torch.__version__} copy bandwidth {bw / 1e12:.2f} TB/s")
    for name in names:
        decoder = load_decoder(name, device="cuda", dtype=torch.bfloat16)
        prompt = random_prompts(decoder, 1, PROMPT)
        eager_tokens = None
        for mode in MODES:
            gen = build_generator(decoder, mode)
            warm = gen.generate(prompt, NEW_TOKENS)
            runs = []
            with steady_state():
                for _ in range(REPEATS):
                    runs.append(gen.generate(prompt, NEW_TOKENS))
            if eager_tokens is None:
                eager_tokens = runs[0].tokens
            same = torch.equal(runs[0].tokens, eager_tokens)
            first_diff = (runs[0].tokens != eager_tokens).any(0).nonzero().flatten()[:1].tolist()
            rates = [1 / statistics.median(r.step_s) for r in runs]
            bytes_per_s = statistics.median(rates) * decoder.weight_bytes()
            print(f"{name:14s} {mode:20s} tok/s runs {' '.join(f'{r:7.1f}' for r in rates)}  "
                  f"median {statistics.median(rates):7.1f}  weights {bytes_per_s / bw:5.1%} of copy bw  "
                  f"first-decode {warm.first_decode_s:6.2f}s  tokens==eager {same} {first_diff}", flush=True)
            del gen
            torch._dynamo.reset()


if __name__ == "__main__":
    main(sys.argv[1:] or ["tiny-llama", "llama-3.2-1b"])
