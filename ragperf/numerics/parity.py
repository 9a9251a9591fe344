"""Parity runs of real models: eager twice, compiled, and an fp64 copy, judged by :mod:`ragperf.numerics.verdicts`.

The same functions serve ``ragperf parity`` and the tests in ``tests/correctness``. The fp64
reference is a deep copy of the eager model cast to float64 (PyTorch's benchmark harness does the
same); it runs without any fastmath lane, so it is the truth both eager and compiled are held to.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ragperf.models.decoders import Decoder
from ragperf.models.embedders import Batch, Embedder
from ragperf.models.generation import build_generator
from ragperf.models.ladder import build_variant
from ragperf.numerics import fastmath
from ragperf.numerics.tolerances import Tolerance
from ragperf.numerics.verdicts import Verdict, judge

# Varied lengths and scripts, one of them past tiny models' truncation length when repeated.
DEFAULT_TEXTS = (
    "How does torch.compile speed up retrieval-augmented generation?",
    "Graviton3 runs BF16 GEMMs through oneDNN and the Arm Compute Library.",
    "short",
    "Ein Satz auf Deutsch, avec un peu de français, y un poco de español.",
)

_FP64: dict[int, object] = {}


def fp64_embedder(embedder: Embedder) -> Embedder:
    """``embedder`` with a float64 deep copy of its transformer and head (cached per embedder)."""
    if id(embedder) not in _FP64:
        _FP64[id(embedder)] = dataclasses.replace(
            embedder, transformer=copy.deepcopy(embedder.transformer).double(),
            head=[copy.deepcopy(module).double() for module in embedder.head])
    return _FP64[id(embedder)]


def fp64_decoder(decoder: Decoder) -> Decoder:
    """``decoder`` with a float64 deep copy of its model (cached per decoder)."""
    if id(decoder) not in _FP64:
        _FP64[id(decoder)] = dataclasses.replace(decoder, model=copy.deepcopy(decoder.model).double(),
                                                 dtype=torch.float64)
    return _FP64[id(decoder)]


def embed_fp64(embedder: Embedder, batch: Batch) -> torch.Tensor:
    with torch.no_grad():
        return fp64_embedder(embedder).embed(batch)


def embedder_parity(embedder: Embedder, variant: str, lane: str, tolerance: Tolerance,
                    texts: Sequence[str] = DEFAULT_TEXTS, *, backend: str = "inductor",
                    plant: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Verdict:
    """Verdict on ladder ``variant`` vs eager, both in fastmath ``lane``, judged against fp64.

    Raises :class:`~ragperf.numerics.fastmath.LaneInactive` when the lane does nothing here. ``plant``
    transforms the compiled output (tests plant bugs with it).
    """
    fastmath.lane_status(lane, embedder.device.type).require()
    batch = embedder.tokenize(texts)
    torch.compiler.reset()  # Dynamo caches compiled code per module: a frozen rung must not reuse another's
    eager = build_variant(embedder, "eager")
    candidate = build_variant(embedder, variant, backend=backend)
    with fastmath.lane_context(lane, embedder.device):
        first, again, compiled = eager(batch), eager(batch), candidate(batch)
    if plant is not None:
        compiled = plant(compiled)
    return judge(first, compiled, embed_fp64(embedder, batch), tolerance, eager_again=again, cosine=True,
                 name=f"{embedder.name} {variant}")


def canonical_parity(embedder: Embedder, encode: Callable[[Sequence[str]], torch.Tensor], tolerance: Tolerance,
                     texts: Sequence[str] = DEFAULT_TEXTS, name: str = "embedding") -> Verdict:
    """Verdict on ``encode(texts)`` against the canonical ``SentenceTransformer.encode`` (run twice) and fp64.

    A wrapper that pools differently (e.g. ``pooler_output``) is far from fp64 and fails here even
    where it would agree with its own eager run.
    """
    reference, again = embedder.reference_encode(texts), embedder.reference_encode(texts)
    candidate = encode(texts)
    return judge(reference, candidate, embed_fp64(embedder, embedder.tokenize(texts)), tolerance,
                 eager_again=again, cosine=True, name=f"{embedder.name} {name} vs SentenceTransformer.encode")


@dataclass
class DecodeParity:
    """Greedy decoding of one compile mode vs eager, with per-step logits verdicts against fp64."""

    mode: str
    lane: str
    eager_tokens: torch.Tensor
    tokens: torch.Tensor
    first_mismatch: int | None  # step index of the first differing token (any row), None if identical
    near_tie: bool | None  # at the first mismatch: both tokens in each other's top-k within tie_gap
    tie_detail: str
    steps: list[Verdict] = field(default_factory=list)  # step 0 = prefill; only steps on a shared prefix

    @property
    def passed(self) -> bool:
        return (self.first_mismatch is None or bool(self.near_tie)) and all(v.passed for v in self.steps)

    def message(self) -> str:
        lines = [f"{self.mode} [{self.lane}]: {'PASS' if self.passed else 'FAIL'}"]
        if self.first_mismatch is None:
            lines.append(f"  greedy tokens equal eager's ({self.tokens.shape[1]} steps)")
        else:
            lines.append(f"  greedy tokens first differ at step {self.first_mismatch}: {self.tie_detail}")
        lines += [v.message() for v in self.steps if not v.passed]
        return "\n".join(lines)


def decode_parity(decoder: Decoder, mode: str, lane: str, tolerance: Tolerance, prompt: torch.Tensor,
                  new_tokens: int, *, backend: str = "inductor", dynamic: bool | None = None,
                  cache: str = "dynamic") -> DecodeParity:
    """Generate greedily in eager and in compile ``mode`` (both in ``lane``); compare tokens and logits."""
    fastmath.lane_status(lane, decoder.device.type).require()
    torch.compiler.reset()
    eager = build_generator(decoder, "eager", cache=cache)
    candidate = build_generator(decoder, mode, backend=backend, dynamic=dynamic, cache=cache)
    with fastmath.lane_context(lane, decoder.device):
        first = eager.generate(prompt, new_tokens, record_logits=True)
        again = eager.generate(prompt, new_tokens, record_logits=True)
        compiled = candidate.generate(prompt, new_tokens, record_logits=True)
    mismatch = _first_mismatch(first.tokens, compiled.tokens)
    shared = new_tokens if mismatch is None else mismatch + 1  # logits at the mismatch still share a prefix
    reference = teacher_forced_logits(fp64_decoder(decoder), prompt, compiled.tokens)
    steps = [judge(first.logits[i], compiled.logits[i], reference[i], tolerance, eager_again=again.logits[i],
                   name=f"{decoder.name} {mode} {'prefill' if i == 0 else f'decode step {i}'} logits")
             for i in range(shared)]
    near_tie, detail = (None, "") if mismatch is None else _near_tie(
        first.logits[mismatch], compiled.logits[mismatch], first.tokens[:, mismatch], compiled.tokens[:, mismatch],
        tolerance)
    return DecodeParity(mode, lane, first.tokens, compiled.tokens, mismatch, near_tie, detail, steps)


def teacher_forced_logits(decoder: Decoder, prompt: torch.Tensor, tokens: torch.Tensor) -> list[torch.Tensor]:
    """Next-token logits at each generation step for the path ``prompt + tokens``, by one full forward pass."""
    sequence = torch.cat([prompt, tokens[:, :-1]], dim=1)
    with torch.inference_mode():
        logits = decoder.model(input_ids=sequence, use_cache=False).logits
    start = prompt.shape[1] - 1
    return [logits[:, start + i, :] for i in range(tokens.shape[1])]


def greedy_agreement(eager, candidate, tolerance: Tolerance, anchor: Callable[[int], torch.Tensor] | None = None
                     ) -> tuple[bool, str]:
    """Two :class:`~ragperf.models.generation.Generation` s (logits recorded) agree: equal greedy tokens,
    or a near-tie at the first differing step, or - given ``anchor`` (step -> fp64 logits on the shared
    prefix, e.g. :func:`fp64_anchor`) - the candidate's logits at that step pass the fp64-anchored
    verdict (:func:`~ragperf.numerics.verdicts.judge`): the flip is within the rounding eager itself
    shows against fp64, which a long low-precision generation reaches sooner or later (a wrong op
    does not pass that verdict). Returns (agree, what happened)."""
    mismatch = _first_mismatch(eager.tokens, candidate.tokens)
    if mismatch is None:
        return True, f"greedy tokens equal ({eager.tokens.shape[1]} steps)"
    tie, detail = _near_tie(eager.logits[mismatch], candidate.logits[mismatch], eager.tokens[:, mismatch],
                            candidate.tokens[:, mismatch], tolerance)
    detail = f"greedy tokens first differ at step {mismatch}: {detail}"
    if tie or anchor is None:
        return tie, detail
    verdict = judge(eager.logits[mismatch], candidate.logits[mismatch], anchor(mismatch), tolerance,
                    name=f"step {mismatch} logits vs fp64")
    return verdict.passed, (f"{detail}; fp64-anchored at that step: RMSE(candidate, fp64) "
                            f"{verdict.rmse_compiled:.3g}, budget {verdict.budget:.3g} ({verdict.k:g} x eager's "
                            f"{verdict.rmse_eager:.3g} + tol/10) -> "
                            f"{'rounding divergence, not a bug' if verdict.passed else 'beyond rounding: DIFFER'}")


def fp64_anchor(decoder: Decoder, prompt: torch.Tensor, tokens: torch.Tensor) -> Callable[[int], torch.Tensor]:
    """step -> the fp64 model's next-token logits at that step of the path ``prompt + tokens`` (lazy: the
    fp64 copy is made only when asked)."""
    return lambda step: teacher_forced_logits(fp64_decoder(decoder), prompt, tokens[:, :step + 1])[step]


def _first_mismatch(a: torch.Tensor, b: torch.Tensor) -> int | None:
    differs = (a != b).any(dim=0).nonzero()
    return int(differs[0]) if len(differs) else None


def _near_tie(eager_logits, compiled_logits, eager_tok, compiled_tok, tolerance: Tolerance) -> tuple[bool, str]:
    """Each run's token is in the other's top-k, and within ``tie_gap * std(logits)`` of the other's pick."""
    results, details = [], []
    for row in (eager_tok != compiled_tok).nonzero().flatten().tolist():
        e, c = int(eager_tok[row]), int(compiled_tok[row])
        top_e = eager_logits[row].topk(tolerance.topk).indices.tolist()
        top_c = compiled_logits[row].topk(tolerance.topk).indices.tolist()
        gap_e = float(eager_logits[row, e] - eager_logits[row, c]) / float(eager_logits[row].std())
        gap_c = float(compiled_logits[row, c] - compiled_logits[row, e]) / float(compiled_logits[row].std())
        ok = c in top_e and e in top_c and max(gap_e, gap_c) <= tolerance.tie_gap
        results.append(ok)
        details.append(f"row {row}: eager token {e}, compiled token {c}; compiled's in eager's top-{tolerance.topk}: "
                       f"{c in top_e}, eager's in compiled's: {e in top_c}; logit gaps {gap_e:.3g} (eager), "
                       f"{gap_c:.3g} (compiled) in std units, tie_gap {tolerance.tie_gap:g} -> "
                       f"{'near-tie' if ok else 'NOT a near-tie'}")
    return bool(results) and all(results), "; ".join(details) or "no differing row"
