"""BF16 "fastmath" lanes: fp32 models whose GEMMs take bf16-rounded inputs and accumulate in fp32.

=============  ==================================================================================
``off``        plain fp32 math
``real``       the hardware does it: oneDNN/ACL bf16 fpmath on CPU (``DNNL_DEFAULT_FPMATH_MODE=BF16``
               at process start, or ``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``);
               TF32 tensor-core math on CUDA. Active only where a probe GEMM *measurably* loses
               precision - CPU flags alone are not proof (oneDNN treats fpmath as a permission and
               may still pick an fp32 kernel).
``emulated``   the same numerics on any device: every GEMM's fp32 inputs rounded to bf16
               (round-to-nearest-even), products accumulated in fp32, applied identically to the
               eager and the compiled model through a ``TorchFunctionMode`` that Dynamo traces.
=============  ==================================================================================

The emulation rounds with integer bit arithmetic, not ``x.to(bfloat16).float()``: Inductor folds
that cast pair away, so the compiled model would silently run in full fp32 (checked in
``tests/correctness/test_fastmath_lanes.py``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ragperf.errors import RagperfError

LANES = ("off", "real", "emulated")

# Round-to-nearest to 8 significant bits: |bf16(x) - x| <= 2^-9 |x| (unit roundoff; 2^-8 is bf16's eps).
BF16_UNIT_ROUNDOFF = 2.0 ** -9
# Predicted relative RMSE of a dot product whose two inputs are each rounded to bf16 (random signs,
# log-uniform mantissas): each product gains relative error da+db with E[d^2] = ulp^2/12 * E[1/m^2],
# ulp = 2^-7, E[1/m^2] = 3/(8 ln 2) over m in [1, 2) -> sqrt(2 * 2^-14 * 3/(8 ln 2) / 12) = 2^-7/(4 sqrt(ln 2)).
PREDICTED_GEMM_REL_RMSE = {"bf16": 2.0 ** -7 / (4 * math.sqrt(math.log(2))),   # 2.35e-3
                           "tf32": 2.0 ** -10 / (4 * math.sqrt(math.log(2)))}  # 2.9e-4, 11-bit significand
# A lane counts as active when the probe's error is at least this fraction of the prediction;
# fp32 math sits near 1e-7, three orders of magnitude below.
_ACTIVE_FRACTION = 0.25
_PROBE_SIZE = 1024  # large enough for TORCH_MKLDNN_MATMUL_MIN_DIM's default to route it to oneDNN


class LaneInactive(RagperfError):
    """The requested fastmath lane is not active on this machine; the message says why (skip, never pass)."""


def check_lane(lane: str) -> str:
    if lane not in LANES:
        raise RagperfError(f"unknown fastmath lane {lane!r}; choose from {', '.join(LANES)}")
    return lane


# --- emulation --------------------------------------------------------------------------------

def round_to_bf16(t: torch.Tensor) -> torch.Tensor:
    """fp32 ``t`` rounded to the nearest bf16 value (ties to even), still as fp32; other dtypes unchanged."""
    if t.dtype != torch.float32:
        return t
    bits = t.contiguous().view(torch.int32)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & -65536
    return bits.view(torch.float32)


def _sdpa_bf16(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """Math attention (torch's documented reference) with both GEMMs' inputs rounded to bf16."""
    if dropout_p:
        raise RagperfError("emulated bf16 attention runs inference only (dropout_p must be 0; call model.eval())")
    length, source = query.size(-2), key.size(-2)
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    if enable_gqa:
        key = key.repeat_interleave(query.size(-3) // key.size(-3), -3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), -3)
    scores = torch.matmul(round_to_bf16(query), round_to_bf16(key).transpose(-2, -1)) * scale
    lowest = torch.finfo(scores.dtype).min  # not -inf: a fully masked (padding) row stays finite
    if is_causal:
        causal = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~causal, lowest)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, lowest) if attn_mask.dtype == torch.bool else scores + attn_mask
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(round_to_bf16(weights), round_to_bf16(value))


def _round_pair(a, b):
    # An outer product (K == 1: e.g. RoPE's position x inverse-frequency table) accumulates nothing and
    # is no GEMM oneDNN would take; rounding positions there would swamp every other error.
    if isinstance(a, torch.Tensor) and a.dim() >= 1 and a.size(-1) == 1:
        return a, b
    return (round_to_bf16(a) if isinstance(a, torch.Tensor) else a,
            round_to_bf16(b) if isinstance(b, torch.Tensor) else b)


_GEMMS_AB = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm,
             torch.bmm, torch.Tensor.bmm}
_GEMMS_BIAS_AB = {torch.addmm, torch.Tensor.addmm, torch.baddbmm, torch.Tensor.baddbmm}


class EmulatedBF16(TorchFunctionMode):
    """Inside this mode every GEMM (linear, matmul, mm, bmm, addmm, baddbmm, SDPA) rounds its fp32
    inputs to bf16 and accumulates in fp32. ``torch.compile`` traces the mode into the graph, so a
    compiled model called inside it gets the same rounding as the eager one."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            x, weight, *rest = args
            return func(round_to_bf16(x), round_to_bf16(weight), *rest, **kwargs)
        if func in _GEMMS_AB:
            a, b = _round_pair(args[0], args[1])
            return func(a, b, *args[2:], **kwargs)
        if func in _GEMMS_BIAS_AB:
            a, b = _round_pair(args[1], args[2])
            return func(args[0], a, b, *args[3:], **kwargs)
        if func is F.scaled_dot_product_attention:
            return _sdpa_bf16(*args, **kwargs)
        return func(*args, **kwargs)


# --- real (hardware) fastmath -----------------------------------------------------------------

def cpu_bf16_flags() -> list[str]:
    """The CPU's bf16 feature flags from /proc/cpuinfo (aarch64 ``bf16``; x86 ``avx512_bf16``/``amx_bf16``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            words = set(f.read().split())
    except OSError:
        return []
    wanted = ("bf16",) if platform.machine() in ("aarch64", "arm64") else ("avx512_bf16", "amx_bf16")
    return [flag for flag in wanted if flag in words]


@contextlib.contextmanager
def _real_cpu():
    matmul = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    if matmul is None or not hasattr(matmul, "fp32_precision"):  # torch < 2.9: only the process env works
        yield
        return
    before = matmul.fp32_precision
    matmul.fp32_precision = "bf16"
    try:
        yield
    finally:
        matmul.fp32_precision = before


@contextlib.contextmanager
def _real_cuda():
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    matmul.fp32_precision = "tf32"
    try:
        yield
    finally:
        matmul.fp32_precision = before


def lane_context(lane: str, device: str | torch.device = "cpu") -> contextlib.AbstractContextManager:
    """Context in which eager and compiled calls run the lane's numerics (check :func:`lane_status` first)."""
    check_lane(lane)
    if lane == "emulated":
        return EmulatedBF16()
    if lane == "real":
        return _real_cuda() if torch.device(device).type == "cuda" else _real_cpu()
    return contextlib.nullcontext()


def probe_gemm_error(lane: str, device: str | torch.device = "cpu", size: int = _PROBE_SIZE) -> float:
    """Relative RMSE vs fp64 of one fp32 ``F.linear`` (size x size x size, no bias) run in ``lane``."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    with torch.no_grad(), lane_context(lane, device):
        out = F.linear(a, b)
    ref = F.linear(a.double(), b.double())
    return float((out.double() - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())


@dataclass(frozen=True)
class LaneStatus:
    """Whether ``lane`` really changes the math here, with the probe's figure and the reason in words."""

    lane: str
    device: str
    active: bool
    reason: str
    probe_rel_rmse: float | None
    predicted_rel_rmse: float | None

    def require(self) -> LaneStatus:
        if not self.active:
            raise LaneInactive(f"fastmath lane {self.lane!r} is inactive on this {self.device}: {self.reason}")
        return self

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@functools.cache
def lane_status(lane: str, device: str = "cpu") -> LaneStatus:
    """Measure (once per process) whether ``lane`` is active on ``device``."""
    check_lane(lane)
    device = torch.device(device).type
    if lane == "off":
        return LaneStatus(lane, device, True, "plain fp32 math", None, None)
    fmt = "tf32" if (lane == "real" and device == "cuda") else "bf16"
    predicted = PREDICTED_GEMM_REL_RMSE[fmt]
    if lane == "real":
        missing = _real_lane_missing(device)
        if missing:
            return LaneStatus(lane, device, False, missing, None, predicted)
    measured = probe_gemm_error(lane, device)
    if measured >= _ACTIVE_FRACTION * predicted:
        how = "emulated with bit-exact bf16 rounding" if lane == "emulated" else f"{fmt} GEMMs measured"
        return LaneStatus(lane, device, True, f"{how}: probe GEMM error {measured:.2e} vs fp64 "
                          f"(rounding predicts {predicted:.2e})", measured, predicted)
    return LaneStatus(lane, device, False, f"the probe GEMM's error vs fp64 is {measured:.1e}, fp32-level "
                      f"({fmt} would give ~{predicted:.1e}): {_real_lane_setting(device)} is set but the "
                      "library still runs an fp32 kernel", measured, predicted)


def _real_lane_missing(device: str) -> str | None:
    if device == "cuda":
        if not torch.cuda.is_available():
            return "no CUDA device (torch.cuda.is_available() is False)"
        major, minor = torch.cuda.get_device_capability()
        return None if major >= 8 else f"GPU compute capability {major}.{minor} < 8.0 has no TF32"
    flags = cpu_bf16_flags()
    if not flags:
        wanted = "'bf16' in Features" if platform.machine() in ("aarch64", "arm64") else "avx512_bf16 or amx_bf16"
        return f"the CPU ({platform.machine()}) lacks bf16 support: no {wanted} in /proc/cpuinfo"
    matmul = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    in_process = matmul is not None and hasattr(matmul, "fp32_precision")
    if not in_process and os.environ.get("DNNL_DEFAULT_FPMATH_MODE", "").upper() != "BF16":
        return (f"torch {torch.__version__} has no torch.backends.mkldnn.matmul.fp32_precision; start the "
                "process with DNNL_DEFAULT_FPMATH_MODE=BF16 (ragperf parity --fastmath real does)")
    return None


def _real_lane_setting(device: str) -> str:
    if device == "cuda":
        return 'torch.backends.cuda.matmul.fp32_precision="tf32"'
    env = os.environ.get("DNNL_DEFAULT_FPMATH_MODE")
    where = f"DNNL_DEFAULT_FPMATH_MODE={env} and " if env else ""
    return f'{where}torch.backends.mkldnn.matmul.fp32_precision="bf16" (CPU flags: {", ".join(cpu_bf16_flags())})'
