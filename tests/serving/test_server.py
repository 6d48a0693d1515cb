"""`rnnrec serve` as a real server process on a free local port, driven by a real HTTP client
(urllib): events advance states, bad input gets a clear 4xx, acknowledged events survive kill -9.
Data: a tiny model trained on a generated timed cycle log (labelled in test_live.py)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import train_tiny

from rnnrec.data.time_features import time_features
from rnnrec.recommender import SequentialRecommender
from rnnrec.serving.live import artifact_key
from rnnrec.serving.sqlite_store import SqliteStateStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model_dir: Path, state: Path | str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = state
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rnnrec.cli", "--quiet", "serve", str(model_dir), "--port", str(self.port),
             "--state", state if isinstance(state, str) else f"sqlite:///{state}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read().decode()}")
            try:
                if self.call("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start within 60 s")

    def call(self, method: str, path: str, body: object = None, raw: bytes | None = None) -> tuple[int, object]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if resp.headers.get_content_type() == "application/json" else text)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read().decode())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(time_decay_model_dir, tmp_path_factory):
    """One server for the tests below (each uses its own users)."""
    s = Server(time_decay_model_dir, tmp_path_factory.mktemp("state") / "state.db")
    yield s
    if s.proc.poll() is None:
        s.kill(signal.SIGTERM)


def test_events_then_recommendations_match_the_batch_model(server, time_decay_model_dir):
    batch = SequentialRecommender.load(time_decay_model_dir)
    applied_before = metric(server, "rnnrec_events_applied_total")
    posted_before = metric(server, 'rnnrec_requests_total{route="/v1/events",method="POST",status="200"}')
    history, times = ["i1", "i2", "i3"], [1.7e9, 1.7e9 + 60, 1.7e9 + 120]
    for item, ts in zip(history, times):
        status, body = server.call("POST", "/v1/events", {"user_id": "web-1", "item_id": item, "timestamp": ts})
        assert (status, body) == (200, {"accepted": 1, "applied": 1, "unknown_items": []})
    status, body = server.call("GET", f"/v1/users/web-1/recommendations?k=4&exclude_seen=false&at={1.7e9 + 180}")
    assert status == 200
    want = batch.recommend(history=history, history_times=times, k=4, at=1.7e9 + 180)
    assert [x["item_id"] for x in body["items"]] == [r.item_id for r in want]
    assert [x["score"] for x in body["items"]] == pytest.approx([r.score for r in want], rel=1e-4, abs=1e-5)

    status, body = server.call("POST", "/v1/recommendations", {"history": history, "history_times": times, "k": 4,
                                                               "at": 1.7e9 + 180})
    assert status == 200 and [x["item_id"] for x in body["items"]] == [r.item_id for r in want]

    status, body = server.call("GET", "/v1/users/web-1/recommendations?k=6")  # exclude_seen by default
    assert status == 200 and {"i1", "i2", "i3"}.isdisjoint(x["item_id"] for x in body["items"])

    status, body = server.call("GET", "/v1/items/i1/similar?k=3")
    assert status == 200 and len(body["items"]) == 3 and "i1" not in [x["item_id"] for x in body["items"]]

    assert metric(server, "rnnrec_events_applied_total") == applied_before + 3
    assert metric(server, 'rnnrec_requests_total{route="/v1/events",method="POST",status="200"}') == posted_before + 3


def test_an_event_and_its_recommendations_in_one_request(server):
    """POST /v1/events?recommend=K answers with each user's top-K from the state the events reached:
    the same as asking afterwards, in one round trip."""
    status, body = server.call("POST", "/v1/events?recommend=3", {"events": [
        {"user_id": "one-trip", "item_id": "i2", "timestamp": 1.7e9},
        {"user_id": "one-trip-b", "item_id": "i4", "timestamp": 1.7e9},
        {"user_id": "one-trip", "item_id": "i3", "timestamp": 1.7e9 + 60}]})
    assert status == 200 and (body["accepted"], body["applied"]) == (3, 3)
    assert sorted(body["recommendations"]) == ["one-trip", "one-trip-b"]
    for user, items in body["recommendations"].items():  # a batched product: equal up to float rounding
        later = server.call("GET", f"/v1/users/{user}/recommendations?k=3")[1]["items"]
        assert [x["item_id"] for x in later] == [x["item_id"] for x in items]
        assert [x["score"] for x in later] == pytest.approx([x["score"] for x in items], rel=1e-5, abs=1e-6)
    assert {"i2", "i3"}.isdisjoint(x["item_id"] for x in body["recommendations"]["one-trip"])
    status, body = server.call("POST", "/v1/events?recommend=-1", {"user_id": "one-trip", "item_id": "i1"})
    assert status == 422 and "recommend" in json.dumps(body)


def test_the_fast_lane_answers_as_fastapi_does(server):
    """The per-event routes answer plainly valid requests themselves (serving/fast_lane.py) and hand
    everything else to FastAPI: the same request, once in each spelling, gets the same answer and
    is counted under the same route."""
    events = [{"item_id": "i2", "timestamp": 1.7e9}, {"item_id": "i5", "timestamp": 1.7e9 + 60}]
    posted = metric(server, 'rnnrec_requests_total{route="/v1/events",method="POST",status="200"}')
    route = 'rnnrec_requests_total{route="/v1/users/{user_id}/recommendations",method="GET",status="200"}'
    asked = metric(server, route)
    answers = {}
    for user, spelling in [("lane", ""), ("fastapi", "&exclude_seen=yes")]:  # "yes": FastAPI's alone
        status, body = server.call("POST", f"/v1/events?recommend=4{spelling}",
                                   {"events": [{"user_id": user, **e} for e in events]})
        assert status == 200
        got = server.call("GET", f"/v1/users/{user}/recommendations?k=5{spelling}")
        assert got[0] == 200 and got[1]["user_id"] == user
        answers[user] = (body["accepted"], body["applied"], body["unknown_items"], body["recommendations"][user],
                         got[1]["items"])
    assert answers["lane"] == answers["fastapi"]
    assert metric(server, 'rnnrec_requests_total{route="/v1/events",method="POST",status="200"}') == posted + 2
    assert metric(server, route) == asked + 2
    # Errors raised once the model has the request are worded as FastAPI's handler words them.
    assert server.call("GET", "/v1/users/nobody-lane/recommendations?k=5") == server.call(
        "GET", "/v1/users/nobody-lane/recommendations?k=5&exclude_seen=yes")


def metric(server: Server, name: str) -> float:
    """A sample's value from GET /metrics (Prometheus text), 0 when absent."""
    status, text = server.call("GET", "/metrics")
    assert status == 200
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.rsplit(" ", 1)[0] == name]
    return values[0] if values else 0.0


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("POST", "/v1/events", b"{not json", 422, "JSON decode error"),
        ("POST", "/v1/events", {"user_id": "u", "item_id": 5}, 422, "item_id"),
        ("POST", "/v1/events", {"user_id": "u", "item_id": "i1", "timestamp": "soon"}, 422, "timestamp"),
        ("POST", "/v1/events", {"user_id": "u", "item_id": "i1", "color": "red"}, 422, "color"),
        ("POST", "/v1/events", {"events": []}, 422, "events"),
        ("GET", "/v1/users/u/recommendations?k=0", None, 422, "greater than or equal to 1"),
        ("GET", "/v1/users/u/recommendations?k=100000", None, 422, "less than or equal to 1000"),
        ("GET", "/v1/items/nope/similar", None, 404, "unknown item ID 'nope'"),
        ("GET", "/v1/users/nobody/recommendations", None, 404, "unknown user ID 'nobody'"),
        ("POST", "/v1/recommendations", {"history": ["i1"], "history_times": [1, 2]}, 422, "history_times has 2"),
        ("POST", "/v1/events", b"x" * (2 << 20), 413, "request body over"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(server, method, path, body, status, says):
    raw = body if isinstance(body, bytes) else None
    got, detail = server.call(method, path, None if raw is not None else body, raw=raw)
    assert got == status
    assert says in json.dumps(detail)
    assert server.call("GET", "/health")[0] == 200


def test_a_chunked_body_over_the_limit_is_refused(server):
    """A body sent without a Content-Length (chunked) is counted as it arrives: 413, not read whole."""
    import http.client

    big = b'{"user_id": "u", "item_id": "i1"},' * 40_000  # 1.4 MB
    for path, body in [("/v1/events", b'{"events": [' + big + b"]}"),  # the fast lane reads it
                       ("/v1/recommendations", b'{"history": [' + b'"i1",' * 300_000 + b'"i1"]}')]:  # FastAPI does
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", path, body=(body[i: i + 65536] for i in range(0, len(body), 65536)),
                     encode_chunked=True, headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        assert response.status == 413 and b"request body over" in response.read()
        conn.close()
    assert server.call("GET", "/health")[0] == 200


def test_unknown_items_and_out_of_order_times(server):
    status, body = server.call("POST", "/v1/events", {"events": [
        {"user_id": "order", "item_id": "i1", "timestamp": 1.7e9},
        {"user_id": "order", "item_id": "never-seen", "timestamp": 1.7e9 + 1},
    ]})
    assert (status, body) == (200, {"accepted": 2, "applied": 1, "unknown_items": ["never-seen"]})
    status, body = server.call("POST", "/v1/events", {"user_id": "order", "item_id": "i2", "timestamp": 1.6e9})
    assert status == 422 and "before" in body["detail"]


def test_acknowledged_events_survive_kill_9(time_decay_model_dir, tmp_path):
    model_dir = time_decay_model_dir
    state = tmp_path / "state.db"
    first = Server(model_dir, state)
    for k in range(20):
        status, _ = first.call("POST", "/v1/events", {"user_id": f"u{k % 3}", "item_id": f"i{k % 6}",
                                                       "timestamp": 1.7e9 + 60 * k})
        assert status == 200
    before = {u: first.call("GET", f"/v1/users/{u}/recommendations?k=6")[1] for u in ("u0", "u1", "u2")}
    first.kill(signal.SIGKILL)
    second = Server(model_dir, state)
    try:
        after = {u: second.call("GET", f"/v1/users/{u}/recommendations?k=6")[1] for u in ("u0", "u1", "u2")}
        assert after == before
        status, body = second.call("POST", "/v1/events", {"user_id": "u0", "item_id": "i1", "timestamp": 1.7e9 + 7200})
        assert status == 200
    finally:
        second.kill(signal.SIGTERM)


def test_concurrent_events_for_one_user_are_all_applied_in_log_order(server, time_decay_model_dir):
    def post(k: int) -> int:
        return server.call("POST", "/v1/events", {"user_id": "busy", "item_id": f"i{k % 6}"})[0]

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, range(200)))
    assert statuses == [200] * 200
    # Whatever order the requests arrived in, the stored state is the one of the logged order.
    store = SqliteStateStore(server.state)  # a second reader beside the running server (WAL)
    logged = store.events_of("busy")
    assert sorted(int(item[1:]) for item, _, _ in logged) == sorted(k % 6 for k in range(200))
    stored = store.states(["busy"])["busy"]
    assert stored.n_applied == 200
    rec = SequentialRecommender.load(time_decay_model_dir)
    assert rec.model is not None and rec.items is not None
    items = torch.from_numpy(rec.items.to_internal_many([item for item, _, _ in logged]))[None]
    no_times = np.full(200, np.nan)  # the events carried no timestamp: unknown gaps
    with torch.no_grad():
        _, state = rec.model.encode(items, torch.from_numpy(time_features(no_times, no_times))[None])
    np.testing.assert_allclose(stored.state, state[0].numpy(), rtol=1e-4, atol=1e-5)


