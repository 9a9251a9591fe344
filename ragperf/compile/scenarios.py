"""Recompile scenarios: shape schedules run under a dynamic-shape strategy with the compile probe around them.

Each scenario returns a :class:`ScenarioResult`: the :class:`~ragperf.compile.probe.ProbeReport` of the whole
schedule (the counts stored in the expected-behaviour tables) and, where the scenario has one, the
report of its steady-state window after warm-up. The same functions serve ``pytest tests/recompile``,
``ragperf expected --update`` and ``ragperf recompiles``.

Embedder inputs are synthetic token ids of exact shapes (random ids, full attention mask): the
compile behaviour depends on shapes and dtypes, not on the text.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from ragperf import argtypes
from ragperf.compile.probe import CompileProbe, ProbeReport, compile_errors, steady_state
from ragperf.compile.strategies import STRATEGIES, Strategy
from ragperf.errors import RagperfError

Shape = tuple[int, int]  # (batch, sequence length)
GRAD_MODES = ("no_grad", "inference_mode")
DECODER_STRATEGIES = ("auto", "dynamic")  # the overhead paper's two settings


@dataclass
class ScenarioResult:
    report: ProbeReport
    steady: ProbeReport | None = None  # the window after warm-up, where the scenario has one


@dataclass(frozen=True)
class Step:
    batch: int
    length: int
    grad_mode: str = "no_grad"


@dataclass(frozen=True)
class EmbedderScenario:
    """Calls of a compiled embedder transformer at ``steps``; ``warmup`` steps come before the steady window."""

    name: str
    doc: str
    steps: tuple[Step, ...]
    warmup: int | None = None  # steps[:warmup] warm up, steps[warmup:] are the steady window
    model: str = "tiny-bert"
    strategies: tuple[str, ...] = tuple(STRATEGIES)
    kind: ClassVar[str] = "embedder"

    def run(self, model, strat: Strategy, backend: str = "eager", fullgraph: bool = False,
            gate: bool = False) -> ScenarioResult:
        """Run on an :class:`~ragperf.models.embedders.Embedder`; ``gate`` fails the steady window on any recompile."""
        compiled = compile_embedder(model, strat, backend, fullgraph)
        cut = len(self.steps) if self.warmup is None else self.warmup
        with CompileProbe() as whole:
            error = _call_steps(model, compiled, strat, self.steps[:cut])
            steady = None
            if self.warmup is not None and error is None:
                with CompileProbe() as window, (steady_state() if gate else contextlib.nullcontext()):
                    error = _call_steps(model, compiled, strat, self.steps[cut:])
                steady = window.report
        whole.report.error = error
        return ScenarioResult(whole.report, steady)


@dataclass(frozen=True)
class DecoderScenario:
    """Greedy generations of a compiled decoder (prefill and decode through one compiled model)."""

    name: str
    doc: str
    prompts: tuple[tuple[int, int], ...]  # (length, seed) per generation
    new_tokens: int
    cache: str = "dynamic"
    warmup: int | None = None  # generations before the steady window
    model: str = "tiny-llama"
    strategies: tuple[str, ...] = DECODER_STRATEGIES
    kind: ClassVar[str] = "decoder"

    def run(self, model, strat: Strategy, backend: str = "eager", fullgraph: bool = False,
            gate: bool = False) -> ScenarioResult:
        from ragperf.models.decoders import random_prompts
        from ragperf.models.generation import build_generator

        generator = build_generator(model, "compile-prefill-decode", dynamic=strat.dynamic, cache=self.cache,
                                    backend=backend, fullgraph=fullgraph)
        prompts = [random_prompts(model, 1, length, seed=seed) for length, seed in self.prompts]
        cut = len(prompts) if self.warmup is None else self.warmup
        with CompileProbe() as whole:
            for prompt in prompts[:cut]:
                generator.generate(prompt, self.new_tokens)
            steady = None
            if self.warmup is not None:
                with CompileProbe() as window, (steady_state() if gate else contextlib.nullcontext()):
                    for prompt in prompts[cut:]:
                        generator.generate(prompt, self.new_tokens)
                steady = window.report
        return ScenarioResult(whole.report, steady)


def _steady_steps(seed: int = 0, count: int = 8) -> tuple[Step, ...]:
    rng = random.Random(seed)
    return tuple(Step(rng.randint(1, 32), rng.randint(3, 60)) for _ in range(count))


SCENARIOS: dict[str, EmbedderScenario | DecoderScenario] = {s.name: s for s in (
    EmbedderScenario("index16-query1", "the Graviton blog: index at batch 16, then a query at batch 1",
                     (Step(16, 32), Step(1, 8))),
    EmbedderScenario("odd-lengths", "one batch size, odd sequence lengths",
                     (Step(4, 7), Step(4, 13), Step(4, 29), Step(4, 31))),
    EmbedderScenario("seq1", "a one-token sequence after longer ones",
                     (Step(4, 16), Step(4, 9), Step(4, 1))),
    EmbedderScenario("warmup-steady", "warm up at (16,30),(1,8),(8,12); then random batch 1..32 x length 3..60",
                     (Step(16, 30), Step(1, 8), Step(8, 12)) + _steady_steps(), warmup=3),
    EmbedderScenario("grad-mode", "index under inference_mode, query under no_grad (same shape)",
                     (Step(16, 32, "inference_mode"), Step(16, 32, "no_grad"))),
    DecoderScenario("prefill5-decode-prefill10", "the overhead paper: prefill 5, decode, prefill 10 (DynamicCache)",
                    ((5, 0), (10, 1)), new_tokens=9),
    DecoderScenario("static-cache-two-prompts", "StaticCache; a second prompt of the same shape (1x5)",
                    ((5, 0), (5, 1)), new_tokens=9, cache="static", warmup=1),
)}


def scenario(name: str) -> EmbedderScenario | DecoderScenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise RagperfError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}") from None


def cases() -> list[tuple[str, str]]:
    """Every (scenario, strategy) pair the expected-behaviour tables cover."""
    return [(s.name, st) for s in SCENARIOS.values() for st in s.strategies]


def table_scenario(name: str, model_label: str) -> str:
    """The scenario column of a row in the expected tables: the scenario's name for its own tiny model,
    ``name@model`` for any other model (rows are keyed by model)."""
    return name if model_label == SCENARIOS[name].model else f"{name}@{model_label}"


def load_model(spec: str, kind: str | None = None, device: str | torch.device = "cpu"):
    """The model ``spec`` names, loaded as ``kind`` (a scenario's :attr:`kind`: decoder scenarios load a
    decoder, whatever the spec looks like); without ``kind``, as :func:`ragperf.models.registry.kind_of` reads it."""
    from ragperf.models.decoders import load_decoder
    from ragperf.models.embedders import load_embedder
    from ragperf.models.registry import DECODER, kind_of

    kind = kind or kind_of(spec)
    return load_decoder(spec, device=device) if kind == DECODER else load_embedder(spec, device=device)


def compile_embedder(embedder, strat: Strategy, backend: str = "eager", fullgraph: bool = False):
    """The embedder's transformer through ``torch.compile`` with the strategy's kwargs (lazy)."""
    strat.require()
    return torch.compile(embedder.transformer, backend=backend, fullgraph=fullgraph, **strat.compile_kwargs())


def probe_shapes(embedder, shapes: Sequence[Shape], strat: Strategy, backend: str = "eager",
                 fullgraph: bool = False) -> ProbeReport:
    """The probe over calls at ``shapes`` (what ``ragperf recompiles`` runs); a compile error ends the run."""
    compiled = compile_embedder(embedder, strat, backend, fullgraph)
    with CompileProbe() as probe:
        error = _call_steps(embedder, compiled, strat, [Step(b, n) for b, n in shapes])
    probe.report.error = error
    return probe.report


def synthetic_batch(embedder, batch: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Inputs of exactly [batch, length] with the keys the embedder's tokenizer produces."""
    keys = embedder.tokenize(["x"]).keys()
    generator = torch.Generator().manual_seed(seed)
    vocab = int(embedder.transformer.config.vocab_size)
    ids = torch.randint(1000 if vocab > 2000 else 1, vocab, (batch, length), generator=generator)
    made = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    return {k: made[k].to(embedder.device) for k in keys if k in made}


