"""Cold start: how fast a fresh process serves its first call, and what makes it faster - a carried compile
cache, an AOTInductor package, graphs compiled ahead for the sizes served.

One start runs in one fresh process (job ``coldstart``); the matrix runs every start path for every rung or
decode mode; the report, the perf metrics and the expected table read the matrix.

- :mod:`ragperf.coldstart.start`           one start in this process, by one start path (job ``coldstart``)
- :mod:`ragperf.coldstart.decode`          the decoder side of a start: one decode mode, first generation
- :mod:`ragperf.coldstart.matrix`          every rung (or decode mode) x every start path, one fresh process each
- :mod:`ragperf.coldstart.report`          the matrix as the report's "cold start" blocks
- :mod:`ragperf.coldstart.metrics`         the matrix as gated perf metrics (first call, start speedups)
- :mod:`ragperf.coldstart.bypass`          the expected what-bypasses-what table per torch version
- :mod:`ragperf.coldstart.artifacts`       a carried Mega-Cache or AOTInductor package, with its manifest
- :mod:`ragperf.coldstart.decode_package`  a decoder's static-cache decode step as an AOTInductor package
- :mod:`ragperf.coldstart.cache`           the Inductor cache folder a run will use, checked up front
- :mod:`ragperf.coldstart.sizes`           compile ahead for the batch sizes served; the one ``parse_sizes``

The first call on an empty Inductor cache is measured by :mod:`ragperf.perf.compile_time` (``first_call``,
``empty_cache``, ``cold_then_warm``), one rank below, so that the compile-time gate and the compile-cost
section measure it the same way as a start here.
"""
