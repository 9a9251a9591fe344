"""Planted compiler bugs: Dynamo backends that lower an op wrongly, for proving the harness catches them.

``ragperf_wrong_op`` rewrites the captured FX graph so every exact GELU becomes SiLU
(``x * sigmoid(x)``), the activation-table mix-up a backend can make: same shape of curve, close
near zero, but not the op the model asked for; then it runs the rewritten graph as Dynamo's ``eager`` backend does. (GELU's own tanh
approximation is too close to catch on a tiny random-weight model: its activations stay near 0.)

Importing this module registers the backend with Dynamo (once per process).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WRONG_OP = "ragperf_wrong_op"
_GELUS = (F.gelu, torch._C._nn.gelu)


def gelu_to_silu(gm: torch.fx.GraphModule) -> int:
    """Turn each exact ``gelu`` call in ``gm`` into ``silu``; the number rewritten."""
    rewritten = 0
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in _GELUS and node.kwargs.get("approximate", "none") == "none":
            node.target, node.kwargs = F.silu, {}
            rewritten += 1
    gm.recompile()
    return rewritten


def wrong_op(gm: torch.fx.GraphModule, example_inputs) -> torch.fx.GraphModule:
    """The ``ragperf_wrong_op`` backend: :func:`gelu_to_silu`, then the graph itself runs.

    It returns the FX module rather than ``aot_eager``'s callable because torch's accuracy minifier
    deep-copies the compiled callable, which breaks ``aot_eager``'s (torch 2.13: StopIteration).
    """
    gelu_to_silu(gm)
    return gm


def register() -> None:
    from torch._dynamo.backends.registry import _COMPILER_FNS, register_backend

    if WRONG_OP not in _COMPILER_FNS:
        register_backend(wrong_op, name=WRONG_OP)


register()