def parse_shapes(text: str) -> list[Shape]:
    """``"16x32,1x8"`` -> ``[(16, 32), (1, 8)]``; anything else is a one-line error."""
    shapes = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(\d+)[xX](\d+)", part)
        if not match or min(int(match[1]), int(match[2])) < 1 or int(match[1]) > argtypes.MAX_BATCH \
                or int(match[2]) > argtypes.MAX_TOKENS:
            raise RagperfError(f"bad shape {part!r} in --shapes {text!r}: write BATCHxLENGTH with positive "
                               f"integers (batch at most {argtypes.MAX_BATCH}, length at most {argtypes.MAX_TOKENS}), "
                               "comma-separated, e.g. 16x32,1x8")
        shapes.append((int(match[1]), int(match[2])))
    return shapes


def _call_steps(embedder, compiled, strat: Strategy, steps: Sequence[Step]) -> str | None:
    for i, step in enumerate(steps):
        # inputs are made under the call's grad mode, as SentenceTransformer.encode (inference_mode) does
        grad = torch.inference_mode() if step.grad_mode == "inference_mode" else torch.no_grad()
        try:
            with grad, strat.call_context():
                batch = synthetic_batch(embedder, step.batch, step.length, seed=i)
                strat.prepare(batch)
                embedder.embed(batch, compiled)
        except compile_errors() as exc:
            return f"{type(exc).__name__} at {step.batch}x{step.length}: {_first_line(str(exc))}"
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""



def run_case(name: str, strategy_name: str, backend: str = "eager", models: dict | None = None) -> ScenarioResult:
    """One table case from fresh compiler state (what ``ragperf expected`` runs per row)."""
    from torch._dynamo.utils import counters

    chosen, strat = scenario(name), STRATEGIES[strategy_name].require()
    models = {} if models is None else models
    if chosen.model not in models:
        models[chosen.model] = load_model(chosen.model, chosen.kind)
    torch.compiler.reset()
    counters.clear()
    return chosen.run(models[chosen.model], strat, backend=backend)
