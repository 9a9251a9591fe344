"""The endpoint: ``POST /retrieve {"query": str, "k": int}`` -> top-k chunks with scores; ``GET /health``.

Guarantees: a request the endpoint cannot serve gets a 4xx with a one-line ``{"error": ...}`` reason and
the worker keeps serving (:mod:`ragperf.serve.http`: size, encoding, depth, types; 404/405 as JSON too); a recompile under load (the worker serves under
``torch.compiler.set_stance("fail_on_recompile")``) is a 500 whose reason names the recompile, counted in
``/stats``. Requests run one at a time per worker on the event loop (the seed's batch-1 worker): one
compiled model is never entered from two threads.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ragperf.serve.http import BadRequest, int_field, json_errors, json_object, refusal, text_field

MAX_QUERY_CHARS = 4096
MAX_K = 100
EXAMPLE = '{"query": "...", "k": 5}'


def parse_request(body: bytes) -> tuple[str, int]:
    """The (query, k) of a request body, or :class:`BadRequest` with the status and the one-line reason."""
    data = json_object(body, EXAMPLE)
    return text_field(data, "query", MAX_QUERY_CHARS), int_field(data, "k", 5, 1, MAX_K)


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
            return refusal(exc)
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

    def unexpected(reason: str) -> None:
        stats["errors"] += 1
        stats["last_error"] = reason
        changed()

    return Starlette(routes=[Route("/retrieve", retrieve, methods=["POST"]), Route("/health", health),
                             Route("/stats", show_stats)], exception_handlers=json_errors(unexpected))
