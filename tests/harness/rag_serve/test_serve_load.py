"""The load tool (ragperf.serve.load + locustfile) against a plain loopback HTTP server that counts what
reaches it: every request on its own connection, every answered request counted."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragperf.serve.load import run_load


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client asks to close
    connections = requests = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self.lock:
            type(self).connections += 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            type(self).requests += 1
        body = json.dumps({"chunks": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # the client asked to close: say so, as uvicorn (h11) does
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def counting_server():
    _Counting.connections = _Counting.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_every_request_comes_on_its_own_connection_so_any_idle_worker_can_take_it(counting_server):
    result = run_load(counting_server, users=2, seconds=1, min_requests=10)
    assert result.failures == 0 and result.requests >= 10, result
    # the server may count a few more: requests in flight when locust stops its users go unreported
    assert _Counting.requests >= result.requests, (_Counting.requests, result)
    assert _Counting.connections == _Counting.requests, (
        f"{_Counting.requests} requests came over {_Counting.connections} connections: with keep-alive a "
        "connection stays with one worker, so a multi-worker server is measured as fewer workers")


def test_keep_alive_keeps_one_connection_per_user(counting_server):
    result = run_load(counting_server, users=2, seconds=1, min_requests=10, keep_alive=True)
    assert result.failures == 0 and _Counting.requests >= result.requests >= 10, result
    assert _Counting.connections == 2, (_Counting.connections, _Counting.requests)
