"""Session data helpers (rnnrec.data.sessions) on tiny hand-made logs."""

import numpy as np
import polars as pl
import pytest

from rnnrec.data import sessions as S  # not ``from ... import test_sessions``: pytest would collect it
from rnnrec.data.sequences import Sequences
from rnnrec.errors import DataFormatError

DAY = 86400.0


def frame(rows, with_time=True):
    schema = ["user_id", "item_id", "timestamp"] if with_time else ["user_id", "item_id"]
    return pl.DataFrame(rows, schema=schema, orient="row")


# --- session_parallel_schedule ---------------------------------------------------------------


def test_schedule_exact_arrays():
    # Five sessions of lengths [3, 2, 4, 2, 3]; session k holds items 10k+10, 10k+11, ... so each
    # event tells which session it belongs to. A session of length L occupies a slot for L-1 steps.
    seqs = Sequences.from_lists([[10, 11, 12], [20, 21], [30, 31, 32, 33], [40, 41], [50, 51, 52]])
    sched = S.session_parallel_schedule(seqs, batch_size=2)
    # Slot assignment (a freed slot takes the next session; idle slots at the end are -1):
    #   step 0: s0 -> slot 0 (steps 0-1), s1 -> slot 1 (step 0)
    #   step 1: slot 1 is free -> s2 (steps 1-3)
    #   step 2: slot 0 is free -> s3 (step 2)
    #   step 3: slot 0 is free -> s4 (steps 3-4)
    #   step 4: slot 1 has nothing left to take -> idle
    #                          slot 0    slot 1
    expected_inputs = [[10, 20],
                       [11, 30],
                       [40, 31],
                       [50, 32],
                       [51, -1]]
    expected_targets = [[11, 21],
                        [12, 31],
                        [41, 32],
                        [51, 33],
                        [52, -1]]
    expected_resets = [[True, True],
                       [False, True],
                       [True, False],
                       [True, False],
                       [False, False]]
    assert sched.inputs.tolist() == expected_inputs
    assert sched.targets.tolist() == expected_targets
    assert sched.resets.tolist() == expected_resets
    assert sched.n_steps == 5
    assert sched.inputs.dtype == np.int64 and sched.targets.dtype == np.int64 and sched.resets.dtype == bool


def test_schedule_refills_slots_freed_together_in_slot_order():
    # Lengths [3, 2, 2, 2]: s0 -> slot 0 (steps 0-1), s1 -> slot 1 (step 0), s2 -> slot 1 (step 1).
    # At step 2 both slots are free; s3 goes to slot 0 (slot order), although slot 1 was refilled
    # more recently; slot 1 then stays idle.
    seqs = Sequences.from_lists([[10, 11, 12], [20, 21], [30, 31], [40, 41]])
    sched = S.session_parallel_schedule(seqs, batch_size=2)
    assert sched.inputs.tolist() == [[10, 20], [11, 30], [40, -1]]
    assert sched.targets.tolist() == [[11, 21], [12, 31], [41, -1]]
    assert sched.resets.tolist() == [[True, True], [False, True], [True, False]]


def test_schedule_batch_larger_than_number_of_sessions():
    seqs = Sequences.from_lists([[1, 2], [3, 4, 5]])
    sched = S.session_parallel_schedule(seqs, batch_size=5)
    # Only as many slots as sessions; the short one leaves its slot idle at step 1.
    assert sched.inputs.tolist() == [[1, 3], [-1, 4]]
    assert sched.targets.tolist() == [[2, 4], [-1, 5]]
    assert sched.resets.tolist() == [[True, True], [False, False]]


def test_schedule_single_slot_is_sequential():
    seqs = Sequences.from_lists([[1, 2, 3], [4, 5]])
    sched = S.session_parallel_schedule(seqs, batch_size=1)
    assert sched.inputs[:, 0].tolist() == [1, 2, 4]
    assert sched.targets[:, 0].tolist() == [2, 3, 5]
    assert sched.resets[:, 0].tolist() == [True, False, True]


def test_schedule_rejects_one_event_sessions():
    with pytest.raises(DataFormatError, match="at least 2"):
        S.session_parallel_schedule(Sequences.from_lists([[1, 2], [3], [4, 5]]), batch_size=2)


def test_schedule_rejects_bad_batch_size():
    with pytest.raises(ValueError):
        S.session_parallel_schedule(Sequences.from_lists([[1, 2]]), batch_size=0)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 50])
