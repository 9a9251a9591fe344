"""One fresh process: MiniLM compile+freeze (or the variant given) vs eager, interleaved as the gate times it,
plus what could differ between a "high" and a "low" process: the data_ptr alignment (% 64, % 4096) of eager's
large parameters and of the other large CPU tensors (the frozen/prepacked constants), AnonHugePages, CPU
affinity and the load average. Prints one JSON line. Run it in many fresh processes:

    for i in $(seq 12); do OMP_NUM_THREADS=1 python scripts/freeze_bimodality.py compile+freeze; done
"""
import gc
import json
import os
import sys
import time

import torch

from ragperf.perf import timing
from ragperf.perf.cases import Case

variant = sys.argv[1] if len(sys.argv) > 1 else "compile+freeze"
case = Case("embed", "minilm", variant)
eager, cand = case.callables()
def thp():
    try:
        for line in open("/proc/self/smaps_rollup"):
            if line.startswith("AnonHugePages"):
                return int(line.split()[1])
    except OSError:
        return None
t0=time.time()
res = timing.compare(eager, cand, 60, seed=0, device=torch.device("cpu"))
f = res.figures()
ptrs = []
for o in gc.get_objects():
    try:
        if isinstance(o, torch.nn.Parameter) and o.dim() == 2 and o.numel() >= 384*384:
            ptrs.append(o.data_ptr())
    except Exception:
        pass
consts = []
for o in gc.get_objects():
    try:
        if isinstance(o, torch.Tensor) and not isinstance(o, torch.nn.Parameter) and o.numel() >= 384*384 and o.device.type == "cpu":
            consts.append(o.data_ptr())
    except Exception:
        pass
print(json.dumps({"variant": variant, "speedup": f["speedup"], "se": f["speedup_se"], "eager_ms": f["eager_median_s"]*1e3,
  "cand_ms": f["median_s"]*1e3, "calls": f["calls_per_round"], "first_call_s": f["first_call_s"],
  "anon_huge_kb": thp(), "load": os.getloadavg(),
  "param_mod4096": sorted(set(p % 4096 for p in ptrs))[:8], "param_mod64": sorted(set(p % 64 for p in ptrs)),
  "n_params": len(ptrs), "n_consts": len(consts), "const_mod4096": sorted(set(p % 4096 for p in consts))[:8],
  "const_mod64": sorted(set(p % 64 for p in consts)), "cpus": sorted(os.sched_getaffinity(0)),
  "wall": time.time()-t0}))
