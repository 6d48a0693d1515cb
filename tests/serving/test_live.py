"""The live recommender advances stored states one step per event, and what it recommends equals
the batch recommender on the same whole history. Data: generated timed cycle logs (labelled)."""

import sqlite3

import numpy as np
import pytest

from rnnrec.recommender import SequentialRecommender
from rnnrec.serving.live import LiveRecommender, artifact_key
from rnnrec.serving.sqlite_store import SqliteStateStore
from rnnrec.serving.state_store import Event


def test_events_one_by_one_equal_the_batch_recommender(model_dir, open_store):
    batch = SequentialRecommender.load(model_dir)
    live = LiveRecommender.open(model_dir, open_store())
    items, times = ["i2", "i3", "i4", "i5"], [1.7e9, 1.7e9 + 60, 1.7e9 + 3600, 1.7e9 + 7200]
    for item, ts in zip(items, times):  # a new user, one event per call
        assert live.apply([Event("new", item, ts)]).applied == 1
    at = times[-1] + 600
    got = live.recommend("new", k=6, at=at)
    want = batch.recommend(history=items, history_times=times, k=6, at=at)
    assert [r.item_id for r in got] == [r.item_id for r in want]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-4, atol=1e-5)

    # A user the model was trained on continues from their training history.
    assert batch.histories is not None and batch.items is not None
    row = batch.users.to_internal("u3", "user")
    history = list(batch.items.to_external(batch.histories[row]))
    stored_times = batch.histories.times[batch.histories.offsets[row] : batch.histories.offsets[row + 1]].tolist()
    live.apply([Event("u3", "i0", stored_times[-1] + 120), Event("u3", "i1", stored_times[-1] + 240)])
    got = live.recommend("u3", k=6, at=stored_times[-1] + 300)
    want = batch.recommend(history=history + ["i0", "i1"], history_times=stored_times + [stored_times[-1] + 120,
                           stored_times[-1] + 240], k=6, at=stored_times[-1] + 300)
    assert [r.item_id for r in got] == [r.item_id for r in want]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-4, atol=1e-5)


def test_stateless_requests_in_one_batch_equal_the_batch_recommender(model_dir, open_store):
    """Stateless requests served together (one padded pass, one search) answer what
    ``recommend(history=...)`` answers for each alone: histories of different lengths, with
    timestamps or without, an unknown item left out, one with no known item (popularity), each
    its own k and exclude_seen; the state store is not touched."""
    from rnnrec.serving.live import HistoryRequest

    batch = SequentialRecommender.load(model_dir)
    store = open_store()
    live = LiveRecommender.open(model_dir, store)
    requests = [
        HistoryRequest(["i2", "i3", "i4", "i5"], [1.7e9, 1.7e9 + 60, 1.7e9 + 3600, 1.7e9 + 7200], k=6, at=1.7e9 + 7800),
        HistoryRequest(["i1", "no-such-item", "i0"], k=4, exclude_seen=True),
        HistoryRequest(["no-such-item"], k=3),
        HistoryRequest(["i5"] * 30 + ["i2"], k=5, exclude_seen=True),
    ]
    got = live.run_batch(requests)
    assert got is not None
    for request, answer in zip(requests, got):
        want = batch.recommend(history=request.history, history_times=request.history_times, k=request.k,
                               exclude_seen=request.exclude_seen, unknown="ignore", at=request.at)
        assert [r.item_id for r in answer] == [r.item_id for r in want]  # type: ignore[union-attr]
        np.testing.assert_allclose([r.score for r in answer], [r.score for r in want], rtol=1e-4, atol=1e-5)  # type: ignore[union-attr]
    assert not {"i1", "i0"} & {r.item_id for r in got[1]}  # type: ignore[union-attr]
    assert list(store.users()) == []


def test_unknown_items_are_logged_but_do_not_move_the_state(model_dir, open_store):
    store = open_store()
    live = LiveRecommender.open(model_dir, store)
    live.apply([Event("a", "i1", 1.7e9)])
    before = live.state_of("a").state.copy()
    result = live.apply([Event("a", "no-such-item", 1.7e9 + 5), Event("a", "i2", 1.7e9 + 10)])
    assert (result.accepted, result.applied, result.unknown_items) == (2, 1, ["no-such-item"])
    assert store.events_of("a") == [("i1", 1.7e9, True), ("no-such-item", 1.7e9 + 5, False), ("i2", 1.7e9 + 10, True)]
    assert live.state_of("a").n_applied == 2
    assert not np.array_equal(live.state_of("a").state, before)
    assert {"i1", "i2"}.isdisjoint(r.item_id for r in live.recommend("a", k=6, exclude_seen=True))