def test_schedule_covers_every_transition_once(batch_size):
    rng = np.random.default_rng(batch_size)
    lengths = rng.integers(2, 7, size=23)
    seqs = Sequences.from_lists([list(range(100 * i + 1, 100 * i + 1 + n)) for i, n in enumerate(lengths)])
    sched = S.session_parallel_schedule(seqs, batch_size)
    assert sched.n_targets == int((lengths - 1).sum())
    active = sched.targets >= 0
    assert ((sched.inputs >= 0) == active).all()
    got = sorted(zip(sched.inputs[active].tolist(), sched.targets[active].tolist()))
    want = sorted((a, a + 1) for i, n in enumerate(lengths) for a in range(100 * i + 1, 100 * i + n))
    assert got == want
    assert int(sched.resets.sum()) == len(lengths)
    # Idle slots only at the end: once idle, a slot stays idle.
    for b in range(sched.inputs.shape[1]):
        col = active[:, b]
        first_idle = np.flatnonzero(~col)
        if len(first_idle):
            assert not col[first_idle[0]:].any()


# --- order_by_start --------------------------------------------------------------------------


def test_order_by_start_sorts_by_first_event_stable_on_ties():
    seqs = Sequences.from_lists(
        [[1, 2], [3, 4], [5, 6], [7, 8]],
        times=[[50.0, 51.0], [10.0, 90.0], [50.0, 52.0], [5.0, 100.0]],
    )
    # first events: 50, 10, 50, 5 -> 3 (5), 1 (10), then 0 and 2 tied at 50 in input order
    assert S.order_by_start(seqs).tolist() == [3, 1, 0, 2]


def test_order_by_start_without_times_is_identity():
    seqs = Sequences.from_lists([[9, 8], [7, 6, 5], [4, 3]])
    order = S.order_by_start(seqs)
    assert order.tolist() == [0, 1, 2] and order.dtype == np.int64


# --- split_sessions --------------------------------------------------------------------------


def test_split_sessions_cuts_at_gaps_and_keeps_row_order():
    # User u: times 100, 110, 4110, 4115 -> gaps 10 s, 4000 s, 5 s; gap 1800 cuts once.
    # User v is interleaved and its rows are out of time order in the file.
    df = frame(
        [
            ("u", "a", 100.0),
            ("v", "x", 5000.0),
            ("u", "b", 110.0),
            ("v", "y", 1000.0),  # v's first event; 4000 s before x -> x is a second session
            ("u", "c", 4110.0),
            ("u", "d", 4115.0),
            ("v", "z", 6800.0),  # 1800 s after x: exactly the gap, not more -> same session
        ]
    )
    out = S.split_sessions(df, 1800)
    assert out.columns == df.columns
    assert out["item_id"].to_list() == ["a", "x", "b", "y", "c", "d", "z"]  # original row order
    assert out["timestamp"].to_list() == df["timestamp"].to_list()
    assert out["user_id"].to_list() == ["u#0", "v#1", "u#0", "v#0", "u#1", "u#1", "v#1"]


def test_split_sessions_one_event_per_session_when_all_gaps_exceed():
    df = frame([("u", "a", 0.0), ("u", "b", 100.0), ("u", "c", 200.0)])
    assert S.split_sessions(df, 50)["user_id"].to_list() == ["u#0", "u#1", "u#2"]


def test_split_sessions_equal_times_keep_file_order():
    df = frame([("u", "b", 10.0), ("u", "a", 10.0), ("u", "c", 9000.0)])
    out = S.split_sessions(df, 60)
    assert out["user_id"].to_list() == ["u#0", "u#0", "u#1"]


def test_split_sessions_needs_timestamps():
    with pytest.raises(DataFormatError, match="timestamp"):
        S.split_sessions(frame([("u", "a"), ("u", "b")], with_time=False), 1800)


@pytest.mark.parametrize("gap", [0, -5.0])
def test_split_sessions_rejects_non_positive_gap(gap):
    with pytest.raises(DataFormatError, match="gap"):
        S.split_sessions(frame([("u", "a", 1.0)]), gap)


# --- test_sessions (PROTOCOL §2.2) -------------------------------------------------------------


def test_test_sessions_drops_unknown_items_then_short_sessions():
    seqs = Sequences.from_lists(
        [[1, 9, 2], [9, 3], [2, 9, 9, 3], [5], [8, 1, 2]],
        times=[[1.0, 2.0, 3.0], [4.0, 5.0], [6.0, 7.0, 8.0, 9.0], [10.0], [11.0, 12.0, 13.0]],
    )
    known = np.array([1, 2, 3, 5])
    out = S.test_sessions(seqs, known)
    # after dropping 9 and 8: [1, 2], [3], [2, 3], [5], [1, 2] -> the one-event sessions go
    assert [out[i].tolist() for i in range(len(out))] == [[1, 2], [2, 3], [1, 2]]
    assert out.times.tolist() == [1.0, 3.0, 6.0, 9.0, 12.0, 13.0]


def test_test_sessions_can_leave_nothing():
    out = S.test_sessions(Sequences.from_lists([[7, 8], [1]]), np.array([1]))
    assert len(out) == 0 and out.n_events == 0


# --- split_frame_last_days -------------------------------------------------------------------


