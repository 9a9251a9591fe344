"""The endpoint: ``POST /retrieve {"query": str, "k": int}`` -> top-k chunks with scores; ``GET /health``.

Guarantees: a request the endpoint cannot serve gets a 4xx with a one-line ``{"error": ...}`` reason and
the worker keeps serving; a recompile under load (the worker serves under
``torch.compiler.set_stance("fail_on_recompile")``) is a 500 whose reason names the recompile, counted in
``/stats``. Requests run one at a time per worker on the event loop (the seed's batch-1 worker): one
compiled model is never entered from two threads.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_CHARS = 4096
MAX_K = 100


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def parse_request(body: bytes) -> tuple[str, int]:
    """The (query, k) of a request body, or :class:`BadRequest` with the status and the one-line reason."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, 'body is not JSON; send {"query": "...", "k": 5}') from None
    if not isinstance(data, dict):
        raise BadRequest(400, 'body must be a JSON object: {"query": "...", "k": 5}')
    query, k = data.get("query"), data.get("k", 5)
    if not isinstance(query, str) or not query.strip():
        raise BadRequest(422, '"query" must be a non-empty string')
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(413, f'"query" has {len(query)} characters; the limit is {MAX_QUERY_CHARS}')
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise BadRequest(422, f'"k" must be an integer from 1 to {MAX_K} (got {k!r})')
    return query, k


def build_app(retriever, on_change=None) -> Starlette:
    """The app over a warmed ``retriever`` (:class:`ragperf.serve.retriever.Retriever`); ``on_change(stats)``
    runs whenever an error or a recompile changes the worker's stats."""
    stats = {"served": 0, "errors": 0, "recompiles": 0, "last_error": None}

    def changed() -> None:
        stats["recompiles"] = max(stats["recompiles"], retriever.graphs_since_ready())
        if on_change is not None:
            on_change(dict(stats))

    async def retrieve(request: Request) -> JSONResponse:
        try:
            query, k = parse_request(await request.body())
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        graphs = retriever.graphs_since_ready()
        try:
            chunks = retriever.retrieve(query, k)
        except Exception as exc:  # noqa: BLE001 - one bad request must not take the worker down
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            recompile = "recompil" in str(exc).lower()
            stats["errors"] += 1
            stats["recompiles"] += int(recompile)
            stats["last_error"] = reason
            changed()
            return JSONResponse({"error": f"{'recompile under load: ' if recompile else ''}{reason}"},
                                status_code=500)
        stats["served"] += 1
        if retriever.graphs_since_ready() != graphs:
            changed()
        return JSONResponse({"query": query, "k": k, "chunks": chunks})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready"})

    async def show_stats(request: Request) -> JSONResponse:
        return JSONResponse(stats)

    return Starlette(routes=[Route("/retrieve", retrieve, methods=["POST"]), Route("/health", health),
                             Route("/stats", show_stats)])
