"""The arm64 lane: ragperf's tests on the real aarch64 torch wheel, as a Graviton3 sees them, on x86 CI.

An arm64 Debian chroot runs under QEMU user-mode (binfmt_misc) with a Neoverse-V1 identity, so
oneDNN really routes GEMMs through ACL with BF16 fastmath - numerics an x86 host without bf16
can only skip. Built once into a cache dir (``ragperf arm64 setup``), then ``ragperf arm64 run --
<pytest args>``. Timings taken in it are emulated: never record them as baselines.

- :mod:`ragperf.arm64.layout`    where the lane lives (cache dir, stamps)
- :mod:`ragperf.arm64.identity`  the fake Graviton3: /proc/cpuinfo, /sys, QEMU CPU model, RAGPERF_EMULATED
- :mod:`ragperf.arm64.chroot`    running a command inside the lane
- :mod:`ragperf.arm64.build`     building it: rootfs, CA certificates, venv, smoke check
- :mod:`ragperf.arm64.guest_hook` imported at the lane's interpreter start: the fake CPU seen from inside
"""
