"""``ragperf arm64``: the Graviton3 lane - build it once, then run pytest (or any command) inside it.

    sudo ragperf arm64 run                      # builds the lane if needed, then the real-BF16-fastmath tests
    sudo ragperf arm64 setup                    # only build (~10-30 min once: arm64 chroot + aarch64 torch venv)
    sudo ragperf arm64 run -- tests/correctness -k real -x
    sudo ragperf arm64 exec -- python -c 'import torch; print(torch.__config__.show())'
    ragperf arm64 status
"""

from __future__ import annotations

import argparse

from ragperf.errors import RagperfError

# What `run` does with no pytest args: the tests that only mean something on Graviton numerics, in two
# pytest processes. aot_eager where Inductor is not the point (the fastmath numerics come from ATen's
# oneDNN/ACL GEMMs, which Inductor also calls as extern kernels; a cold Inductor compile under QEMU costs
# minutes); Inductor for the freezing rungs, which only Inductor can build. Both processes start with
# DNNL_DEFAULT_FPMATH_MODE=BF16, as on a tuned Graviton: on torch 2.9 the in-process switch
# (mkldnn.matmul.fp32_precision="bf16") leaves Linear-with-bias (addmm) in fp32; the env routes every GEMM.
_SELECT = "correctness and not perf and not slow and not gpu"
_REPORT = ("-rA", "--log-level=WARNING")  # -rA shows the measured fastmath effect; no DEBUG log dumps
DEFAULT_RUNS = (
    ("tests/correctness", "tests/harness/numerics/test_arm64_lane.py", "-m", f"arm64 or ({_SELECT})",
     "-k", "(real and not freeze) or arm64", "--ragperf-backend", "aot_eager", *_REPORT),
    ("tests/correctness", "-m", _SELECT, "-k", "real and freeze", "--ragperf-backend", "inductor", *_REPORT),
)
DEFAULT_ENV = {"DNNL_DEFAULT_FPMATH_MODE": "BF16"}


def register(subparsers) -> None:
    parser = subparsers.add_parser("arm64", help="Graviton3 lane: aarch64 torch under QEMU (setup|run|exec|status)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=None,
                        help="cache dir for the chroot (default: $RAGPERF_ARM64_CACHE or ~/.cache/ragperf/arm64)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    setup = actions.add_parser("setup", help="build the lane once (root; idempotent)")
    setup.add_argument("--mirror", default=None, help="Debian mirror for debootstrap (default: debootstrap's)")
    setup.add_argument("--no-install", action="store_true",
                       help="do not apt-get install missing host packages; fail instead")
    run = actions.add_parser("run", help="pytest inside the lane: ragperf arm64 run [--env K=V] -- <pytest args>")
    exe = actions.add_parser("exec", help="any command inside the lane: ragperf arm64 exec [--env K=V] -- CMD ...")
    for action in (run, exe):
        action.add_argument("--env", action="append", default=[], metavar="K=V",
                            help="set a variable in the lane's (otherwise clean) environment; repeatable")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER)
    exe.add_argument("argv", nargs=argparse.REMAINDER)
    actions.add_parser("status", help="what is built, where, and how big")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ragperf.arm64 import build, chroot
    from ragperf.arm64.layout import Layout

    layout = Layout.resolve(args.cache)
    if args.action == "setup":
        build.setup(layout, mirror=args.mirror, install_host_packages=not args.no_install)
        return 0
    if args.action == "status":
        print(status(layout))
        return 0
    env = parse_env(args.env)
    if args.action == "run":
        runs = pytest_runs(args.pytest_args)
        if not _strip_dashes(args.pytest_args):
            env = DEFAULT_ENV | env
    else:
        runs = [_strip_dashes(args.argv)]
        if not runs[0]:
            raise RagperfError("nothing to run: ragperf arm64 exec -- CMD [ARGS...]")
    # run/exec build the lane first if it is missing or stale (a no-op when current), so one command
    # takes a clean machine to results
    build.setup(layout, install_host_packages=True)
    codes = [chroot.run(layout, argv, env=env).returncode for argv in runs]
    return next((code for code in codes if code), 0)


def status(layout) -> str:
    from ragperf.arm64 import build, identity

    lines = [f"cache: {layout.cache} ({build.disk_usage(layout)})", f"source: {layout.source} -> /src",
             f"qemu cpu: {identity.qemu_cpu()} as {identity.identity()['name']} ({identity.identity()['machine']})"]
    for step in ("rootfs", "certs", "venv", "smoke"):
        stamp = layout.stamp(step)
        lines.append(f"{step}: " + ("built" + (f" ({stamp.read_text()})" if step == "smoke" else "")
                                   if stamp.is_file() else "not built"))
    return "\n".join(lines)


def pytest_runs(pytest_args: list[str]) -> list[list[str]]:
    """The pytest command lines `run` executes in the lane: the user's, else :data:`DEFAULT_RUNS`."""
    chosen = [_strip_dashes(pytest_args)] if _strip_dashes(pytest_args) else DEFAULT_RUNS
    return [["python", "-m", "pytest", *args] for args in chosen]


def parse_env(pairs: list[str]) -> dict[str, str]:
    bad = [p for p in pairs if "=" not in p or p.startswith("=")]
    if bad:
        raise RagperfError(f"--env takes NAME=VALUE, got {bad[0]!r}")
    return dict(p.split("=", 1) for p in pairs)


def _strip_dashes(argv: list[str]) -> list[str]:
    return argv[1:] if argv[:1] == ["--"] else argv
