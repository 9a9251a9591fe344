"""The sections of ``ragperf run``: each measures in child processes (``python -m ragperf.jobs.X``).

- :mod:`ragperf.jobs.ladder`        one ladder variant timed against eager
- :mod:`ragperf.jobs.decode`        decoding as the overhead paper's Table 1, one compile mode
- :mod:`ragperf.jobs.compile_cost`  Dynamo vs Inductor seconds, cold vs warm cache
- :mod:`ragperf.jobs.decode_rates`  the decode section's rate table: each mode's tok/s beside the roofline
- :mod:`ragperf.jobs.gpu_bench`     decode as deployed on a GPU, every mode in one process, beside the roofline
- :mod:`ragperf.jobs.coldstart`     one cold start of a compiled model in a fresh process, by start path
- :mod:`ragperf.jobs.coldstart_decode`  the decoder side of it: one decode mode started like a ladder rung
- :mod:`ragperf.jobs.coldstart_matrix`  every rung (or decode mode) x every start path, each its own process
- :mod:`ragperf.jobs.coldstart_gate`    the cold-start metrics the perf gate judges
- :mod:`ragperf.jobs.coldstart_report`  the "cold start" section as report blocks
- :mod:`ragperf.jobs.serve`         the served endpoint's req/s, eager vs compiled, per workers x threads
- :mod:`ragperf.jobs.release_side`  ``ragperf release``'s untimed answers of one environment (behaviour, parity, memory)
- :mod:`ragperf.jobs.release`       its timed half: OLD and NEW in lockstep pairs, and the family rule over them
- :mod:`ragperf.jobs.release_report`  the verdict: both sides row by row, Markdown, the forest plot, many runners merged
- :mod:`ragperf.jobs.rag`           the RAG flow per variant, and the section that runs them
- :mod:`ragperf.jobs.report`        the report as JSON, Markdown and terminal text
- :mod:`ragperf.jobs.plots`         its PNG figures
"""
