"""Where a live service keeps what happened: the event log and each user's latest recurrent state,
in one SQLite file (WAL mode), so an acknowledged event survives a crash of the server process.

Why SQLite: an embedded file needs no server to run; WAL lets readers work while one writer
appends. Each batch of events and the states they produce are written in one transaction, so
after a crash (even ``kill -9``) the states always match the log. With ``synchronous = NORMAL``
(the default) a committed transaction survives the process dying; ``FULL`` also survives the
machine losing power, at the cost of one fsync per batch.

States are stored with the key of the model that computed them (:meth:`StateStore.model_key`):
a server started with another model rebuilds the states from the log instead of trusting them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnrec.errors import ConfigError, RnnrecError

SYNCHRONOUS = ("NORMAL", "FULL")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  TEXT NOT NULL,
    item_id  TEXT NOT NULL,
    ts       REAL,            -- event time (Unix seconds), NULL when the client gave none
    applied  INTEGER NOT NULL -- 1: the item was known to the model and advanced the state
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, seq);
CREATE TABLE IF NOT EXISTS states (
    user_id   TEXT PRIMARY KEY,
    state     BLOB NOT NULL,  -- float32 array of the model's state size
    last_ts   REAL,           -- time of the last applied event (time-aware models read the gap)
    last_seq  INTEGER NOT NULL,
    n_applied INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    ts: float | None = None


@dataclass
class UserState:
    state: np.ndarray  # (S,) float32
    last_ts: float | None
    last_seq: int
    n_applied: int


class StateStore:
    """The event log and latest states in one SQLite file. Thread-safe: one connection, every use of
    it under one lock (SQLite serialises writers anyway; the lock keeps each batch's transaction whole)."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in SYNCHRONOUS:
            raise ConfigError(f"state store synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ConfigError(f"state store {self.path}: folder {self.path.parent} does not exist")
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise RnnrecError(f"state store {self.path}: not a usable SQLite database ({exc})") from None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> "StateStore":
        """``sqlite:///relative/or/absolute/path.db`` (the only backend so far)."""
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ConfigError(f"--state {url!r}: expected sqlite:///PATH (e.g. sqlite:///state.db)")
        return cls(url[len(prefix):])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ model key
    def model_key(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'model_key'").fetchone()
        return None if row is None else str(row[0])

    def reset_states(self, model_key: str) -> None:
        """Forget every state (they belong to another model) and remember whose states follow."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM states")
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model_key', ?)", (model_key,))
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ reads
    def states(self, users: Iterable[str]) -> dict[str, UserState]:
        """Latest states of ``users`` that have one (others are absent from the result)."""
        users = list(dict.fromkeys(users))
        out: dict[str, UserState] = {}
        for start in range(0, len(users), 500):  # SQLite's limit on bound parameters
            chunk = users[start : start + 500]
            with self._lock:
                rows = self._db.execute(
                    "SELECT user_id, state, last_ts, last_seq, n_applied FROM states "
                    f"WHERE user_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            for user, blob, last_ts, last_seq, n in rows:
                out[user] = UserState(np.frombuffer(blob, dtype=np.float32).copy(), last_ts, last_seq, n)
        return out

    def events_of(self, user: str) -> list[tuple[str, float | None, bool]]:
        """(item, ts, applied) of every logged event of ``user``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT item_id, ts, applied FROM events WHERE user_id = ? ORDER BY seq", (user,)
            ).fetchall()
        return [(item, ts, bool(applied)) for item, ts, applied in rows]

    def users(self) -> Iterator[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT user_id FROM events ORDER BY user_id").fetchall()
        for (user,) in rows:
            yield user

    def count_events(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # ------------------------------------------------------------------ writes
    def append(self, events: list[Event], applied: list[bool], states: dict[str, tuple[np.ndarray, float | None, int]]) -> None:
        """Log ``events`` and store the states they led to (user → (state, last_ts, n_applied)), in
        one transaction: either all of it is there after a crash or none of it."""
        if len(applied) != len(events):
            raise ValueError("one applied flag per event")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                last_seq: dict[str, int] = {}
                for event, ok in zip(events, applied):
                    cur = self._db.execute(
                        "INSERT INTO events (user_id, item_id, ts, applied) VALUES (?, ?, ?, ?)",
                        (event.user_id, event.item_id, event.ts, int(ok)),
                    )
                    last_seq[event.user_id] = int(cur.lastrowid or 0)
                self._db.executemany(
                    "INSERT OR REPLACE INTO states (user_id, state, last_ts, last_seq, n_applied) VALUES (?, ?, ?, ?, ?)",
                    [(u, np.ascontiguousarray(s, dtype=np.float32).tobytes(), ts, last_seq.get(u, 0), n)
                     for u, (s, ts, n) in states.items()],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def put_states(self, states: dict[str, UserState]) -> None:
        """Store rebuilt states (after a model change), in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO states (user_id, state, last_ts, last_seq, n_applied) VALUES (?, ?, ?, ?, ?)",
                [(u, np.ascontiguousarray(s.state, dtype=np.float32).tobytes(), s.last_ts, s.last_seq, s.n_applied)
                 for u, s in states.items()],
            )
            self._db.execute("COMMIT")
