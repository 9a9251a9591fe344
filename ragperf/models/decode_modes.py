"""Every decode mode in one table: how prefill and decode run, compiled how, and where each is measured.

A decode mode is one way to run greedy prefill + decode on a decoder
(:func:`ragperf.models.generation.build_generator` builds it). Its family says which model runs and
with which KV cache:

=============  ===================================================================================
``paper``      the transformers model with the caller's KV cache kind and compile settings: the
               compile modes of "Studying the Overhead of torch.compile() in LLM Inference", Table 1
``static``     the transformers model with a ``StaticCache`` kept per shape and reset between
               generations (as ``generate`` does), compiled ``dynamic=False, fullgraph=True``: as
               deployed on GPUs
``reference``  the plain-PyTorch Llama of :mod:`ragperf.models.reference_llama` on the same weights,
               its own static KV cache, compiled as ``static``
=============  ===================================================================================

Everything that lists or checks decode modes (the commands' choices, the plugin's ``decode_mode``
parametrization, the perf cases, the GPU bench) reads :data:`MODES`: a new mode is one row here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragperf.errors import RagperfError

FAMILIES = ("paper", "static", "reference")
PHASES = ("prefill", "decode")
# gpt-fast's own recipe: CUDA graphs with coordinate descent tuning (what its published tok/s used).
_GPT_FAST = {"triton.cudagraphs": True, "coordinate_descent_tuning": True}


@dataclass(frozen=True)
class DecodeMode:
    """One decode mode.

    ``compiles``: the phases (of :data:`PHASES`) that run through ``torch.compile``; none is eager.
    ``cuda``: ``torch.compile`` keyword arguments added on CUDA with Inductor (``mode=`` or
    ``options=``); CUDA graphs are CUDA-only, so elsewhere the mode compiles with Inductor's default.
    ``run_on``: the devices on which ``ragperf run``'s decode section measures it.
    """

    name: str
    family: str
    compiles: tuple[str, ...]
    doc: str
    cuda: dict = field(default_factory=dict)
    run_on: tuple[str, ...] = ("cpu", "cuda")

    @property
    def static_cache(self) -> bool:
        """A static KV cache kept per (batch, length) and reset between generations, compiled at fixed shapes."""
        return self.family != "paper"

    @property
    def cuda_graphs(self) -> bool:
        """On CUDA its compiled phases are captured as CUDA graphs (and replayed)."""
        return self.cuda.get("mode") in ("reduce-overhead", "max-autotune") \
            or bool(self.cuda.get("options", {}).get("triton.cudagraphs"))


MODES: dict[str, DecodeMode] = {m.name: m for m in (
    DecodeMode("eager", "paper", (), "prefill and decode run the model as loaded"),
    DecodeMode("compile-decode", "paper", ("decode",), "prefill eager; decode steps through torch.compile"),
    DecodeMode("compile-prefill-decode", "paper", ("prefill", "decode"), "both phases through one torch.compiled model"),
    DecodeMode("static-cudagraphs", "static", ("decode",), "decode compiled mode='reduce-overhead' (CUDA graphs)",
               cuda={"mode": "reduce-overhead"}, run_on=("cuda",)),
    DecodeMode("static-max-autotune", "static", ("decode",), "decode compiled mode='max-autotune'",
               cuda={"mode": "max-autotune"}, run_on=("cuda",)),
    DecodeMode("reference-eager", "reference", (), "the reference model as loaded", run_on=()),
    DecodeMode("reference-cudagraphs", "reference", ("decode",), "gpt-fast's recipe: CUDA graphs, coordinate descent",
               cuda={"options": _GPT_FAST}, run_on=("cuda",)),
    DecodeMode("reference-max-autotune", "reference", ("decode",), "gpt-fast's recipe with max-autotune",
               cuda={"options": {"max_autotune": True, **_GPT_FAST}}, run_on=("cuda",)),
)}


def mode(name: str) -> DecodeMode:
    """The row named ``name``; one line naming every mode otherwise."""
    try:
        return MODES[name]
    except KeyError:
        raise RagperfError(f"unknown decode mode {name!r}; choose from {', '.join(MODES)}") from None


def names(*families: str, compiled: bool | None = None) -> tuple[str, ...]:
    """The modes of ``families`` (all when none given), in table order; ``compiled`` keeps only the modes that
    compile something (True) or nothing (False)."""
    return tuple(m.name for m in MODES.values() if (not families or m.family in families)
                 and (compiled is None or bool(m.compiles) == compiled))


def run_modes(device: str) -> tuple[str, ...]:
    """The modes ``ragperf run``'s decode section measures on ``device``."""
    return tuple(m.name for m in MODES.values() if device in m.run_on)
