"""The TorchServe seed: the RAG retriever and the LLM behind real ASGI endpoints, under real concurrent load.

- :mod:`ragperf.serve.retriever`  the offline index (crawl, split, eager FAISS) and a worker's compiled,
                                  warmed retriever serving under ``fail_on_recompile``
- :mod:`ragperf.serve.app`        the Starlette app: ``POST /retrieve``, ``GET /health``, request checks
- :mod:`ragperf.serve.generate`   the LLM endpoint: ``POST /generate`` streams greedy tokens (server-sent events)
- :mod:`ragperf.serve.http`       what every endpoint shares at the HTTP edge: body checks, JSON refusals,
                                  a bound on reading a request head
- :mod:`ragperf.serve.worker`     ``python -m ragperf.serve.worker``: uvicorn with W worker processes
- :mod:`ragperf.serve.launcher`   start on a free loopback port, wait for every worker, stop the process group
- :mod:`ragperf.serve.load`       locust in headless mode: closed loop, C users, req/s, p50/p90/p99, errors
- :mod:`ragperf.serve.locustfile` the locust user: one ``POST /retrieve`` after another, no wait
- :mod:`ragperf.serve.open_loop`  open-loop Poisson load timed from each request's schedule: TTFT, TPOT, ITL,
                                  e2e, goodput under an SLO
- :mod:`ragperf.serve.chain`      the seed's whole flow as a client: retrieve, build the prompt, stream the LLM

The ``ragperf run --suite serve`` section is :mod:`ragperf.jobs.serve` (with :mod:`ragperf.jobs.chain`); ``ragperf serve`` is
:mod:`ragperf.commands.serve`.
"""
