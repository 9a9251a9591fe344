"""The locust user of :mod:`ragperf.serve.load`: closed loop (no wait), one ``POST /retrieve`` after another.

Each request goes on its own connection (``Connection: close``; ``RAGPERF_LOAD_KEEP_ALIVE=1`` keeps one per
user): the kernel hands a new connection to a worker waiting in ``accept``, i.e. an idle one. Over keep-alive,
C users hold C connections that stay with whichever worker accepted them, so with 2 workers x 1 thread and 4
users a round measured either both workers or one (MiniLM eager, same server, 3 s rounds: 68.8 / 117.9 / 119.7
/ 72.4 req/s keep-alive, 114.0-126.7 req/s with ``Connection: close``).

Queries cycle through the known-answer questions of the RAG corpus (``RAGPERF_LOAD_K`` chunks each). The
run stops once ``RAGPERF_LOAD_SECONDS`` have passed *and* ``RAGPERF_LOAD_MIN_REQUESTS`` requests have
finished (answered or failed), so a slow machine lengthens the run instead of measuring nothing; the
caller's hard timeout bounds it.
"""

import itertools
import os
import time

import gevent
from locust import HttpUser, constant, events, task

from ragperf.rag.corpus import load_known_answers

_QUERIES = itertools.cycle([q.question for q in load_known_answers().questions])
_K = int(os.environ.get("RAGPERF_LOAD_K", "5"))
_SECONDS = float(os.environ.get("RAGPERF_LOAD_SECONDS", "0"))
_MIN_REQUESTS = int(os.environ.get("RAGPERF_LOAD_MIN_REQUESTS", "1"))
_HEADERS = {} if os.environ.get("RAGPERF_LOAD_KEEP_ALIVE") == "1" else {"Connection": "close"}


class RetrieveUser(HttpUser):
    wait_time = constant(0)

    @task
    def retrieve(self) -> None:
        self.client.post("/retrieve", json={"query": next(_QUERIES), "k": _K}, name="/retrieve",
                         headers=_HEADERS)


@events.test_start.add_listener
def _quit_when_done(environment, **kwargs) -> None:
    if not _SECONDS:
        return

    def watch() -> None:
        start = time.monotonic()
        while time.monotonic() - start < _SECONDS or environment.stats.total.num_requests < _MIN_REQUESTS:
            gevent.sleep(0.05)
        environment.runner.quit()

    gevent.spawn(watch)