def test_reload_swaps_the_model_and_rebuilds_states_from_the_log(tmp_path):
    def recommendations(server: Server) -> list:
        status, body = server.call("GET", "/v1/users/r/recommendations?k=6&exclude_seen=false")
        assert status == 200
        return body["items"]

    def assert_same(got: list, want: list) -> None:
        assert [x["item_id"] for x in got] == [r.item_id for r in want]
        assert [x["score"] for x in got] == pytest.approx([r.score for r in want], rel=1e-4, abs=1e-5)

    history, times = ["i0", "i1", "i2", "i3"], [1.7e9 + 60 * k for k in range(4)]
    s = Server(train_tiny("time_decay", tmp_path / "a"), tmp_path / "state.db")
    try:
        events = [{"user_id": "r", "item_id": i, "timestamp": t} for i, t in zip(history, times)]
        assert s.call("POST", "/v1/events", {"events": events})[0] == 200

        other = train_tiny("gru4rec", tmp_path / "b")  # another model: its states must come from the log
        status, body = s.call("POST", "/v1/admin/reload", {"model": str(other)})
        assert (status, body["users_rebuilt"], body["model_key"]) == (200, 1, artifact_key(other))
        assert_same(recommendations(s), SequentialRecommender.load(other).recommend(history=history, k=6))

        status, body = s.call("POST", "/v1/admin/reload", {"model": str(tmp_path / "missing")})
        assert status == 422 and "not an rnnrec model folder" in body["detail"]
        assert s.call("GET", "/health")[1]["model_key"] == artifact_key(other)  # still the previous model

        # SIGHUP re-reads the folder served, here overwritten by a newly trained model.
        newer = train_tiny("time_gated", tmp_path / "b")
        assert newer == other and artifact_key(newer) != body_key(s)
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while body_key(s) != artifact_key(newer) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert body_key(s) == artifact_key(newer)
        want = SequentialRecommender.load(newer).recommend(history=history, history_times=times, k=6)
        assert_same(recommendations(s), want)
    finally:
        s.kill(signal.SIGTERM)


