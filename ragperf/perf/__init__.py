"""Is it still fast? Interleaved timing gated on ratios against per-hardware baselines.

- :mod:`ragperf.perf.timing`        eager and candidates timed side by side in one process, as ratios
- :mod:`ragperf.perf.clocks`        the clock timing reads: real, or virtual (exact, load-free) for tests
- :mod:`ragperf.perf.cases`         the gated cases (also run in fresh processes), checked before anything is measured
- :mod:`ragperf.perf.processes`     a case measured in N fresh processes: their median and between-process spread
- :mod:`ragperf.perf.compile_time`  a fresh process's first call, cold (empty Inductor cache) and warm, in seconds and units
- :mod:`ragperf.perf.memory`        compiled/eager peak memory, each arm in its own fresh process
- :mod:`ragperf.perf.roofline`      how close a decode step comes to the memory-bandwidth roofline
- :mod:`ragperf.perf.machine`       the fingerprint and baseline key, the upgrade judged, the machine's speed now
- :mod:`ragperf.perf.machine_state` load, steal, speed and frequency while a timed table ran: busy or drifting flagged
- :mod:`ragperf.perf.metrics`       metric kinds: direction, tolerance, noise units, format - each kind's rule
- :mod:`ragperf.perf.baselines`     schema-versioned baseline files under ``baselines/perf/``
- :mod:`ragperf.perf.gate`          measured figures against the baseline, with room for measured noise
- :mod:`ragperf.perf.lockstep`      a reference and a candidate process timed round by round in lockstep pairs
- :mod:`ragperf.perf.ab`            the candidate gated against a reference measured in the same minutes
- :mod:`ragperf.perf.sequential`    the pairs an A/B needs, planned from measured noise; the early-stopping rule
- :mod:`ragperf.perf.proof`         A/A and planted-slowdown campaigns that prove the gate on this machine
- :mod:`ragperf.perf.fleet`         many runners' gate reports merged: a section per fingerprint, one verdict
- :mod:`ragperf.perf.plugin`        the pytest side: options, the ``ragperf_perf`` fixture, the summary
- :mod:`ragperf.perf.alone`         the pytest side of the lanes that must run alone (perf, coldstart, arm64): no xdist
"""
