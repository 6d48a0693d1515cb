"""What a live service stores, whatever the backend: the event log and each user's latest
recurrent state, written together so that they always agree.

Backends: :class:`~rnnrec.serving.sqlite_store.SqliteStateStore` (one embedded file, the default)
and :class:`~rnnrec.serving.redis_store.RedisStateStore` (several server processes sharing one
Redis). Both check, when they store new states, that nobody changed those users' states since
they were read (each state carries a version: the number of the user's logged events); if
someone did, :class:`StateConflict` tells the caller to read again and recompute. That keeps every
user's events applied in log order even with several processes serving the same users.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rnnrec.errors import ConfigError, RnnrecError


@dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    ts: float | None = None


@dataclass
class UserState:
    state: np.ndarray  # (S,) float32
    last_ts: float | None  # time of the last applied event (time-aware models read the gap)
    n_applied: int  # events that moved the state (known items)
    version: int = 0  # the user's logged events when the state was stored


class StateConflict(RnnrecError):
    """Another process stored a newer state for one of the users meanwhile."""


class ModelChanged(StateConflict):
    """The stored states belong to another model than the writer's (another process reloaded)."""


class StateStore(Protocol):
    def model_key(self) -> str | None:
        """Key of the model whose states are stored (None: none yet)."""

    def reset_states(self, model_key: str) -> None:
        """Forget every state (they belong to another model); ``model_key``'s states follow."""

    def states(self, users: Iterable[str]) -> dict[str, UserState]:
        """Latest states of ``users`` that have one (others are absent from the result)."""

    def events_of(self, user: str) -> list[tuple[str, float | None, bool]]:
        """(item, ts, applied) of every logged event of ``user``, oldest first."""

    def users(self) -> Iterator[str]:
        """Every user with a logged event."""

    def count_events(self) -> int: ...

    def append(self, events: list[Event], applied: list[bool], states: dict[str, UserState],
               expected: dict[str, int], model_key: str | None = None) -> None:
        """Log ``events`` and store the ``states`` they led to, atomically, provided each user's
        stored version still equals ``expected`` (0: no state); else raise :class:`StateConflict`
        and store nothing. Stored versions become ``expected`` + the user's events in the batch.
        With ``model_key``, the stored states must belong to that model, else :class:`ModelChanged`."""

    def put_states(self, states: dict[str, UserState]) -> None:
        """Store rebuilt states (after a model change) as they are, versions included."""

    def close(self) -> None: ...


def open_state_store(url: str) -> StateStore:
    """``sqlite:///PATH`` (relative or absolute path) or ``redis://HOST:PORT/DB``."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        from rnnrec.serving.sqlite_store import SqliteStateStore

        return SqliteStateStore(url[len("sqlite:///"):])
    if url.startswith(("redis://", "rediss://", "unix://")):
        from rnnrec.serving.redis_store import RedisStateStore

        return RedisStateStore(url)
    raise ConfigError(f"--state {url!r}: expected sqlite:///PATH (e.g. sqlite:///state.db) or redis://HOST:PORT/DB")


def new_versions(events: list[Event], expected: dict[str, int]) -> dict[str, int]:
    """Each user's version after ``events`` are logged: what it was plus their events in the batch."""
    out = dict(expected)
    for e in events:
        out[e.user_id] = out.get(e.user_id, 0) + 1
    return out
