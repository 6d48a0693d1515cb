"""A lean path for the two per-event routes, in front of FastAPI.

Why: FastAPI's routing, parameter solving, response-model validation and middleware layers cost
about 0.2 ms of CPU per request, a third of what the server spends on an event plus its top-20
(the model step and the top-k over 25k items cost about as much). Under load that third is
throughput, and so latency.

What: :class:`FastLane` is ASGI middleware that answers ``POST /v1/events`` and
``GET /v1/users/{id}/recommendations`` itself when the request is plainly valid: an
``application/json`` body that the route's own pydantic model accepts (read as FastAPI reads it:
``json.loads``, then the model's lax validation), and query values in their simplest spelling.
Anything else (a body that does not validate, ``exclude_seen=yes``, a repeated parameter, another
content type) goes on to FastAPI unchanged, body included, so every error message and the
OpenAPI docs stay FastAPI's. The handlers it calls share the routes' code (see
:func:`rnnrec.serving.app.create_app`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

# A handler gets the request body (b"" for a GET), the path's user ID (or None) and the query
# values; it returns the response to send, or raises Pass (before doing anything) to hand the
# request to FastAPI.
Handler = Callable[[bytes, "str | None", dict[str, str]], Awaitable[Response]]

EVENTS_ROUTE = "/v1/events"
USERS_PREFIX, RECOMMENDATIONS_SUFFIX = "/v1/users/", "/recommendations"
USER_ROUTE = USERS_PREFIX + "{user_id}" + RECOMMENDATIONS_SUFFIX  # FastAPI's path of the route
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class Pass(Exception):
    """Not for the fast lane: FastAPI serves the request (and words its error, if any)."""


def query_int(query: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    """``key`` as an int in [low, high], written plainly (``"20"``, not ``"+20"`` or ``"020"``)."""
    text = query.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or text != str(int(text)) or not low <= int(text) <= high:
        raise Pass
    return int(text)


def query_bool(query: dict[str, str], key: str, default: bool) -> bool:
    text = query.get(key)
    if text is None:
        return default
    if text not in ("true", "false", "1", "0"):
        raise Pass
    return text in ("true", "1")


def query_float(query: dict[str, str], key: str) -> float | None:
    text = query.get(key)
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text) or not math.isfinite(float(text)):
        raise Pass
    return float(text)


class FastLane:
    """ASGI middleware: ``events`` serves ``POST /v1/events``, ``recommendations`` serves
    ``GET /v1/users/{id}/recommendations``; ``routes`` maps those paths to FastAPI's route objects
    (set as ``scope["route"]``, so metrics name the route as FastAPI would)."""

    def __init__(self, app, events: Handler, recommendations: Handler, routes: dict[str, Any]) -> None:
        self.app, self.events, self.recommendations, self.routes = app, events, recommendations, routes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        user_id = None
        if method == "POST" and path == EVENTS_ROUTE:
            handler, route = self.events, EVENTS_ROUTE
        elif method == "GET" and path.startswith(USERS_PREFIX) and path.endswith(RECOMMENDATIONS_SUFFIX):
            user_id = path[len(USERS_PREFIX): -len(RECOMMENDATIONS_SUFFIX)]
            if not user_id or "/" in user_id:
                await self.app(scope, receive, send)
                return
            handler, route = self.recommendations, USER_ROUTE
        else:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:  # the body limit is enforced outside (LimitsAndMetrics)
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
        response = None
        if _is_json(scope["headers"], body):
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            query = dict(pairs)
            if len(query) == len(pairs):  # a repeated parameter: FastAPI decides which one counts
                try:
                    response = await handler(body, user_id, query)
                except Pass:
                    response = None
        if response is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.routes[route]
        await response(scope, receive, send)


def _is_json(headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """No body, or one declared as plain ``application/json``: without that header FastAPI reads
    no JSON (its strict content type), so such requests, like other types, go to it."""
    if not body:
        return True
    content_type = next((v for k, v in headers if k == b"content-type"), b"")
    return content_type.split(b";")[0].strip().lower() == b"application/json"


def _replay(body: bytes, receive):
    """A ``receive`` that hands over the body already read, then the client's next messages."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
