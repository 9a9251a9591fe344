"""What every served endpoint shares at the HTTP edge: body parsing, JSON refusals, a header-read bound.

Guarantees:

- :func:`json_object` turns any body into a dict or :class:`BadRequest` (4xx, one line): too large (413),
  not UTF-8 / not JSON / nested deeper than the parser can follow (400), not an object (400).
- :func:`text_field` refuses a string the model cannot take: not a string, empty, too long, or holding a
  lone surrogate (``"\\ud800"`` is valid JSON but no UTF-8 text; a tokenizer raises on it).
- :func:`json_errors` makes Starlette answer 404/405 (and any unexpected error, as 500) with
  ``{"error": ...}``, like every other refusal.
- :class:`BoundedH11Protocol` (uvicorn's ``http=``) closes a connection that has not sent a complete
  request head within ``header_timeout_s`` of opening (or of its previous answer; the worker sets it from
  its config): connections that never finish their headers cannot pile up.
"""

from __future__ import annotations

import json

import h11
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_BODY_BYTES = 64 * 1024


class BadRequest(Exception):
    """A request the endpoint cannot use: ``status`` (4xx) and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def json_object(body: bytes, example: str) -> dict:
    """The JSON object in ``body``; :class:`BadRequest` naming ``example`` (a valid body) otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadRequest(400, f"body is nested too deeply to parse; send {example}") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, f"body is not JSON; send {example}") from None
    if not isinstance(data, dict):
        raise BadRequest(400, f"body must be a JSON object: {example}")
    return data


def text_field(data: dict, name: str, max_chars: int) -> str:
    """``data[name]`` as non-empty, encodable text of at most ``max_chars`` characters, or :class:`BadRequest`."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(422, f'"{name}" must be a non-empty string')
    if len(value) > max_chars:
        raise BadRequest(413, f'"{name}" has {len(value)} characters; the limit is {max_chars}')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(400, f'"{name}" holds a lone surrogate at character {exc.start}; send valid Unicode text') \
            from None
    return value


def int_field(data: dict, name: str, default: int, low: int, high: int) -> int:
    """``data[name]`` (``default`` when absent) as an integer in ``low..high``, or :class:`BadRequest` (422)."""
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(422, f'"{name}" must be an integer from {low} to {high} (got {value!r})')
    return value


def refusal(exc: BadRequest) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


def json_errors(on_error=None) -> dict:
    """Starlette ``exception_handlers``: routing refusals and unexpected errors answered as JSON.
    ``on_error(reason)`` runs for an unexpected error (the worker counts it)."""

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        reason = {404: f"no endpoint at {request.url.path}", 405: f"{request.method} is not allowed on "
                  f"{request.url.path}"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": reason}, status_code=exc.status_code, headers=exc.headers)

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if on_error is not None:
            on_error(reason)
        return JSONResponse({"error": reason}, status_code=500)

    return {HTTPException: http_error, Exception: server_error}


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request (head, then body) is not complete in time."""

    header_timeout_s = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timeout()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timeout()

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        self._disarm_header_timeout()

    def _arm_header_timeout(self) -> None:
        self._disarm_header_timeout()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _disarm_header_timeout(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()

    def _header_timeout(self) -> None:
        waiting_for_head = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        waiting_for_body = self.conn.their_state is h11.SEND_BODY  # a body that stops short holds a worker too
        if (waiting_for_head or waiting_for_body) and not self.transport.is_closing():
            self.transport.close()
