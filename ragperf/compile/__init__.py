"""Does it compile the way we think? Graphs, recompiles and their guards, fallbacks, expected tables.

- :mod:`ragperf.compile.probe`       what ``torch.compile`` did around a block of calls, and why
- :mod:`ragperf.compile.strategies`  dynamic-shape strategies (dynamic, mark_dynamic, mark_unbacked, ...)
- :mod:`ragperf.compile.scenarios`   shape schedules run under a strategy with the probe around them
- :mod:`ragperf.compile.expected`    the committed tables of what each scenario is expected to do
"""
