"""Is it still fast? Interleaved timing gated on ratios against per-hardware baselines.

- :mod:`ragperf.perf.timing`     eager and candidates timed side by side in one process, as ratios
- :mod:`ragperf.perf.clocks`     the clock timing reads: real, or virtual (exact, load-free) for tests
- :mod:`ragperf.perf.machine`    the hardware fingerprint and the baseline key
- :mod:`ragperf.perf.baselines`  schema-versioned baseline files under ``baselines/perf/``
- :mod:`ragperf.perf.gate`       measured figures against the baseline, with room for measured noise
- :mod:`ragperf.perf.cases`      the gated cases (also run in fresh processes)
- :mod:`ragperf.perf.roofline`   how close a decode step comes to the memory-bandwidth roofline
- :mod:`ragperf.perf.fleet`      many runners' gate reports merged: a section per fingerprint, one verdict
- :mod:`ragperf.perf.plugin`     the pytest side: options, the ``ragperf_perf`` fixture, the summary
"""
