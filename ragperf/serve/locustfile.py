"""The locust user of :mod:`ragperf.serve.load`: closed loop (no wait), one ``POST /retrieve`` after another.

Queries cycle through the known-answer questions of the RAG corpus (``RAGPERF_LOAD_K`` chunks each).
"""

import itertools
import os

from locust import HttpUser, constant, task

from ragperf.rag.corpus import load_known_answers

_QUERIES = itertools.cycle([q.question for q in load_known_answers().questions])
_K = int(os.environ.get("RAGPERF_LOAD_K", "5"))


class RetrieveUser(HttpUser):
    wait_time = constant(0)

    @task
    def retrieve(self) -> None:
        self.client.post("/retrieve", json={"query": next(_QUERIES), "k": _K}, name="/retrieve")
