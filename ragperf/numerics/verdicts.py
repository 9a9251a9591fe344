"""Parity verdicts anchored on an fp64 reference: the rule of PyTorch's own benchmark harness.

``judge(eager, compiled, fp64, tolerance)``, in order:

1. *Eager twice* (when ``eager_again`` is given): if eager disagrees with itself by more than
   ``determinism_tol``, refuse to judge - status ``eager_two_runs_differ``.
2. ``allclose(compiled, eager, atol=tol, rtol=tol)`` passes outright.
3. Otherwise the compiled result passes iff ``RMSE(compiled, fp64) <= k * RMSE(eager, fp64) + tol/10``:
   compiled is judged against eager's own distance from the truth, a self-calibrating noise floor
   that holds for fp32 and for bf16 fastmath alike (``torch._dynamo.utils.same``; k is at least 3
   for tensors under 1000 elements, as there).
4. With ``cosine=True`` each row (one embedding) must also have cosine >= ``cosine_floor`` vs fp64.

A failing verdict's message carries the numbers: both RMSEs and the budget, max abs/rel diff,
the worst element (compiled, eager, fp64), the lowest cosine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ragperf.numerics.tolerances import Tolerance

_SMALL_TENSOR = 1000  # torch._dynamo.utils.same: fewer elements -> multiplier at least 3


class ParityFailure(AssertionError):
    """A compiled result that fails its verdict; ``str()`` is the verdict's message."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message())
        self.verdict = verdict


@dataclass
class Verdict:
    name: str
    lane: str
    passed: bool
    status: str  # pass | fail_accuracy | fail_cosine | eager_two_runs_differ | fail_shape
    rule: str  # the clause that decided: allclose | rmse | cosine | determinism | shape
    tol: float
    k: float
    rmse_compiled: float = float("nan")
    rmse_eager: float = float("nan")
    budget: float = float("nan")
    max_abs: float = float("nan")
    max_rel: float = float("nan")
    worst_index: tuple[int, ...] = ()
    worst_compiled: float = float("nan")
    worst_eager: float = float("nan")
    worst_fp64: float = float("nan")
    min_cosine: float | None = None
    cosine_floor: float | None = None
    worst_row: int | None = None
    eager_self_diff: float | None = None
    detail: str = ""

    def message(self) -> str:
        head = f"{self.name} [{self.lane}]: {'PASS' if self.passed else 'FAIL'} ({self.status}, decided by {self.rule})"
        if self.status == "fail_shape":
            return f"{head}: {self.detail}"
        if self.status == "eager_two_runs_differ":
            return (f"{head}: eager disagrees with itself (max |eager - eager again| = {self.eager_self_diff:.3g} "
                    f"> determinism_tol); cannot judge compiled - is the model in eval() mode, without dropout "
                    f"or nondeterministic kernels?")
        lines = [head,
                 f"  RMSE(compiled, fp64) = {self.rmse_compiled:.4g}   RMSE(eager, fp64) = {self.rmse_eager:.4g}   "
                 f"budget k*eager + tol/10 = {self.k:g}*{self.rmse_eager:.4g} + {self.tol / 10:.3g} = {self.budget:.4g}",
                 f"  max |compiled - eager| = {self.max_abs:.4g}   max rel diff = {self.max_rel:.4g}   "
                 f"(allclose atol=rtol={self.tol:g})",
                 f"  worst element {list(self.worst_index)}: compiled {self.worst_compiled:.7g}  "
                 f"eager {self.worst_eager:.7g}  fp64 {self.worst_fp64:.7g}"]
        if self.min_cosine is not None:
            lines.append(f"  lowest cosine vs fp64 = {self.min_cosine:.7f} (row {self.worst_row}; floor "
                         f"{self.cosine_floor})")
        if self.detail:
            lines.append(f"  {self.detail}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["worst_index"] = list(self.worst_index)
        out["message"] = self.message()
        return out


def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).pow(2).mean().sqrt())


