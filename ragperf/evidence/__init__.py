"""Evidence for a red test: the structured compile trace, its tlparse report, and a repro bundle.

- :mod:`ragperf.evidence.trace`   a per-test ``torch._logging`` structured trace, rendered by tlparse
- :mod:`ragperf.evidence.bundle`  the repro bundle: command, latched environment, fingerprint, versions
- :mod:`ragperf.evidence.minify`  a parity failure's minified repro from torch's accuracy minifier, in bounded time
- :mod:`ragperf.evidence.weights` ``--ragperf-bundle-weights``: the tiny models a failed test loaded
- :mod:`ragperf.evidence.plugin`  pytest hooks: trace marked tests, keep evidence only for failures
"""
