"""Does it compile the way we think? Graphs, recompiles and their guards, fallbacks, expected tables.

- :mod:`ragperf.compile.probe`       what ``torch.compile`` did around a block of calls, and why
- :mod:`ragperf.compile.strategies`  dynamic-shape strategies (dynamic, mark_dynamic, mark_unbacked, ...)
- :mod:`ragperf.compile.scenarios`   shape schedules run under a strategy with the probe around them
- :mod:`ragperf.compile.expected`    the committed tables of what each scenario is expected to do
- :mod:`ragperf.compile.drift`       which expected table judges a run, and how each row drifted from it
- :mod:`ragperf.compile.plugin`      the pytest side of the expected tables: ``--ragperf-drift``, updates
- :mod:`ragperf.compile.planted`     planted compiler bugs (backends that lower an op wrongly) for proving the harness
- :mod:`ragperf.compile.cudagraphs`  what CUDA graph trees did around a block: recordings, skips, pool memory

Cold start - carried caches, AOTInductor packages, compiling ahead for the sizes served - is its own package,
:mod:`ragperf.coldstart`.
"""
