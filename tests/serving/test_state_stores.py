"""The state store contract, on SQLite and on a real redis-server: events and states are written
together, versions count each user's logged events, and a state changed by someone else since it
was read is a conflict that stores nothing. Data: generated events and state vectors."""

import numpy as np
import pytest

from rnnrec.errors import ConfigError, RnnrecError
from rnnrec.serving.state_store import Event, StateConflict, UserState, open_state_store


def state(x: float) -> UserState:
    return UserState(np.full(3, x, dtype=np.float32), None, 1)


def test_append_versions_and_conflicts(open_store):
    store = open_store()
    assert store.model_key() is None and store.states(["a"]) == {} and store.count_events() == 0
    store.reset_states("model-1")
    store.append([Event("a", "i1", 1.0), Event("b", "i2", None), Event("a", "i3", 2.0)], [True, False, True],
                 {"a": state(1.0), "b": state(2.0)}, {"a": 0, "b": 0})
    got = store.states(["a", "b", "c"])
    assert sorted(got) == ["a", "b"] and (got["a"].version, got["b"].version) == (2, 1)
    np.testing.assert_array_equal(got["a"].state, np.full(3, 1.0, dtype=np.float32))
    assert store.events_of("a") == [("i1", 1.0, True), ("i3", 2.0, True)]
    assert store.events_of("b") == [("i2", None, False)]
    assert list(store.users()) == ["a", "b"] and store.count_events() == 3

    # Someone else moved "a" from version 2 to 3: a writer that read version 2 must not overwrite it.
    store.append([Event("a", "i4")], [True], {"a": state(3.0)}, {"a": 2})
    with pytest.raises(StateConflict, match="'a'"):
        store.append([Event("a", "i5"), Event("b", "i6")], [True, True], {"a": state(9.0), "b": state(9.0)},
                     {"a": 2, "b": 1})
    assert store.count_events() == 4 and store.states(["b"])["b"].version == 1  # nothing of the batch stored
    np.testing.assert_array_equal(store.states(["a"])["a"].state, np.full(3, 3.0, dtype=np.float32))

    reopened = open_store()  # what is stored outlives the connection
    assert reopened.model_key() == "model-1" and reopened.states(["a"])["a"].version == 3
    reopened.reset_states("model-2")
    assert reopened.states(["a", "b"]) == {} and reopened.count_events() == 4 and reopened.model_key() == "model-2"


def test_bad_state_urls():
    with pytest.raises(ConfigError, match="expected sqlite:///PATH"):
        open_state_store("postgres://x")
    with pytest.raises(ConfigError, match="does not exist"):
        open_state_store("sqlite:///no/such/folder/state.db")
    with pytest.raises(RnnrecError, match="cannot reach Redis"):
        open_state_store("redis://127.0.0.1:1/0")


def test_append_refuses_states_of_another_model(open_store):
    from rnnrec.serving.state_store import ModelChanged

    store = open_store()
    store.reset_states("model-2")
    store.append([Event("a", "i1")], [True], {"a": state(1.0)}, {"a": 0}, model_key="model-2")
    with pytest.raises(ModelChanged, match="model-2, not model-1"):
        store.append([Event("a", "i2")], [True], {"a": state(5.0)}, {"a": 1}, model_key="model-1")
    assert store.count_events() == 1 and store.states(["a"])["a"].version == 1


def test_sqlite_checkpoints_off_the_request_path_and_the_wal_restarts(tmp_path, monkeypatch):
    """Commits never checkpoint (a checkpoint inside one stalled its batch 4–5 ms); a thread of the
    store copies the WAL back into the database file, and the WAL then restarts from its start."""
    import sqlite3
    import time

    from rnnrec.serving import sqlite_store

    def wal_restarts() -> int:  # the WAL header's checkpoint sequence number, +1 per restart
        return int.from_bytes((tmp_path / "state.db-wal").read_bytes()[12:16], "big")

    def events_in_the_file() -> int:  # what the database file itself holds, the WAL not read
        try:
            with sqlite3.connect(f"file:{tmp_path / 'state.db'}?immutable=1", uri=True) as db:
                return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        except sqlite3.DatabaseError:  # not copied yet (no table), or caught mid-copy
            return -1

    monkeypatch.setattr(sqlite_store, "CHECKPOINT_SECONDS", 0.05)
    monkeypatch.setattr(sqlite_store, "WAL_RESTART_BYTES", 0)
    store = sqlite_store.SqliteStateStore(tmp_path / "state.db")
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for v in range(300):
        store.append([Event("a", f"i{v}")], [True], {"a": state(float(v))}, {"a": v})
    restarts, deadline = wal_restarts(), time.monotonic() + 30
    while events_in_the_file() != 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events_in_the_file() == 300
    version = 300
    while wal_restarts() == restarts and time.monotonic() < deadline:  # a write after a full copy restarts it
        time.sleep(0.1)
        store.append([Event("a", f"j{version}")], [True], {"a": state(-1.0)}, {"a": version})
        version += 1
    assert wal_restarts() > restarts
    store.close()
    assert not store._checkpointer.is_alive()
    reopened = sqlite_store.SqliteStateStore(tmp_path / "state.db")
    assert reopened.count_events() == version and reopened.states(["a"])["a"].version == version
    reopened.close()
