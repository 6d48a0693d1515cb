"""The HTTP API of ``rnnrec serve``: events in, recommendations out, states kept per user.

    POST /v1/events                          one event or {"events": [...]}; logged, states advanced
                                             (?recommend=K: each user's top-K from the new state too)
    GET  /v1/users/{id}/recommendations      top-k from the user's stored state (?k=&exclude_seen=&at=)
    POST /v1/recommendations                 stateless: top-k for a history given in the body
    GET  /v1/items/{id}/similar              nearest items by the model's item vectors (cosine)
    GET  /health, GET /metrics               liveness; Prometheus text (requests, latencies, events)
    POST /v1/admin/reload                    swap in a saved model ({"model": DIR}, default: re-read the one served)

OpenAPI docs at /docs. Bad input is a 4xx whose body says what was wrong; the server keeps serving.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import defaultdict
from contextlib import asynccontextmanager

import numpy as np
import orjson
import torch
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from rnnrec import __version__
from rnnrec.errors import RnnrecError
from rnnrec.recommender import Recommendation
from rnnrec.serving.fast_lane import EVENTS_ROUTE, USER_ROUTE, FastLane, Pass, query_bool, query_float, query_int
from rnnrec.serving.live import HistoryRequest, LiveRecommender, RecommendRequest, UnknownUser
from rnnrec.serving.model_worker import ModelWorker
from rnnrec.serving.state_store import Event, StateConflict

MAX_K = 1000
MAX_BODY_BYTES = 1 << 20  # 1 MiB
TOO_LARGE = f"request body over {MAX_BODY_BYTES} bytes"
MAX_EVENTS_PER_REQUEST = 10_000
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=256, description="user or session ID")
    item_id: str = Field(min_length=1, max_length=256)
    timestamp: float | None = Field(default=None, description="Unix seconds; time-aware models read the gaps")


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


class Item(BaseModel):
    item_id: str
    score: float


class EventsOut(BaseModel):
    accepted: int
    applied: int
    unknown_items: list[str] = Field(description="items the model does not know: logged, state not moved")
    recommendations: dict[str, list[Item]] | None = Field(
        default=None, description="with ?recommend=K: each user's top-K from the state these events reached")


class ReloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, description="model folder; default: the folder served now, re-read")


class RecommendationsOut(BaseModel):
    user_id: str | None = None
    items: list[Item]


class HistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    history: list[str] = Field(min_length=1, max_length=10_000, description="item IDs, oldest first")
    history_times: list[float] | None = None
    k: int = Field(default=20, ge=1, le=MAX_K)
    exclude_seen: bool = False
    at: float | None = None


class Metrics:
    """Request counts and latency histograms per route, events accepted and applied."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(LATENCY_BUCKETS) + 1))
        self.sums: dict[str, float] = defaultdict(float)
        self.events_accepted = 0
        self.events_applied = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, method, status)] += 1
            slot = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
            self.buckets[route][slot] += 1
            self.sums[route] += seconds

    def count_events(self, accepted: int, applied: int) -> None:
        with self._lock:
            self.events_accepted += accepted
            self.events_applied += applied

    def text(self) -> str:
        with self._lock:
            lines = ["# HELP rnnrec_requests_total HTTP requests by route, method and status.",
                     "# TYPE rnnrec_requests_total counter"]
            for (route, method, status), n in sorted(self.requests.items()):
                lines.append(f'rnnrec_requests_total{{route="{route}",method="{method}",status="{status}"}} {n}')
            lines += ["# HELP rnnrec_request_seconds Request latency by route.",
                      "# TYPE rnnrec_request_seconds histogram"]
            for route, counts in sorted(self.buckets.items()):
                total = 0
                for bound, n in zip([*map(str, LATENCY_BUCKETS), "+Inf"], counts):
                    total += n
                    lines.append(f'rnnrec_request_seconds_bucket{{route="{route}",le="{bound}"}} {total}')
                lines.append(f'rnnrec_request_seconds_sum{{route="{route}"}} {self.sums[route]:.6f}')
                lines.append(f'rnnrec_request_seconds_count{{route="{route}"}} {total}')
            lines += ["# TYPE rnnrec_events_accepted_total counter", f"rnnrec_events_accepted_total {self.events_accepted}",
                      "# TYPE rnnrec_events_applied_total counter", f"rnnrec_events_applied_total {self.events_applied}"]
        return "\n".join(lines) + "\n"


