"""The loo split of PROTOCOL.md §1 and the global time split, on tiny hand-made logs."""

import numpy as np
import polars as pl
import pytest

from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.split import leave_one_out, time_split
from rnnrec.errors import DataFormatError


def frame(rows):
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def test_dataset_sorts_by_time_and_keeps_file_order_on_ties():
    ds = SequenceDataset.from_interactions(
        frame([("u1", "a", 5.0), ("u2", "b", 1.0), ("u1", "b", 1.0), ("u1", "c", 5.0), ("u1", "d", 3.0)])
    )
    assert ds.users.external == ["u1", "u2"]
    assert ds.items.external == ["a", "b", "c", "d"]  # internal 1..4, 0 = padding
    assert ds.items.to_external(ds.sequences[0]) == ["b", "d", "a", "c"]  # a before c: file order
    assert ds.sequences.times_of(0).tolist() == [1.0, 3.0, 5.0, 5.0]


def test_leave_one_out_exact():
    ds = SequenceDataset.from_interactions(
        frame(
            [("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "d", 4),
             ("u2", "c", 1), ("u2", "a", 2),  # only 2 events: dropped by the protocol
             ("u3", "d", 9), ("u3", "b", 8), ("u3", "a", 7)]
        )
    )
    s = leave_one_out(ds)
    a, b, c, d = (ds.items.to_internal(x) for x in "abcd")
    assert [s.train[u].tolist() for u in range(3)] == [[a, b], [], [a]]
    assert s.valid.users.tolist() == [0, 2] and s.test.users.tolist() == [0, 2]
    assert s.valid.targets.tolist() == [c, b]
    assert s.test.targets.tolist() == [d, d]
    assert [s.valid.histories[i].tolist() for i in range(2)] == [[a, b], [a]]
    assert [s.test.histories[i].tolist() for i in range(2)] == [[a, b, c], [a, b]]
    assert s.test.target_times.tolist() == [4.0, 9.0]


def test_leave_one_out_needs_three_events():
    ds = SequenceDataset.from_interactions(frame([("u1", "a", 1), ("u1", "b", 2)]))
    with pytest.raises(DataFormatError, match="at least 3"):
        leave_one_out(ds)


def random_log(seed=0, n_users=40, n_items=30, n_events=800):
    rng = np.random.default_rng(seed)
    return frame(
        list(zip(rng.integers(0, n_users, n_events).astype(str), rng.integers(0, n_items, n_events).astype(str),
                 rng.integers(0, 50, n_events).astype(float)))
    )


def test_no_split_leaks_a_future_event_into_training():
    ds = SequenceDataset.from_interactions(random_log())
    loo = leave_one_out(ds)
    for ev in (loo.valid, loo.test):
        for i, u in enumerate(ev.users):
            train_times = ds.sequences.times_of(u)[: len(loo.train[u])]
            # training events of that user are a strict prefix of the history, all at or before the target
            assert len(loo.train[u]) <= len(ev.histories[i])
            assert (train_times <= ev.target_times[i]).all()
            assert np.array_equal(loo.train[u], ev.histories[i][: len(loo.train[u])])
    ts = time_split(ds, test_fraction=0.2, valid_fraction=0.1)
    assert ts.train.times.max() < ts.valid.target_times.min()
    assert ts.valid.target_times.max() < ts.test.target_times.min()
    for ev in (ts.valid, ts.test):
        hist_times = ev.histories.times
        target_of_event = np.repeat(ev.target_times, ev.histories.lengths)
        assert (hist_times <= target_of_event).all()
    assert ts.train.n_events + len(ts.valid) + len(ts.test) <= ds.sequences.n_events


def test_time_split_exact_cuts():
    ds = SequenceDataset.from_interactions(
        frame([("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u2", "c", 2), ("u2", "a", 4), ("u3", "b", 3)])
    )
    s = time_split(ds, valid_cut=3.0, test_cut=4.0)
    a, b, c = (ds.items.to_internal(x) for x in "abc")
    assert s.train.items.tolist() == [a, b, c]  # events at t < 3 in user order: u1 a,b ; u2 c
    assert s.valid.targets.tolist() == [c]  # u1's c at t=3 (u3's b at t=3 has no earlier event)
    assert s.test.targets.tolist() == [a] and s.test.histories[0].tolist() == [c]
