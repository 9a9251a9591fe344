"""A real HTTP server on loopback serving a :class:`~ragperf.rag.corpus.Site` from a thread.

``with serve(site) as url: ...`` binds 127.0.0.1 on an ephemeral port, so tests run in parallel
without port clashes and nothing leaves the machine. Unknown paths get a 404.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ragperf.rag.corpus import Site


@contextmanager
def serve(site: Site) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1; yields the base URL (``http://127.0.0.1:PORT/``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = site.pages.get(self.path.split("?", 1)[0])
            status = 200 if body is not None else 404
            body = body if body is not None else b"<html><body>not found</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: one line per page is noise
            pass

    _bypass_proxies_for_loopback()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="ragperf-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _bypass_proxies_for_loopback() -> None:
    """A CI proxy in HTTP_PROXY must not intercept the crawl of 127.0.0.1 (requests honours NO_PROXY)."""
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        if "127.0.0.1" not in hosts:
            os.environ[name] = ",".join([*hosts, "127.0.0.1"])
