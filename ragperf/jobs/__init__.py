"""The sections of ``ragperf run``, and the one child-process entry their jobs run through.

Each section measures in child processes: ``python -m ragperf.jobs NAME ...`` (:mod:`ragperf.jobs.child`),
started by :func:`ragperf.subproc.run_job`, arguments shared through :mod:`ragperf.jobargs`.

- :mod:`ragperf.jobs.child`         the entry: the table of jobs, one parser each, one JSON line out
- :mod:`ragperf.jobs.ladder`        job ``ladder``: one ladder variant timed against eager
- :mod:`ragperf.jobs.compile_cost`  job ``compile-cost``: Dynamo vs Inductor seconds, cold vs warm cache
- :mod:`ragperf.jobs.rag`           job ``rag``: the RAG flow per variant, and the section that runs them
- :mod:`ragperf.jobs.decode`        job ``decode``: decoding as the overhead paper's Table 1, one compile mode
- :mod:`ragperf.jobs.decode_rates`  the decode section's rate table: each mode's tok/s beside the roofline
- :mod:`ragperf.jobs.serve`         the served endpoint's req/s, eager vs compiled, per workers x threads
- :mod:`ragperf.jobs.chain`         the RAG -> LLM chain under open-loop load: its table and rate sweep
- :mod:`ragperf.jobs.gpu_bench`     job ``gpu-bench``: decode as deployed on a GPU, with its own report
- :mod:`ragperf.jobs.serve_bench`   job ``serve-bench``: the LLM endpoint under open-loop load, one mode, one device
- :mod:`ragperf.jobs.release`       the timed half of ``ragperf release``: OLD and NEW against each other
- :mod:`ragperf.jobs.release_side`  job ``release-side``: one environment's untimed answers for ``ragperf release``
- :mod:`ragperf.jobs.release_report`  ``ragperf release``'s verdict: OLD against NEW row by row
- :mod:`ragperf.jobs.report`        the report as JSON, Markdown and terminal text
- :mod:`ragperf.jobs.plots`         its PNG figures

The cold-start section's code is its own package, :mod:`ragperf.coldstart`.
"""
