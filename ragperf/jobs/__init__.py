"""The sections of ``ragperf run``: each measures in child processes (``python -m ragperf.jobs.X``).

- :mod:`ragperf.jobs.ladder`        one ladder variant timed against eager
- :mod:`ragperf.jobs.decode`        decoding as the overhead paper's Table 1, one compile mode
- :mod:`ragperf.jobs.compile_cost`  Dynamo vs Inductor seconds, cold vs warm cache
- :mod:`ragperf.jobs.rag`           the RAG flow per variant, and the section that runs them
- :mod:`ragperf.jobs.report`        the report as JSON, Markdown and terminal text
- :mod:`ragperf.jobs.plots`         its PNG figures
"""