def test_a_new_model_rebuilds_the_states_from_the_log(model_dir, tmp_path):
    path = tmp_path / "state.db"
    live = LiveRecommender.open(model_dir, SqliteStateStore(path))
    live.apply([Event("a", "i1", 1.7e9), Event("b", "i4", 1.7e9), Event("a", "i2", 1.7e9 + 60)])
    want = {u: live.state_of(u).state.copy() for u in ("a", "b")}
    with sqlite3.connect(path) as db:  # another model's states: garbage that must not be trusted
        db.execute("UPDATE states SET state = zeroblob(length(state))")
        db.execute("UPDATE meta SET value = 'another-model' WHERE key = 'model_key'")
    reopened = LiveRecommender.open(model_dir, SqliteStateStore(path))
    assert reopened.store.model_key() == artifact_key(model_dir)
    for u in ("a", "b"):
        np.testing.assert_allclose(reopened.state_of(u).state, want[u], rtol=1e-5, atol=1e-6)


def test_user_without_events_gets_popularity(model_dir, open_store):
    live = LiveRecommender.open(model_dir, open_store())
    batch = SequentialRecommender.load(model_dir)
    assert live.recommend("nobody", k=3) == batch.recommend(user="nobody", k=3, unknown="ignore")


def test_a_failing_request_in_a_micro_batch_fails_alone(model_dir, open_store):
    from rnnrec.errors import DataFormatError
    from rnnrec.serving.live import _Request

    live = LiveRecommender.open(model_dir, open_store())
    if not live.model.uses_time:
        pytest.skip("plain models do not read timestamps: an older event is no error for them")
    live.apply([Event("late", "i1", 1.7e9)])
    batch = [_Request([Event("x", "i1", 1.7e9), Event("x", "i2", 1.7e9 + 1)]),
             _Request([Event("late", "i2", 1.6e9)]),  # older than this user's last event
             _Request([Event("y", "zzz", 1.7e9)])]
    with live._lock:
        live._apply_requests(batch)
    assert [r.done for r in batch] == [True, True, True]
    assert (batch[0].result.accepted, batch[0].result.applied) == (2, 2)
    assert isinstance(batch[1].error, DataFormatError) and batch[1].result is None
    assert batch[2].result.unknown_items == ["zzz"]
    assert [e[0] for e in live.store.events_of("x")] == ["i1", "i2"]
    assert [e[0] for e in live.store.events_of("late")] == ["i1"]  # nothing of the failed request stored


def test_concurrent_calls_are_all_applied(model_dir, open_store):
    from concurrent.futures import ThreadPoolExecutor

    live = LiveRecommender.open(model_dir, open_store())
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda k: live.apply([Event(f"c{k % 5}", f"i{k % 6}")]), range(100)))
    assert all((r.accepted, r.applied) == (1, 1) for r in results)
    assert sum(live.state_of(f"c{u}").n_applied for u in range(5)) == 100


def test_hnsw_index_serves_the_same_top_k(model_dir, open_store):
    exact = LiveRecommender.open(model_dir, open_store())
    approx = LiveRecommender.open(model_dir, open_store(), index="hnsw")
    assert approx.index.kind == "hnsw" and approx.index.recall == 1.0  # 6 items: nothing to miss
    approx.apply([Event("h", "i1", 1.7e9), Event("h", "i2", 1.7e9 + 60)])
    got = approx.recommend("h", k=4, exclude_seen=True)
    want = exact.recommend("h", k=4, exclude_seen=True)
    assert [r.item_id for r in got] == [r.item_id for r in want]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-4, atol=1e-5)


def test_seen_items_stay_excluded_event_after_event(model_dir, open_store):
    live = LiveRecommender.open(model_dir, open_store())
    seen: set[str] = set()
    for k, item in enumerate(["i3", "i0", "i3", "no-such-item", "i5"]):
        live.apply([Event("s", item, 1.7e9 + 60 * k)])
        seen |= {item} - {"no-such-item"}
        got = {r.item_id for r in live.recommend("s", k=6, exclude_seen=True)}
        assert got == {f"i{j}" for j in range(6)} - seen
    fresh = LiveRecommender.open(model_dir, live.store)  # no cache: read from the log
    assert {r.item_id for r in fresh.recommend("s", k=6, exclude_seen=True)} == {"i1", "i2", "i4"}


