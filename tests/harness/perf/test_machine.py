"""The hardware fingerprint: CPU family from /proc/cpuinfo, and a key that moves only with hard fields."""

from ragperf.perf import machine

GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
CPU revision\t: 1
"""
GRAVITON2 = GRAVITON3.replace("0xd40", "0xd0c").replace(" sve", "").replace(" bf16", "")
X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile
"""


def test_graviton3_is_recognized_from_its_cpu_part():
    cpu = machine.parse_cpuinfo(GRAVITON3)
    assert cpu["cpu_family"] == "Neoverse-V1 (Graviton3)"
    assert cpu["cpu_part"] == "0xd40"
    assert {"sve", "bf16", "i8mm", "asimd"} <= set(cpu["isa"])


def test_graviton2_has_no_sve_or_bf16():
    cpu = machine.parse_cpuinfo(GRAVITON2)
    assert cpu["cpu_family"] == "Neoverse-N1 (Graviton2)"
    assert "sve" not in cpu["isa"] and "bf16" not in cpu["isa"]


def test_unknown_arm_part_is_named_not_guessed():
    assert machine.parse_cpuinfo(GRAVITON3.replace("0xd40", "0xabc"))["cpu_family"] == "arm-part-0xabc"


def test_x86_model_family_and_flags():
    cpu = machine.parse_cpuinfo(X86)
    assert cpu["cpu_model"] == "AMD EPYC 9R14"
    assert cpu["cpu_family"] == "x86 family 25 model 17"
    assert cpu["isa"] == ["amx_tile", "avx2", "avx512_bf16", "avx512f"]


def test_onednn_version_is_read_from_torch_config():
    assert machine.onednn_version("  - Intel(R) MKL-DNN v3.12.0 (Git Hash 80af)") == "3.12.0"
    assert machine.onednn_version("  - oneDNN v3.5.3 (Git Hash x)") == "3.5.3"
    assert machine.onednn_version("no such line") is None


def test_this_machines_fingerprint_is_complete_and_stable():
    import torch

    fp = machine.fingerprint()
    for name in (*machine.KEY_FIELDS, "torch", "transformers", "onednn", "isa", "latched_env", "key"):
        assert name in fp
    assert fp["torch"] == torch.__version__
    assert fp["torch_threads"] == torch.get_num_threads()
    assert fp["key"] == machine.fingerprint()["key"]
    assert fp["key"].startswith(fp["arch"] + "-")


def test_key_moves_with_hardware_and_threads_but_not_with_library_versions():
    fp = machine.fingerprint()
    same = dict(fp, torch="9.9.9", transformers="0.0.1", onednn="9.9", kernel="x")
    assert machine.key(same) == fp["key"]
    for field, value in (("torch_threads", fp["torch_threads"] + 1), ("arch", "aarch64"),
                         ("cpu_family", "Neoverse-V1 (Graviton3)"), ("fastmath", "bf16"), ("gpu", "1x H100 sm9.0")):
        assert machine.key(dict(fp, **{field: value})) != fp["key"], field


def test_fastmath_lane_follows_the_in_process_switch(monkeypatch):
    import torch

    monkeypatch.delenv("DNNL_DEFAULT_FPMATH_MODE", raising=False)
    monkeypatch.delenv("ONEDNN_DEFAULT_FPMATH_MODE", raising=False)
    assert machine.fastmath_lane() == "fp32"
    monkeypatch.setenv("DNNL_DEFAULT_FPMATH_MODE", "BF16")
    assert machine.fastmath_lane() == "bf16"
    monkeypatch.delenv("DNNL_DEFAULT_FPMATH_MODE")
    previous = torch.backends.mkldnn.matmul.fp32_precision
    try:
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        assert machine.fastmath_lane() == "bf16"
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = previous


def test_ragperf_env_prints_the_fingerprint(capsys):
    import json

    from ragperf.cli import main

    assert main(["env", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["key"] == machine.fingerprint()["key"]
    assert main(["env"]) == 0
    assert "cpu_family" in capsys.readouterr().out
