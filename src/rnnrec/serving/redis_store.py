"""State store for several server processes: the event log and the states in one Redis.

Keys (prefix ``rnnrec:``): ``model_key``; ``users`` (a set); ``events:{user}`` (a list of JSON
``[item, ts, applied]``, oldest first); ``n_events``; ``state:{user}`` (a hash: state bytes, last_ts,
n_applied, version). A batch is written in one MULTI/EXEC transaction under WATCH of its users'
state keys, so a state another process changed since it was read makes the transaction fail
(:class:`~rnnrec.serving.state_store.StateConflict`) instead of overwriting it.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync always`` an acknowledged event
survives Redis restarting too; the server process dying never loses what Redis acknowledged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import numpy as np

from rnnrec.errors import ConfigError, RnnrecError
from rnnrec.serving.state_store import Event, ModelChanged, StateConflict, UserState, new_versions

PREFIX = "rnnrec:"


class RedisStateStore:
    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ConfigError("a redis:// state store needs the redis package: pip install 'rnnrec[redis]'") from exc
        self._redis_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._watch_error = redis.exceptions.WatchError
        self.url, self.prefix = url, prefix
        try:
            self._r = redis.Redis.from_url(url, socket_timeout=30)
            self._r.ping()
        except (ValueError, *self._redis_errors) as exc:
            raise RnnrecError(f"state store {url}: cannot reach Redis ({exc})") from None

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def close(self) -> None:
        self._r.close()

    def model_key(self) -> str | None:
        value = self._r.get(self._key("model_key"))
        return None if value is None else value.decode()

    def reset_states(self, model_key: str) -> None:
        keys = list(self._r.scan_iter(match=self._key("state", "*"), count=1000))
        with self._r.pipeline(transaction=True) as p:
            for start in range(0, len(keys), 1000):
                p.delete(*keys[start : start + 1000])
            p.set(self._key("model_key"), model_key)
            p.execute()

    def states(self, users: Iterable[str]) -> dict[str, UserState]:
        users = list(dict.fromkeys(users))
        with self._r.pipeline(transaction=False) as p:
            for u in users:
                p.hgetall(self._key("state", u))
            rows = p.execute()
        return {u: _state(row) for u, row in zip(users, rows) if row}

    def events_of(self, user: str) -> list[tuple[str, float | None, bool]]:
        return [(item, ts, bool(ok)) for item, ts, ok in map(json.loads, self._r.lrange(self._key("events", user), 0, -1))]

    def users(self) -> Iterator[str]:
        yield from sorted(u.decode() for u in self._r.smembers(self._key("users")))

    def count_events(self) -> int:
        return int(self._r.get(self._key("n_events")) or 0)

    def append(self, events: list[Event], applied: list[bool], states: dict[str, UserState],
               expected: dict[str, int], model_key: str | None = None) -> None:
        if len(applied) != len(events):
            raise ValueError("one applied flag per event")
        versions = new_versions(events, expected)
        with self._r.pipeline(transaction=True) as p:
            try:
                p.watch(self._key("model_key"), *(self._key("state", u) for u in expected))
                if model_key is not None:
                    stored = p.get(self._key("model_key"))
                    if stored is None or stored.decode() != model_key:
                        raise ModelChanged(f"stored states belong to model {stored and stored.decode()}, not {model_key}")
                for u, want in expected.items():
                    have = int(p.hget(self._key("state", u), "version") or 0)
                    if have != want:
                        raise StateConflict(f"user {u!r}: state changed meanwhile (version {have}, read {want})")
                p.multi()
                for e, ok in zip(events, applied):
                    p.rpush(self._key("events", e.user_id), json.dumps([e.item_id, e.ts, int(ok)]))
                p.sadd(self._key("users"), *{e.user_id for e in events})
                p.incrby(self._key("n_events"), len(events))
                self._put(p, states, versions)
                p.execute()
            except self._watch_error:
                raise StateConflict("a user's state changed meanwhile (Redis WATCH)") from None

    def put_states(self, states: dict[str, UserState]) -> None:
        with self._r.pipeline(transaction=True) as p:
            self._put(p, states, {u: s.version for u, s in states.items()})
            p.execute()

    def _put(self, p, states: dict[str, UserState], versions: dict[str, int]) -> None:
        for u, s in states.items():
            p.hset(self._key("state", u), mapping={
                "state": np.ascontiguousarray(s.state, dtype=np.float32).tobytes(),
                "last_ts": "" if s.last_ts is None else repr(float(s.last_ts)),
                "n_applied": s.n_applied,
                "version": versions[u],
            })


def _state(row: dict[bytes, bytes]) -> UserState:
    last_ts = row[b"last_ts"].decode()
    return UserState(np.frombuffer(row[b"state"], dtype=np.float32).copy(), float(last_ts) if last_ts else None,
                     int(row[b"n_applied"]), int(row[b"version"]))
