"""The TorchServe seed: the RAG retriever behind a real ASGI endpoint, under real concurrent load.

- :mod:`ragperf.serve.retriever`  the offline index (crawl, split, eager FAISS) and a worker's compiled,
                                  warmed retriever serving under ``fail_on_recompile``
- :mod:`ragperf.serve.app`        the Starlette app: ``POST /retrieve``, ``GET /health``, request checks
- :mod:`ragperf.serve.worker`     ``python -m ragperf.serve.worker``: uvicorn with W worker processes
- :mod:`ragperf.serve.launcher`   start on a free loopback port, wait for every worker, stop the process group
- :mod:`ragperf.serve.load`       locust in headless mode: closed loop, C users, req/s, p50/p90/p99, errors
- :mod:`ragperf.serve.locustfile` the locust user: one ``POST /retrieve`` after another, no wait

The ``ragperf run --suite serve`` section is :mod:`ragperf.jobs.serve`; ``ragperf serve`` is
:mod:`ragperf.commands.serve`.
"""
