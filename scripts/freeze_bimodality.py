"""One fresh process: what could make a freezing rung's speedup differ between a "high" and a "low" process.

Times, interleaved in random order as the gate does (``ragperf.perf.timing.interleaved``), four arms
over the same tokenized batch:

- ``eager``        the transformer as loaded (what the gate's eager arm runs);
- ``eager_copy``   a deep copy of it: every weight in a fresh anonymous allocation (64-byte aligned),
                   the way the frozen rung holds its own prepacked copies;
- ``compile``      ``compile`` of the loaded transformer (shares its weights);
- the freezing rung given (default ``compile+freeze``).

and prints one JSON line: each arm's median, the ratios, whether the loaded weights are backed by
the model file (a ``MAP_PRIVATE`` mapping of ``model.safetensors``) and their alignment, the frozen
constants' alignment, AnonHugePages, CPU affinity and the load average. Run it in many fresh processes:

    for i in $(seq 12); do OMP_NUM_THREADS=1 python scripts/freeze_bimodality.py compile+freeze; done
"""
import copy
import gc
import json
import os
import statistics
import sys
import time

import torch

from ragperf.models.embedders import load_embedder
from ragperf.models.ladder import BLOG_SENTENCES, build_variant
from ragperf.perf import timing

variant = sys.argv[1] if len(sys.argv) > 1 else "compile+freeze"
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
embedder = load_embedder("minilm")
batch = embedder.tokenize(BLOG_SENTENCES)
eager = build_variant(embedder, "eager")
copied = copy.deepcopy(embedder.transformer)
compiled = build_variant(embedder, "compile")
frozen = build_variant(embedder, variant)


def eager_copy():
    with eager.variant.call_context():  # the eager rung's grad mode, over the copied weights
        return embedder.embed(batch, copied)


arms = {"eager": lambda: eager(batch), "eager_copy": eager_copy, "compile": lambda: compiled(batch),
        "frozen": lambda: frozen(batch)}


def file_ranges(name="model.safetensors"):
    out = []
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith(name):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            out.append((lo, hi))
    return out


def anon_huge_kb():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages"):
            return int(line.split()[1])
    return None


t0 = time.time()
timing.warm_up(arms)
probe = statistics.median(timing.interleaved({"eager": arms["eager"]}, 3)["eager"].seconds)
calls = max(1, min(100, round(0.01 / probe)))
samples = timing.interleaved(arms, rounds, calls_per_round=calls)
med = {k: v.median for k, v in samples.items()}
ratio = {f"{a}/{b}": timing.speedup(samples[a], samples[b]).ratio
         for a, b in (("eager", "frozen"), ("eager_copy", "frozen"), ("eager", "compile"), ("eager", "eager_copy"))}
ranges = file_ranges()
params = [p for p in embedder.transformer.parameters() if p.dim() == 2 and p.numel() >= 384 * 384]
in_file = sum(any(lo <= p.data_ptr() < hi for lo, hi in ranges) for p in params)
consts = [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and not isinstance(o, torch.nn.Parameter)
          and o.device.type == "cpu" and o.numel() >= 384 * 384]
print(json.dumps({
    "variant": variant, "calls_per_round": calls, "median_ms": {k: round(v * 1e3, 4) for k, v in med.items()},
    "ratios": {k: round(v, 4) for k, v in ratio.items()},
    "params_file_backed": f"{in_file}/{len(params)}", "param_mod64": sorted({p.data_ptr() % 64 for p in params}),
    "copy_mod64": sorted({p.data_ptr() % 64 for p in copied.parameters() if p.dim() == 2}),
    "const_mod64": sorted({c.data_ptr() % 64 for c in consts}), "n_consts": len(consts),
    "anon_huge_kb": anon_huge_kb(), "cpus": sorted(os.sched_getaffinity(0)), "load": os.getloadavg()[0],
    "wall_s": round(time.time() - t0, 1)}))