def test_split_frame_last_days_moves_straddling_session_to_test():
    end = 20 * DAY
    df = frame(
        [
            ("s1", "a", end - 5 * DAY),
            ("s2", "b", end - 1.2 * DAY),  # s2 starts before the cutoff ...
            ("s1", "b", end - 4 * DAY),
            ("s2", "c", end - 0.7 * DAY),  # ... and ends after it: all of s2 is test
            ("s3", "a", end - 0.1 * DAY),
            ("s3", "c", end),
            ("s4", "c", end - 1.0 * DAY),  # ends exactly at the cutoff -> train
        ]
    )
    train, test = S.split_frame_last_days(df, 1.0)
    assert train.columns == df.columns and test.columns == df.columns
    assert list(zip(train["user_id"], train["item_id"])) == [("s1", "a"), ("s1", "b"), ("s4", "c")]
    assert list(zip(test["user_id"], test["item_id"])) == [("s2", "b"), ("s2", "c"), ("s3", "a"), ("s3", "c")]


def test_split_frame_last_days_errors():
    with pytest.raises(DataFormatError, match="timestamps"):
        S.split_frame_last_days(frame([("s", "a")], with_time=False), 1.0)
    # everything within the last day -> empty train
    with pytest.raises(DataFormatError, match="empty"):
        S.split_frame_last_days(frame([("s1", "a", 0.0), ("s2", "b", 100.0)]), 1.0)


def test_session_targets_every_next_event_with_its_prefix():
    seqs = Sequences.from_lists([[5, 6, 7], [8, 9]], [[1.0, 2.0, 3.0], [10.0, 11.0]])
    t = S.session_targets(seqs)
    assert t.targets.tolist() == [6, 7, 9]
    assert t.users.tolist() == [0, 0, 1]
    assert [t.histories[i].tolist() for i in range(3)] == [[5], [5, 6], [8]]
    assert t.target_times.tolist() == [2.0, 3.0, 11.0]


def test_long_sequences_cut_into_overlapping_pieces():
    seqs = Sequences.from_lists([[1, 2, 3, 4, 5, 6, 7], [8], [9, 10], [11, 12, 13, 14]],
                                [[0, 1, 2, 3, 4, 5, 6], [7], [8, 9], [10, 11, 12, 13]])
    cut = S.cut_long_sequences(seqs, 3)  # at most 3 transitions = 4 events per piece
    assert [cut[i].tolist() for i in range(len(cut))] == [[1, 2, 3, 4], [4, 5, 6, 7], [9, 10], [11, 12, 13, 14]]
    assert cut.times.tolist() == [0, 1, 2, 3, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]
    # every transition of the input is in exactly one piece; the 1-event sequence had none
    assert sum(len(cut[i]) - 1 for i in range(len(cut))) == 6 + 1 + 3
    single = S.cut_long_sequences(seqs, 1)
    assert [single[i].tolist() for i in range(3)] == [[1, 2], [2, 3], [3, 4]] and len(single) == 6 + 1 + 3


def test_short_sessions_last_by_hand():
    """Batch 1: the last 3 places go to the last three sessions of the order no longer than the
    median length (4), everything else keeps its relative order."""
    short_sessions_last = S.short_sessions_last
    order = np.array([4, 0, 3, 1, 5, 2, 6])
    lengths = np.array([2, 9, 3, 8, 2, 7, 4])  # short: 0, 2, 4, 6 -> in order 4, 0, 2, 6
    assert short_sessions_last(order, lengths, 1).tolist() == [4, 3, 1, 5, 0, 2, 6]
    assert sorted(short_sessions_last(order, lengths, 5).tolist()) == list(range(7))  # 15 places: all shorts moved
    assert short_sessions_last(order, lengths, 5).tolist() == [3, 1, 5, 4, 0, 2, 6]
    assert short_sessions_last(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2).tolist() == []


def test_short_sessions_last_shortens_the_ramp_down():
    """Generated lengths with a long tail: in random orders the ramp-down (steps with idle slots)
    is long; with short sessions last it is shorter, and every event is still scheduled once."""
    rng = np.random.default_rng(0)
    lengths = np.minimum(rng.geometric(1 / 40, size=600) + 1, 200)
    sessions = Sequences(items=np.arange(1, lengths.sum() + 1), offsets=np.concatenate([[0], np.cumsum(lengths)]))
    idle_random, idle_short = [], []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(lengths))
        plain = S.session_parallel_schedule(sessions.subset(order), 16)
        packed = S.session_parallel_schedule(sessions.subset(S.short_sessions_last(order, lengths, 16)), 16)
        assert packed.n_targets == plain.n_targets == (lengths - 1).sum()
        idle_random.append(((plain.targets < 0).any(axis=1)).sum())
        idle_short.append(((packed.targets < 0).any(axis=1)).sum())
    assert np.mean(idle_short) < 0.6 * np.mean(idle_random), (idle_short, idle_random)
