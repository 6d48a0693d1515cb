"""The default state store: the event log and each user's latest state in one SQLite file (WAL).

Why SQLite: an embedded file needs no server to run; WAL lets readers work while one writer
appends. Each batch of events and the states they produce are written in one transaction, so
after a crash (even ``kill -9``) the states always match the log. With ``synchronous = NORMAL``
(the default) a committed transaction survives the process dying; ``FULL`` also survives the
machine losing power, at the cost of one fsync per batch. Several processes may share the file:
writers take turns, and a state changed by another process since it was read is a
:class:`~rnnrec.serving.state_store.StateConflict`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from rnnrec.errors import ConfigError, RnnrecError
from rnnrec.serving.state_store import Event, ModelChanged, StateConflict, UserState, new_versions

SYNCHRONOUS = ("NORMAL", "FULL")
CHECKPOINT_SECONDS = 0.5
WAL_RESTART_BYTES = 64 << 20

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
    last_ts   REAL,
    n_applied INTEGER NOT NULL,
    version   INTEGER NOT NULL -- the user's logged events when this state was stored
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SqliteStateStore:
    """Thread-safe: one connection, every use of it under one lock (the lock also keeps each
    batch's transaction whole)."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in SYNCHRONOUS:
            raise ConfigError(f"state store synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ConfigError(f"state store {self.path}: folder {self.path.parent} does not exist")
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # _checkpoints does it, off the request path
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise RnnrecError(f"state store {self.path}: not a usable SQLite database ({exc})") from None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoints, name="rnnrec-wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoints(self) -> None:
        """Copy the WAL back into the database file every :data:`CHECKPOINT_SECONDS`.

        Why a thread: SQLite's automatic checkpoint runs inside the commit that fills the WAL to
        1,000 pages, so one batch in ~40 took 4–5 ms instead of 0.3 ms, a stall every request
        of that batch (and those queued behind it) paid. A passive checkpoint from a connection
        of its own waits for no one and blocks no writer; sqlite3 releases the GIL meanwhile, so
        it runs on another core. Writers keep adding pages meanwhile, though, and the WAL only
        restarts from its beginning once every page is copied: when the WAL has grown past
        :data:`WAL_RESTART_BYTES`, a second pass copies the pages written meanwhile while this
        process's writer waits (1–5 ms, every half minute or so under heavy load).
        """
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=0.0)
        wal = Path(f"{self.path}-wal")
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # fetched: no statement left open
                    if wal.is_file() and wal.stat().st_size > WAL_RESTART_BYTES:
                        with self._lock:  # the pages written meanwhile, our writer paused: the WAL can restart
                            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.OperationalError:  # busy: another process checkpoints; next time
                    pass
        finally:
            db.close()

    def close(self) -> None:
        self._closing.set()
        self._checkpointer.join()
        with self._lock:
            self._db.close()

    def model_key(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'model_key'").fetchone()
        return None if row is None else str(row[0])

    def reset_states(self, model_key: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM states")
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model_key', ?)", (model_key,))
            self._db.execute("COMMIT")

    def states(self, users: Iterable[str]) -> dict[str, UserState]:
        with self._lock:
            rows = self._select_in("SELECT user_id, state, last_ts, n_applied, version FROM states WHERE user_id IN ({})",
                                   list(dict.fromkeys(users)))
        return {user: UserState(np.frombuffer(blob, dtype=np.float32).copy(), last_ts, n, version)
                for user, blob, last_ts, n, version in rows}

    def _select_in(self, query: str, keys: list[str]) -> list[tuple]:
        """Rows of ``query`` whose ``{}`` is filled with a placeholder per key (the lock held)."""
        rows: list[tuple] = []
        for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
            chunk = keys[start : start + 500]
            rows += self._db.execute(query.format(",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def events_of(self, user: str) -> list[tuple[str, float | None, bool]]:
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

    def append(self, events: list[Event], applied: list[bool], states: dict[str, UserState],
               expected: dict[str, int], model_key: str | None = None) -> None:
        if len(applied) != len(events):
            raise ValueError("one applied flag per event")
        versions = new_versions(events, expected)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the write lock of the file: no other writer until COMMIT
            try:
                if model_key is not None:
                    row = self._db.execute("SELECT value FROM meta WHERE key = 'model_key'").fetchone()
                    if row is None or row[0] != model_key:
                        raise ModelChanged(f"stored states belong to model {row and row[0]}, not {model_key}")
                stored = dict(self._select_in("SELECT user_id, version FROM states WHERE user_id IN ({})",
                                              list(expected)))
                for user, want in expected.items():
                    if stored.get(user, 0) != want:
                        raise StateConflict(f"user {user!r}: state changed meanwhile (version {stored.get(user, 0)}, "
                                            f"read {want})")  # fmt: skip
                self._db.executemany(
                    "INSERT INTO events (user_id, item_id, ts, applied) VALUES (?, ?, ?, ?)",
                    [(e.user_id, e.item_id, e.ts, int(ok)) for e, ok in zip(events, applied)],
                )
                self._put(states, versions)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def put_states(self, states: dict[str, UserState]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._put(states, {u: s.version for u, s in states.items()})
            self._db.execute("COMMIT")

    def _put(self, states: dict[str, UserState], versions: dict[str, int]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO states (user_id, state, last_ts, n_applied, version) VALUES (?, ?, ?, ?, ?)",
            [(u, np.ascontiguousarray(s.state, dtype=np.float32).tobytes(), s.last_ts, s.n_applied, versions[u])
             for u, s in states.items()],
        )
