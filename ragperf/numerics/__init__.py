"""Is compiled still right? Parity judged against an fp64 reference, in fp32 and under BF16 fastmath.

- :mod:`ragperf.numerics.verdicts`    the fp64-anchored rule of PyTorch's own benchmark harness
- :mod:`ragperf.numerics.tolerances`  the tolerance table and the user's overrides
- :mod:`ragperf.numerics.fastmath`    BF16 fastmath lanes: off, real (oneDNN/ACL bf16), emulated
- :mod:`ragperf.numerics.parity`      parity runs of real models: eager twice, compiled, fp64
"""
