"""The BF16 lanes do what they say: emulation rounds like bf16, survives Inductor, and moves outputs
by what bf16 rounding predicts; the real lane is active exactly where a probe GEMM shows it."""

import pytest
import torch
from torch import nn

from ragperf.models import under_test
from ragperf.models.ladder import build_variant
from ragperf.numerics import fastmath, parity
from ragperf.numerics.fastmath import PREDICTED_GEMM_REL_RMSE, EmulatedBF16, round_to_bf16

pytestmark = pytest.mark.correctness


def _rel_rmse(out, ref):
    return float((out.double() - ref.double()).pow(2).mean().sqrt() / ref.double().pow(2).mean().sqrt())


def test_rounding_equals_torch_bf16_cast():
    x = torch.cat([torch.randn(10_000) * 10.0 ** torch.randint(-20, 20, (10_000,)),
                   torch.tensor([0.0, -0.0, 1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, float("inf"), -float("inf"), 3.4e38])])
    assert torch.equal(round_to_bf16(x), x.to(torch.bfloat16).float())


def test_emulated_gemm_error_matches_bf16_prediction():
    measured = fastmath.probe_gemm_error("emulated")
    predicted = PREDICTED_GEMM_REL_RMSE["bf16"]
    assert 0.7 * predicted <= measured <= 1.4 * predicted, f"emulated GEMM error {measured:.3e}, predicted {predicted:.3e}"
    assert fastmath.probe_gemm_error("off") < predicted / 1000


def test_emulation_reaches_inductor_compiled_code():
    """Inductor folds x.to(bfloat16).float(); the bit-level rounding must survive into compiled code."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 256)).eval()
    x = torch.randn(16, 256)
    compiled = torch.compile(model, backend="inductor")
    with torch.no_grad():
        fp64 = model.double()(x.double())
        model.float()
        plain = compiled(x)
        with EmulatedBF16():
            eager_emulated = model(x)
            compiled_emulated = compiled(x)
    assert _rel_rmse(plain, fp64) < 1e-6
    assert _rel_rmse(compiled_emulated, fp64) > 100 * _rel_rmse(plain, fp64), "compiled code ignored the emulation"
    torch.testing.assert_close(compiled_emulated, eager_emulated, atol=1e-6, rtol=1e-5)


def test_emulated_error_vs_fp64_is_bf16_sized(load_embedder, embedder_spec):
    """The emulated lane moves any embedder's outputs far beyond fp32 rounding; MiniLM's embeddings move by
    a few bf16 roundings (u = 2^-9 per input), a band calibrated on MiniLM alone."""
    embedder = load_embedder(embedder_spec)
    batch = embedder.tokenize(parity.DEFAULT_TEXTS)
    eager = build_variant(embedder, "eager")
    fp64 = parity.embed_fp64(embedder, batch)
    plain = eager(batch)
    with fastmath.lane_context("emulated"):
        emulated = eager(batch)
    rel_plain, rel_emulated = _rel_rmse(plain, fp64), _rel_rmse(emulated, fp64)
    u = fastmath.BF16_UNIT_ROUNDOFF
    assert rel_emulated > 100 * rel_plain, (rel_emulated, rel_plain)
    if not under_test.calibrated(embedder_spec):
        pytest.skip(under_test.not_calibrated_reason(
            embedder_spec, f"the bf16-sized band [u/4, 8u] (measured {rel_emulated:.3e}, u = {u:.3e})"))
    assert u / 4 <= rel_emulated <= 8 * u, f"emulated {embedder.name} relative RMSE {rel_emulated:.3e} vs u = {u:.3e}"


def test_real_lane_active_only_with_flags_and_measured_effect():
    status = fastmath.lane_status("real", "cpu")
    if status.active:
        assert fastmath.cpu_bf16_flags(), status
        assert status.probe_rel_rmse >= 0.25 * status.predicted_rel_rmse, status
    else:
        assert status.reason, "an inactive lane must say why"
        if status.probe_rel_rmse is not None:
            assert status.probe_rel_rmse < 0.25 * status.predicted_rel_rmse, status
        with pytest.raises(fastmath.LaneInactive, match="inactive"):
            status.require()