def body_key(server: Server) -> str:
    return server.call("GET", "/health")[1]["model_key"]


def test_two_server_processes_share_one_redis(time_decay_model_dir, redis_server):
    """Events for one user posted concurrently through two processes: none lost, none reordered."""
    import redis

    from rnnrec.serving.redis_store import RedisStateStore

    redis.Redis.from_url(redis_server).flushall()
    servers = [Server(time_decay_model_dir, redis_server) for _ in range(2)]
    try:
        def post(k: int) -> int:
            return servers[k % 2].call("POST", "/v1/events", {"user_id": "shared", "item_id": f"i{k % 6}"})[0]

        with ThreadPoolExecutor(16) as pool:
            assert list(pool.map(post, range(120))) == [200] * 120
        store = RedisStateStore(redis_server)
        logged = store.events_of("shared")
        assert sorted(int(item[1:]) for item, _, _ in logged) == sorted(k % 6 for k in range(120))
        stored = store.states(["shared"])["shared"]
        assert (stored.n_applied, stored.version) == (120, 120)
        rec = SequentialRecommender.load(time_decay_model_dir)
        assert rec.model is not None and rec.items is not None
        items = torch.from_numpy(rec.items.to_internal_many([item for item, _, _ in logged]))[None]
        no_times = np.full(120, np.nan)
        with torch.no_grad():
            _, state = rec.model.encode(items, torch.from_numpy(time_features(no_times, no_times))[None])
        np.testing.assert_allclose(stored.state, state[0].numpy(), rtol=1e-4, atol=1e-5)
        # Both processes recommend from the same stored state.
        a, b = (s.call("GET", "/v1/users/shared/recommendations?k=5")[1] for s in servers)
        assert a == b
    finally:
        for s in servers:
            s.kill(signal.SIGTERM)