class LimitsAndMetrics:
    """ASGI middleware: refuses bodies over :data:`MAX_BODY_BYTES` and times every request (plain
    ASGI, so it adds microseconds, not a task and a stream per request)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, started = time.perf_counter(), 500, False

        async def send_and_note(message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                await _discard_body(receive)  # so that the client, still sending, reads the answer
                await _too_large()(scope, receive, send_and_note)
            elif length is not None:
                await self.app(scope, receive, send_and_note)
            else:  # no length given (a chunked body): counted as it arrives
                try:
                    await self.app(scope, _counting(receive), send_and_note)
                except _BodyTooLarge:  # from the fast lane (FastAPI's routes answer it themselves)
                    if started:
                        raise
                    await _too_large()(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            self.metrics.observe(getattr(route, "path", "unmatched"), scope["method"], status,
                                 time.perf_counter() - start)


class _FastJSONResponse(JSONResponse):
    """The fast lane's answers: the same bytes as ``JSONResponse`` (compact, UTF-8) from orjson,
    in 1 µs instead of 20 for an event with its top-20, about 6 % of such a request's CPU."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def _too_large() -> JSONResponse:
    return JSONResponse({"detail": TOO_LARGE}, status_code=413)


class _BodyTooLarge(HTTPException):
    """A body without a Content-Length went over :data:`MAX_BODY_BYTES` (an HTTPException, so that
    FastAPI's routes, which read bodies themselves, answer it as the 413 it is)."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


def _counting(receive):
    """``receive`` that, once the body read so far is over the limit, reads the rest away (so the
    client, still sending, gets the answer) and raises :class:`_BodyTooLarge`."""
    read = 0

    async def counted():
        nonlocal read
        message = await receive()
        read += len(message.get("body", b""))
        if read > MAX_BODY_BYTES:
            if message.get("more_body", False):
                await _discard_body(receive)
            raise _BodyTooLarge
        return message

    return counted


def _items(recs: list[Recommendation]) -> list[dict]:
    return [{"item_id": r.item_id, "score": r.score} for r in recs]


def _error_response(exc: RnnrecError) -> JSONResponse:
    """The answer to an error of ours (FastAPI's handler and the fast lane both send it)."""
    if isinstance(exc, StateConflict):  # other processes kept winning: nothing stored, try again
        return JSONResponse({"detail": f"{exc}; nothing was stored, retry"}, status_code=503)
    if isinstance(exc, UnknownUser):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    return JSONResponse({"detail": str(exc)}, status_code=422)


def _finite_timestamps(events: list[EventIn]) -> None:
    for i, e in enumerate(events):
        if e.timestamp is not None and not np.isfinite(e.timestamp):
            raise HTTPException(422, f"events[{i}].timestamp must be a finite number of Unix seconds")


async def _discard_body(receive, limit: int = 64 * MAX_BODY_BYTES) -> None:
    """Read and drop a refused request's body (up to ``limit`` bytes; past that the connection is
    simply closed)."""
    read = 0
    while read <= limit:
        message = await receive()
        read += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def create_app(live: LiveRecommender) -> FastAPI:
    worker = ModelWorker(live)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        worker.close()

    # OpenTelemetry off: /metrics is the server's own, and the check costs every request.
    app = FastAPI(title="rnnrec", version=__version__, lifespan=lifespan,
                  description="Next-item recommendations from recurrent states updated per event.",
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    metrics = Metrics()

    @app.exception_handler(RnnrecError)
    async def rnnrec_error(request: Request, exc: RnnrecError) -> JSONResponse:
        return _error_response(exc)

    async def apply_events(events: list[EventIn], recommend: int, exclude_seen: bool) -> dict:
        """What POST /v1/events answers (the route and the fast lane)."""
        logged = [Event(e.user_id, e.item_id, e.timestamp) for e in events]
        users = list(dict.fromkeys(e.user_id for e in logged)) if recommend else []
        result, *recs = await worker.run([logged, *[RecommendRequest(u, recommend, exclude_seen, unknown_user="popular")
                                                    for u in users]])
        metrics.count_events(result.accepted, result.applied)
        out = {"accepted": result.accepted, "applied": result.applied, "unknown_items": result.unknown_items}
        if recommend:
            out["recommendations"] = {u: _items(items) for u, items in zip(users, recs)}
        return out

    async def user_top_k(user_id: str, k: int, exclude_seen: bool, at: float | None) -> dict:
        """What GET /v1/users/{id}/recommendations answers (the route and the fast lane)."""
        recs = await worker.recommend(RecommendRequest(user_id, k, exclude_seen, at))  # unknown user: 404
        return {"user_id": user_id, "items": _items(recs)}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model_key": live.key, "items": len(live.rec.items or []),
                "index": live.index.kind, "index_recall@20": live.index.recall,
                "index_search_width": getattr(live.index, "ef_search", None),
                "index_bfloat16_screen": getattr(live.index, "screen", None) is not None,
                "index_exact_from_batch": getattr(live.index, "exact_from", None)}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics_text() -> str:
        return metrics.text()

    @app.post(EVENTS_ROUTE, response_model=EventsOut, response_model_exclude_none=True)
    async def post_events(
        body: EventBatch | EventIn,
        recommend: int = Query(0, ge=0, le=MAX_K, description="also return each user's top-k after these events "
                                                              "(one round trip instead of two; 0: none)"),
        exclude_seen: bool = Query(True, description="with recommend: leave out items the user has interacted with"),
    ) -> EventsOut:
        """Log events and advance each user's state by one step per event (in order)."""
        events = body.events if isinstance(body, EventBatch) else [body]
        _finite_timestamps(events)
        return EventsOut(**await apply_events(events, recommend, exclude_seen))

    @app.get(USER_ROUTE, response_model=RecommendationsOut)
    async def user_recommendations(
        user_id: str,
        k: int = Query(20, ge=1, le=MAX_K),
        exclude_seen: bool = True,
        at: float | None = Query(None, description="Unix seconds (time-aware models); default: the last event's time"),
    ) -> RecommendationsOut:
        return RecommendationsOut(**await user_top_k(user_id, k, exclude_seen, at))

    @app.post("/v1/recommendations", response_model=RecommendationsOut)
    async def history_recommendations(body: HistoryIn) -> RecommendationsOut:
        """Stateless: the ``history`` is read on every call (its last ``config.history_len`` items);
        concurrent calls are read together, in one padded pass."""
        if body.history_times is not None and len(body.history_times) != len(body.history):
            raise HTTPException(422, f"history_times has {len(body.history_times)} entries, history {len(body.history)}")
        recs = await worker.recommend(HistoryRequest(body.history, body.history_times, body.k, body.exclude_seen, body.at))
        return RecommendationsOut(items=_items(recs))

    @app.get("/v1/items/{item_id}/similar", response_model=RecommendationsOut)
    def similar_items(item_id: str, k: int = Query(20, ge=1, le=MAX_K)) -> RecommendationsOut:
        rec, model = live.rec, live.model  # one model throughout, even if a reload happens meanwhile
        assert rec.items is not None
        if item_id not in rec.items:
            raise HTTPException(404, f"unknown item ID {item_id!r}")
        with torch.no_grad():
            weights = torch.nn.functional.normalize(model.output_layer()[0].float(), dim=1).cpu()
        row = rec.items.to_internal(item_id)
        scores = weights @ weights[row]
        scores[0] = scores[row] = float("-inf")
        top = torch.topk(scores, min(k, len(rec.items) - 1))
        ids = rec.items.to_external(top.indices.numpy())
        return RecommendationsOut(items=[{"item_id": i, "score": float(s)} for i, s in zip(ids, top.values.tolist())])

    @app.post("/v1/admin/reload")
    def reload(body: ReloadIn | None = None) -> dict:
        """Swap in a saved model; requests are served meanwhile; states of a different model are
        rebuilt from the event log. Also on SIGHUP (re-reads the folder served)."""
        return live.reload(None if body is None else body.model)  # a folder that fails to load: 422

    events_body = TypeAdapter(EventBatch | EventIn)

    async def lane_events(body: bytes, user_id: str | None, query: dict[str, str]) -> JSONResponse:
        recommend, exclude_seen = query_int(query, "recommend", 0, 0, MAX_K), query_bool(query, "exclude_seen", True)
        try:
            parsed = events_body.validate_python(json.loads(body))
            events = parsed.events if isinstance(parsed, EventBatch) else [parsed]
            _finite_timestamps(events)
        except (ValueError, HTTPException):  # bad JSON, a ValidationError, a timestamp: FastAPI words it
            raise Pass from None
        try:
            return _FastJSONResponse(await apply_events(events, recommend, exclude_seen))
        except RnnrecError as exc:
            return _error_response(exc)

    async def lane_top_k(body: bytes, user_id: str | None, query: dict[str, str]) -> JSONResponse:
        assert user_id is not None
        k, exclude_seen, at = query_int(query, "k", 20, 1, MAX_K), query_bool(query, "exclude_seen", True), \
            query_float(query, "at")
        try:
            return _FastJSONResponse(await user_top_k(user_id, k, exclude_seen, at))
        except RnnrecError as exc:
            return _error_response(exc)

    routes = {r.path: r for r in app.routes if getattr(r, "path", None) in (EVENTS_ROUTE, USER_ROUTE)}
    app.add_middleware(FastLane, events=lane_events, recommendations=lane_top_k, routes=routes)
    app.add_middleware(LimitsAndMetrics, metrics=metrics)  # outermost of ours: limits and times both paths
    return app


def serving_app(model: str, state: str, index: str = "exact", threads: int = 1) -> tuple[FastAPI, LiveRecommender]:
    """The app serving the model folder ``model`` with the state store ``state`` (what ``rnnrec
    serve`` runs), and its live recommender."""
    from rnnrec.serving.state_store import open_state_store

    torch.set_num_threads(threads)
    live = LiveRecommender.open(model, open_state_store(state), index=index)
    app = create_app(live)
    gc.collect()
    gc.freeze()  # the model, the ID maps and the framework stay put: full collections skip them (no long pauses)
    return app, live