def judge(eager: torch.Tensor, compiled: torch.Tensor, fp64: torch.Tensor, tolerance: Tolerance, *,
          eager_again: torch.Tensor | None = None, cosine: bool = False, name: str = "output") -> Verdict:
    """The verdict on ``compiled`` (see the module docstring). ``cosine=True`` for embeddings [rows, dim]."""
    base = {"name": name, "lane": tolerance.lane, "tol": tolerance.tol}
    eager, compiled, fp64 = (t.detach().cpu() for t in (eager, compiled, fp64))
    if not (eager.shape == compiled.shape == fp64.shape):
        return Verdict(**base, k=tolerance.k, passed=False, status="fail_shape", rule="shape",
                       detail=f"shapes differ: eager {tuple(eager.shape)}, compiled {tuple(compiled.shape)}, "
                              f"fp64 {tuple(fp64.shape)}")
    k = max(tolerance.k, 3.0) if compiled.numel() < _SMALL_TENSOR else tolerance.k
    numbers = _numbers(eager, compiled, fp64, tolerance, k)
    if eager_again is not None:
        self_diff = float((eager.double() - eager_again.detach().cpu().double()).abs().max()) if eager.numel() else 0.0
        numbers["eager_self_diff"] = self_diff
        if not self_diff <= tolerance.determinism_tol:
            return Verdict(**base, k=k, passed=False, status="eager_two_runs_differ", rule="determinism", **numbers)
    if compiled.numel() and torch.allclose(compiled.double(), eager.double(), atol=tolerance.tol, rtol=tolerance.tol):
        passed, rule = True, "allclose"
    else:
        passed, rule = numbers["rmse_compiled"] <= numbers["budget"], "rmse"
    status = "pass" if passed else "fail_accuracy"
    if cosine:
        numbers.update(_cosines(compiled, fp64, tolerance.cosine_floor))
        if passed and not numbers["min_cosine"] >= tolerance.cosine_floor:
            passed, status, rule = False, "fail_cosine", "cosine"
    nonfinite = int((~torch.isfinite(compiled)).sum() - (~torch.isfinite(fp64)).sum())
    if nonfinite > 0:
        passed, status = False, "fail_accuracy"
        numbers["detail"] = f"compiled has {nonfinite} more non-finite values than fp64"
    return Verdict(**base, k=k, passed=passed, status=status, rule=rule, **numbers)


def assert_parity(eager: torch.Tensor, compiled: torch.Tensor, fp64: torch.Tensor, tolerance: Tolerance,
                  **kwargs) -> Verdict:
    """:func:`judge`, raising :class:`ParityFailure` (an AssertionError with the numbers) on failure."""
    verdict = judge(eager, compiled, fp64, tolerance, **kwargs)
    if not verdict.passed:
        raise ParityFailure(verdict)
    return verdict


def _numbers(eager, compiled, fp64, tolerance: Tolerance, k: float) -> dict:
    if not compiled.numel():
        return {"rmse_compiled": 0.0, "rmse_eager": 0.0, "budget": tolerance.tol / 10, "max_abs": 0.0, "max_rel": 0.0}
    e, c, r = eager.double(), compiled.double(), fp64.double()
    diff = (c - e).abs().nan_to_num(nan=float("inf"))
    flat = int(diff.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))
    rmse_eager = rmse(e, r)
    return {"rmse_compiled": rmse(c, r), "rmse_eager": rmse_eager, "budget": k * rmse_eager + tolerance.tol / 10,
            "max_abs": float(diff.max()), "max_rel": float((diff / e.abs().clamp_min(1e-12)).max()),
            "worst_index": index, "worst_compiled": float(c.reshape(-1)[flat]),
            "worst_eager": float(e.reshape(-1)[flat]), "worst_fp64": float(r.reshape(-1)[flat])}


def _cosines(compiled: torch.Tensor, fp64: torch.Tensor, floor: float) -> dict:
    rows = compiled.double().reshape(compiled.shape[0], -1) if compiled.dim() > 1 else compiled.double()[None]
    refs = fp64.double().reshape(rows.shape)
    cos = torch.nn.functional.cosine_similarity(rows, refs, dim=-1, eps=1e-12).nan_to_num(nan=-1.0)
    worst = int(cos.argmin())
    return {"min_cosine": float(cos[worst]), "cosine_floor": floor, "worst_row": worst}
