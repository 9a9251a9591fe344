"""Fixtures of the served-endpoint tests: the tiny index, a JSON poster, a survivor check."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import psutil
import pytest

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def _post(url: str, body: bytes, path: str = "/retrieve") -> tuple[int, dict]:
    """POST ``body`` to ``url + path``: (status, JSON answer); a 4xx/5xx is returned, not raised."""
    request = urllib.request.Request(f"{url}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _survivors(pids: set[int]) -> list[int]:
    """The pids of ``pids`` still running (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    from ragperf.serve.retriever import build_index_dir

    return build_index_dir("tiny-bert", tmp_path_factory.mktemp("serve") / "index")


@pytest.fixture(scope="session")
def post():
    return _post


@pytest.fixture(scope="session")
def survivors():
    return _survivors
