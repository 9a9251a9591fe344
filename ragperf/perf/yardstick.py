"""A yardstick for compile time on a machine whose speed drifts: a fixed CPU-bound workload of the kind a
compile is made of - Python source compiled to bytecode and run, string and dict churn, sorting - timed in
the same process right before the compile it measures.

On a shared VM the seconds of one and the same compile move 10-20% between processes minutes apart
(docs/perf.md, "Compile time"), more than the 10% regression the compile-time gate must see; PyTorch's own
compile-time gate counts instructions, which such VMs do not expose. ``compile seconds / yardstick
seconds`` cancels the machine's speed of the moment, as an interleaved eager/compiled ratio cancels load:
a torch change that slows the compiler moves it, the machine drifting does not.
"""

from __future__ import annotations

import time


def _work(functions: int) -> int:
    source = "\n".join(f"def f{i}(x, y=({i}, 'f{i}')):\n    return [x * k for k in range(y[0] % 7)] + list(y)"
                       for i in range(functions))
    space: dict = {}
    exec(compile(source, "<yardstick>", "exec"), space)  # our own generated source
    total = sum(len(space[f"f{i}"](i)) for i in range(functions))
    table = {f"key-{i}": i for i in range(functions * 20)}
    return total + sum(sorted(table.values(), key=lambda v: -v)[:10])


def seconds(repeats: int = 5, functions: int = 1000) -> float:
    """The fastest of ``repeats`` runs of the fixed workload: this machine's speed right now, in seconds
    (the minimum, so that one descheduled run does not count; garbage collected before each run)."""
    import gc

    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        _work(functions)
        best = min(best, time.perf_counter() - start)
    return best
