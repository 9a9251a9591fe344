"""The arm64 lane's host-side logic: the fake Graviton3, the chroot command line, the cache dir.

None of these needs the chroot or QEMU; the lane itself runs with ``ragperf arm64 run``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragperf.arm64 import chroot, identity
from ragperf.arm64.layout import CACHE_ENV, Layout
from ragperf.commands import arm64 as arm64_command
from ragperf.errors import RagperfError


@pytest.fixture
def layout(tmp_path):
    return Layout.resolve(tmp_path / "cache", source=tmp_path / "src")


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    blocks = [b for b in text.split("\n\n") if b.strip()]
    return [dict(re.split(r"\s*:\s*", line, maxsplit=1) for line in b.splitlines()) for b in blocks]


@given(st.integers(min_value=1, max_value=64))
def test_cpuinfo_reads_as_graviton3_on_every_core(ncpu):
    cores = parse_cpuinfo(identity.cpuinfo_text(ncpu))
    assert [c["processor"] for c in cores] == [str(i) for i in range(ncpu)]
    for core in cores:
        assert (core["CPU implementer"], core["CPU part"], core["CPU variant"]) == ("0x41", "0xd40", "0x1")
        # what fastmath detection and torch's cpuinfo look for; no SVE2/SME: Graviton3 has neither
        features = set(core["Features"].split())
        assert {"bf16", "svebf16", "sve", "i8mm", "asimd"} <= features
        assert not features & {"sve2", "sme"}


def test_midr_encodes_neoverse_v1():
    # MIDR_EL1 of a Graviton3 core: implementer Arm (0x41), variant 1, arch 0xf, part 0xd40, revision 1
    assert identity.midr() == 0x411FD401


def test_sysfs_has_midr_topology_and_caches_for_each_core(tmp_path):
    root = identity.write_sysfs(tmp_path / "sys", 3)
    cpu = root / "devices/system/cpu"
    assert (cpu / "online").read_text() == "0-2\n"
    assert sorted(p.name for p in cpu.glob("cpu[0-9]*")) == ["cpu0", "cpu1", "cpu2"]
    assert (cpu / "cpu2/regs/identification/midr_el1").read_text() == "0x00000000411fd401\n"
    l3 = cpu / "cpu1/cache/index3"
    assert (l3 / "level").read_text() == "3\n" and (l3 / "shared_cpu_list").read_text() == "0-2\n"
    assert (cpu / "cpu1/cache/index2/shared_cpu_list").read_text() == "1\n"


def test_write_identity_replaces_a_bigger_previous_one(tmp_path):
    identity.write_identity(tmp_path, 4)
    cpuinfo, sys_root = identity.write_identity(tmp_path, 2)
    assert len(parse_cpuinfo(cpuinfo.read_text())) == 2
    assert not (sys_root / "devices/system/cpu/cpu3").exists()


def test_qemu_cpu_is_256_bit_sve_without_sme_unless_overridden(monkeypatch):
    monkeypatch.delenv(identity.QEMU_CPU_ENV, raising=False)
    model = identity.qemu_cpu()
    # plain "max" means 512-bit SVE, which makes oneDNN ignore BF16 fastmath
    assert model == "neoverse-v1" or {"sve256=on", "sme=off"} <= set(model.split(",")[1:])
    monkeypatch.setenv(identity.QEMU_CPU_ENV, "neoverse-v1")
    assert identity.qemu_cpu() == "neoverse-v1"


def test_emulation_label_only_inside_the_lane():
    assert identity.emulation_label({}) is None
    env = chroot.guest_env()
    assert identity.emulation_label(env) == "aarch64 Neoverse-V1 (emulated)"


def test_guest_env_keeps_host_pip_settings_out():
    host = {"PIP_FIND_LINKS": "/opt/wheels", "PIP_CONSTRAINT": "/etc/xdg/pip/constraints.txt",
            "LD_PRELOAD": "x.so", "PYTHONPATH": "/work", "TERM": "xterm"}
    env = chroot.guest_env({"DNNL_DEFAULT_FPMATH_MODE": "BF16"}, host_env=host)
    assert not {k for k in env if k.startswith("PIP_") and k not in ("PIP_DISABLE_PIP_VERSION_CHECK",
                                                                      "PIP_DEFAULT_TIMEOUT")}
    assert "LD_PRELOAD" not in env and "PYTHONPATH" not in env
    assert env["TERM"] == "xterm" and env["DNNL_DEFAULT_FPMATH_MODE"] == "BF16"
    assert env["QEMU_CPU"] == identity.qemu_cpu() and env[identity.EMULATED_ENV] == "qemu"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_command_enters_a_private_namespace_with_a_clean_env(layout):
    argv = chroot.command(layout, ["python", "-m", "pytest", "-k", "real"], env={"A": "1"})
    assert argv[:4] == ["unshare", "--mount", "--propagation", "private"]
    rest = argv[argv.index("ragperf-arm64") + 1:]
    assert rest[:4] == [str(layout.rootfs), str(layout.identity), str(layout.source), "1"]
    inner = rest[4:]
    assert inner[:2] == ["env", "-i"]
    chroot_at = inner.index("chroot")
    assert "A=1" in inner[2:chroot_at]
    assert inner[chroot_at:] == ["chroot", str(layout.rootfs), "/usr/bin/env", "-C", "/src",
                                 "python", "-m", "pytest", "-k", "real"]


def test_mount_script_masks_cpuinfo_and_sys_only_when_asked(tmp_path, layout):
    """Run the mount script with `mount` and `exec` stubbed, and read back what it would mount."""
    script = chroot.MOUNT_SCRIPT.replace("exec ", "echo EXEC ")
    stub = 'mount(){ echo "MOUNT $*"; }; mkdir(){ :; }\n'
    mounts = {}
    for mask in ("1", "0"):
        out = subprocess.run(["bash", "-c", stub + script, "_", "/R", "/F", "/S", mask, "cmd", "arg"],
                             capture_output=True, text=True, check=True).stdout
        mounts[mask] = out.splitlines()
    assert "MOUNT --bind /F/cpuinfo /R/proc/cpuinfo" in mounts["1"]
    assert "MOUNT --bind /F/sys /R/sys" in mounts["1"]
    assert "MOUNT --rbind /sys /R/sys" in mounts["0"]
    assert not any("cpuinfo" in line for line in mounts["0"])
    for lines in mounts.values():
        assert lines[0] == "MOUNT -t proc proc /R/proc"       # fresh proc before binding over it
        assert "MOUNT --bind /S /R/src" in lines
        assert lines[-1] == "EXEC cmd arg"


def test_cache_dir_defaults_outside_the_tree_and_follows_the_env(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Layout.resolve(source=tmp_path / "src").cache == (tmp_path / "home/.cache/ragperf/arm64").resolve()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "elsewhere"))
    assert Layout.resolve(source=tmp_path / "src").cache == (tmp_path / "elsewhere").resolve()
    assert Layout.resolve(tmp_path / "given", source=tmp_path / "src").cache == (tmp_path / "given").resolve()


@pytest.mark.parametrize("inside", ["", "sub", "sub/deeper"])
def test_cache_dir_inside_the_source_tree_is_refused(tmp_path, inside):
    with pytest.raises(RagperfError, match="inside the source tree"):
        Layout.resolve(tmp_path / "src" / inside, source=tmp_path / "src")


def test_stamps_redo_a_step_when_its_inputs_change(layout):
    assert not layout.done("venv", "a")
    layout.mark_done("venv", "a")
    assert layout.done("venv", "a") and not layout.done("venv", "b")
    assert layout.guest("/opt/venv") == layout.rootfs / "opt/venv"


def test_guest_hook_turns_off_inductor_precompiled_headers(tmp_path):
    """The hook, loaded as the lane's .pth loads it, must patch the config when (and only when) imported."""
    code = ("import runpy, sys; runpy.run_path(sys.argv[1]); "
            "assert 'torch' not in sys.modules; "
            "import torch._inductor.config as c; print(c.cpp_cache_precompile_headers)")
    hook = arm64_command.__file__.replace("commands/arm64.py", "arm64/guest_hook.py")
    out = subprocess.run([sys.executable, "-c", code, hook], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "False"


def test_run_builds_the_lane_first_then_runs_each_pytest_process(tmp_path, monkeypatch):
    from ragperf.arm64 import build
    from ragperf.cli import main

    calls = []
    monkeypatch.setattr(build, "setup", lambda layout, **kw: calls.append(("setup", layout.cache)))
    monkeypatch.setattr(chroot, "run", lambda layout, argv, env, **kw: calls.append(("run", argv, env)) or
                        subprocess.CompletedProcess(argv, 3 if "inductor" in argv else 0))
    assert main(["arm64", "--cache", str(tmp_path / "c"), "run"]) == 3  # a failing run fails the command
    assert calls[0] == ("setup", (tmp_path / "c").resolve())
    assert [c[1][3:] for c in calls[1:]] == [list(a) for a in arm64_command.DEFAULT_RUNS]
    # the default runs start with every GEMM in BF16 fastmath, as a tuned Graviton does
    assert all(c[2] == {"DNNL_DEFAULT_FPMATH_MODE": "BF16"} for c in calls[1:])
    calls.clear()
    assert main(["arm64", "--cache", str(tmp_path / "c"), "run", "--env", "A=b=c", "--", "-k", "x"]) == 0
    assert calls[1][1:] == (["python", "-m", "pytest", "-k", "x"], {"A": "b=c"})


@pytest.mark.parametrize("bad", ["NOEQUALS", "=value"])
def test_env_option_needs_name_equals_value(tmp_path, capsys, bad):
    from ragperf.cli import main

    assert main(["arm64", "--cache", str(tmp_path / "c"), "exec", "--env", bad, "--", "true"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_exec_without_a_command_is_refused_before_building(tmp_path, capsys):
    from ragperf.cli import main

    assert main(["arm64", "--cache", str(tmp_path / "nothing"), "exec", "--"]) == 2
    assert "nothing to run" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_status_reports_each_step(tmp_path):
    layout = Layout.resolve(tmp_path / "c", source=tmp_path / "src")
    layout.mark_done("rootfs", "k")
    text = arm64_command.status(layout)
    assert "rootfs: built" in text and "venv: not built" in text and "Neoverse-V1" in text


@pytest.mark.parametrize(("argv", "expected"), [
    (["run", "--", "-x", "-k", "real"], [["-x", "-k", "real"]]),
    (["run", "tests/correctness", "-k", "real"], [["tests/correctness", "-k", "real"]]),
    (["run"], [list(a) for a in arm64_command.DEFAULT_RUNS]),
    (["run", "--"], [list(a) for a in arm64_command.DEFAULT_RUNS]),
])
def test_run_passes_pytest_args_through(argv, expected):
    from ragperf.cli import build_parser

    args = build_parser().parse_args(["arm64", *argv])
    assert arm64_command.pytest_runs(args.pytest_args) == [["python", "-m", "pytest", *e] for e in expected]


def test_default_runs_select_the_real_lane_and_build_freezing_rungs_with_inductor():
    """Freezing needs Inductor (ladder.build_variant refuses other backends); the rest stays cheap."""
    for args in arm64_command.DEFAULT_RUNS:
        keyword = args[args.index("-k") + 1]
        backend = args[args.index("--ragperf-backend") + 1]
        assert "real" in keyword and "slow" in args[args.index("-m") + 1]
        assert backend == ("inductor" if "not freeze" not in keyword else "aot_eager")


# --- inside the lane (marker arm64: deselected by default; `ragperf arm64 run` selects it) ----------

@pytest.mark.arm64
def test_lane_is_an_emulated_graviton3_with_real_bf16_fastmath():
    """Fails (not skips) if the lane lost its identity: then the `real` tests would only take their
    inactive branch and prove nothing."""
    import os

    import torch

    from ragperf.numerics import fastmath

    label = identity.emulation_label()
    if label is None:
        pytest.skip("runs only inside the arm64 lane: sudo ragperf arm64 run")
    status = fastmath.lane_status("real", "cpu")
    print(f"\n{label}: torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}, "
          f"QEMU_CPU={os.environ.get('QEMU_CPU')}\nreal fastmath: {status.reason}")
    assert label == "aarch64 Neoverse-V1 (emulated)"
    assert torch.backends.cpu.get_cpu_capability() == "SVE256"
    assert fastmath.cpu_bf16_flags() == ["bf16"]
    assert status.active, status.reason
    # measured, not assumed: the probe GEMM loses about what rounding both inputs to bf16 predicts
    assert 0.25 <= status.probe_rel_rmse / status.predicted_rel_rmse <= 4, status


@pytest.mark.arm64
def test_lane_turns_off_inductor_precompiled_headers():
    if identity.emulation_label() is None:
        pytest.skip("runs only inside the arm64 lane: sudo ragperf arm64 run")
    import torch._inductor.config as inductor_config

    assert inductor_config.cpp_cache_precompile_headers is False  # GCC 12 ICEs on SVE + PCH


@pytest.mark.arm64
def test_lane_env_puts_every_linear_in_bf16():
    """DNNL_DEFAULT_FPMATH_MODE=BF16 (latched at process start; `ragperf arm64 run` sets it) must reach
    Linear-with-bias too, which torch 2.9's in-process switch leaves in fp32."""
    import os

    import torch
    import torch.nn.functional as F

    from ragperf.numerics import fastmath

    if identity.emulation_label() is None:
        pytest.skip("runs only inside the arm64 lane: sudo ragperf arm64 run")
    if os.environ.get("DNNL_DEFAULT_FPMATH_MODE", "").upper() != "BF16":
        pytest.skip("this process did not start with DNNL_DEFAULT_FPMATH_MODE=BF16")
    g = torch.Generator().manual_seed(0)
    a, w, b = torch.randn(256, 256, generator=g), torch.randn(256, 256, generator=g), torch.randn(256, generator=g)
    ref = F.linear(a.double(), w.double(), b.double())
    with torch.no_grad():
        out = F.linear(a, w, b)
    rel = float((out.double() - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())
    predicted = fastmath.PREDICTED_GEMM_REL_RMSE["bf16"]
    print(f"\nDNNL_DEFAULT_FPMATH_MODE=BF16, no in-process switch: Linear with bias rel RMSE vs fp64 {rel:.2e} "
          f"(bf16 rounding predicts {predicted:.2e}; fp32 gives ~3e-7)")
    assert 0.25 <= rel / predicted <= 4
