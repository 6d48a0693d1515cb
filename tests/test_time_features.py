"""Time features against hand-computed values, and the policy for awkward timestamps."""

import numpy as np
import polars as pl
import pytest

from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.sequences import Sequences
from rnnrec.data.time_features import (
    BUCKET, GAP, HOUR, N_GAP_BUCKETS, N_HOURS, N_WEEKDAYS, WEEKDAY,
    event_time_features, gap_buckets, query_time_features,
)
from rnnrec.errors import DataFormatError


def test_gap_buckets_by_hand():
    # NaN: no previous event; 0 s: same timestamp; then 1 + floor(2 * log2(1 + gap)).
    gaps = np.array([np.nan, 0.0, 0.5, 1.0, 3.0, 3600.0, 1e20])
    # 2*log2(1.5) = 1.17 -> 2; 2*log2(2) = 2 -> 3; 2*log2(4) = 4 -> 5; 2*log2(3601) = 23.63 -> 24
    assert gap_buckets(gaps).tolist() == [0, 1, 2, 3, 5, 24, N_GAP_BUCKETS - 1]


def test_event_features_by_hand():
    # 1e9 s = 2001-09-09 01:46:40 UTC, a Sunday; 0 s = 1970-01-01 00:00 UTC, a Thursday.
    seqs = Sequences.from_lists([[1, 2, 3], [4]], [[0.0, 0.0, 3.0], [1e9]])
    f = event_time_features(seqs)
    assert f[:, GAP].tolist() == [0.0, 0.0, 3.0, 0.0]
    assert f[:, BUCKET].tolist() == [0, 1, 5, 0]
    assert f[:, HOUR].tolist() == [0, 0, 0, 1]
    assert f[:, WEEKDAY].tolist() == [3, 3, 3, 6]


def test_query_features_use_the_gap_from_the_last_event():
    hist = Sequences.from_lists([[1, 2], [3], []], [[100.0, 200.0], [50.0], []])
    q = query_time_features(hist, np.array([200.0 + 3600.0, np.nan, 10.0]))
    assert q[:, GAP].tolist() == [3600.0, 0.0, 0.0]
    assert q[:, BUCKET].tolist() == [24, 1, 0]  # an hour; "now" = the last event; nothing before
    assert q[2, HOUR] == 0 and q[2, WEEKDAY] == 3


def test_unknown_times_get_unknown_features():
    seqs = Sequences.from_lists([[1, 2]], [[np.nan, np.nan]])
    f = event_time_features(seqs)
    assert f[:, BUCKET].tolist() == [0, 0]
    assert f[:, HOUR].tolist() == [N_HOURS, N_HOURS] and f[:, WEEKDAY].tolist() == [N_WEEKDAYS, N_WEEKDAYS]


def test_a_prediction_before_the_history_is_an_error():
    hist = Sequences.from_lists([[1, 2]], [[100.0, 200.0]])
    with pytest.raises(DataFormatError, match="position 0 is at time 150.0, before the previous event at 200.0"):
        query_time_features(hist, np.array([150.0]), "at")


def test_out_of_order_and_infinite_times_are_errors():
    with pytest.raises(DataFormatError, match="position 1"):
        event_time_features(Sequences.from_lists([[1, 2]], [[5.0, 4.0]]))
    with pytest.raises(DataFormatError, match="infinite"):
        event_time_features(Sequences.from_lists([[1, 2]], [[5.0, np.inf]]))


def test_dataset_sorts_by_time_and_rejects_non_finite_timestamps():
    frame = pl.DataFrame({"user_id": ["u", "u", "u"], "item_id": ["a", "b", "c"], "timestamp": [30.0, 10.0, 10.0]})
    ds = SequenceDataset.from_interactions(frame)
    assert ds.sequences.times.tolist() == [10.0, 10.0, 30.0]  # equal times keep file order: b, c
    assert event_time_features(ds.sequences)[:, GAP].tolist() == [0.0, 0.0, 20.0]
    bad = frame.with_columns(pl.Series("timestamp", [30.0, float("nan"), 10.0]))
    with pytest.raises(DataFormatError, match="row 1: timestamp nan is missing or not finite"):
        SequenceDataset.from_interactions(bad)