def test_a_batch_applies_its_events_before_its_recommendations(model_dir, open_store, tmp_path):
    """One run_batch: every event list in arrival order, then every recommendation request from the
    states the events reached (asked before or after them); each job gets its own result or error."""
    from rnnrec.serving.live import RecommendRequest, UnknownUser

    live = LiveRecommender.open(model_dir, open_store())
    single = LiveRecommender.open(model_dir, SqliteStateStore(tmp_path / "single.db"))  # one call at a time
    jobs = [RecommendRequest("p", k=3, exclude_seen=False),
            [Event("p", "i1", 1.7e9), Event("q", "i4", 1.7e9)],
            RecommendRequest("q", k=6, exclude_seen=True),
            [Event("p", "i2", 1.7e9 + 60)],
            RecommendRequest("nobody", k=2),  # no state at all: UnknownUser for the HTTP API
            RecommendRequest("nobody", k=2, unknown_user="popular")]
    out = live.run_batch(jobs)
    for events in (jobs[1], jobs[3]):
        single.apply(events)
    assert (out[1].accepted, out[1].applied, out[3].applied) == (2, 2, 1)
    assert_same(out[0], single.recommend("p", k=3))  # after both of p's events
    assert_same(out[2], single.recommend("q", k=6, exclude_seen=True))
    assert len(out[0]) == 3 and "i4" not in [r.item_id for r in out[2]]
    assert isinstance(out[4], UnknownUser) and "'nobody'" in str(out[4])
    assert out[5] == single.recommend("nobody", k=2)  # popularity
    assert live.store.events_of("p") == [("i1", 1.7e9, True), ("i2", 1.7e9 + 60, True)]


def assert_same(got: list, want: list) -> None:
    """Same items in the same order; scores equal up to float rounding (a batched product sums in
    another order)."""
    assert [r.item_id for r in got] == [r.item_id for r in want]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-5, atol=1e-6)


def test_insert_sorted_adds_only_new_ids():
    from rnnrec.serving.live import _insert_sorted

    np.testing.assert_array_equal(_insert_sorted(np.array([1, 4, 9]), [4, 0, 10, 5, 5]), [0, 1, 4, 5, 9, 10])
    np.testing.assert_array_equal(_insert_sorted(np.array([], dtype=np.int64), [3, 1]), [1, 3])
    np.testing.assert_array_equal(_insert_sorted(np.array([2, 3]), []), [2, 3])


def test_a_process_follows_a_model_another_process_reloaded(tmp_path):
    """Two live recommenders on one store (two server processes): when one reloads a new model into
    the folder both serve, the other loads it too before its next write, instead of storing a state
    of the previous model; a model from a folder it does not serve is a ModelChanged error."""
    from tiny_models import train_tiny

    from rnnrec.serving.state_store import ModelChanged

    folder = train_tiny("gru4rec", tmp_path / "a")
    path = tmp_path / "state.db"
    first, second = (LiveRecommender.open(folder, SqliteStateStore(path)) for _ in range(2))
    first.apply([Event("f", "i1", 1.7e9)])
    newer = train_tiny("time_decay", tmp_path / "a")  # the folder now holds another model
    first.reload()
    assert first.key == artifact_key(newer) != second.key
    second.apply([Event("f", "i2", 1.7e9 + 60)])
    assert second.key == first.key
    np.testing.assert_allclose(second.state_of("f").state, first.state_of("f").state)
    reference = LiveRecommender.open(newer, SqliteStateStore(tmp_path / "reference.db"))
    reference.apply([Event("f", "i1", 1.7e9), Event("f", "i2", 1.7e9 + 60)])
    np.testing.assert_allclose(second.state_of("f").state, reference.state_of("f").state, rtol=1e-5, atol=1e-6)

    elsewhere = train_tiny("time_gated", tmp_path / "b")
    first.reload(elsewhere)
    with pytest.raises(ModelChanged, match="another model"):
        second.apply([Event("f", "i3", 1.7e9 + 120)])
    assert [e[0] for e in second.store.events_of("f")] == ["i1", "i2"]  # nothing stored


def test_a_reload_builds_the_new_index_before_taking_the_model(tmp_path, monkeypatch):
    """While a reload builds the new model's item index (minutes for a large HNSW graph), requests
    are still served by the previous model; the swap itself is quick."""
    import threading

    from tiny_models import train_tiny

    import rnnrec.serving.live as live_module

    folder = train_tiny("gru4rec", tmp_path / "a")
    live = LiveRecommender.open(folder, SqliteStateStore(tmp_path / "state.db"))
    live.apply([Event("w", "i1", 1.7e9)])
    before = live.recommend("w", k=3)
    building, release = threading.Event(), threading.Event()
    real_build = live_module.build_index

    def slow_build(*args, **kwargs):
        building.set()
        assert release.wait(30)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(live_module, "build_index", slow_build)
    newer = train_tiny("time_decay", tmp_path / "b")
    reloading = threading.Thread(target=live.reload, args=(newer,))
    reloading.start()
    assert building.wait(30)
    assert live.run_batch([live_module.RecommendRequest("w", k=3, exclude_seen=False)], wait=False) == [before]
    release.set()
    reloading.join(30)
    assert live.key == artifact_key(newer) and live.recommend("w", k=3) != before
