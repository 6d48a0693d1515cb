"""Time features of events, computed once from timestamps (Unix seconds, UTC).

Every event gets four numbers, stored as one (N, 4) float32 row so batches gather them with the
items in a single indexing step:

    GAP      seconds since the previous event of the same sequence (0 when there is none)
    BUCKET   the gap on a log scale: 0 = no previous event (or unknown), 1 = same timestamp,
             then two buckets per doubling of the gap in seconds, capped at ``N_GAP_BUCKETS - 1``
             (the last bucket starts at about 68 years)
    HOUR     hour of day, 0-23 (UTC: logs carry no time zone), ``N_HOURS`` when unknown
    WEEKDAY  day of week, Monday = 0, ``N_WEEKDAYS`` when unknown

A *query* is the moment a prediction is made: the features of a target event are exactly the
features of the query "what comes next, at this event's time" (the gap from the last event read
to the prediction time, and the prediction time's calendar). The same function computes both.

Policy for awkward timestamps: equal timestamps are a zero gap (bucket 1), never an error.
Events are sorted by time when a dataset is built, so gaps inside a dataset are never negative;
a query time before the last event read, or a timestamp that is NaN or infinite, is a
:class:`DataFormatError` naming the position. Data without timestamps cannot feed a time-aware
model (the recommender says so); explicit histories given without times get "unknown" features.
"""

from __future__ import annotations

import numpy as np

from rnnrec.data.sequences import Sequences
from rnnrec.errors import DataFormatError

GAP, BUCKET, HOUR, WEEKDAY = 0, 1, 2, 3
N_FEATURES = 4
N_GAP_BUCKETS = 64
BUCKETS_PER_DOUBLING = 2
N_HOURS = 24
N_WEEKDAYS = 7
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday


def gap_buckets(gaps: np.ndarray) -> np.ndarray:
    """Log-scale bucket of each gap in seconds; NaN (no previous event) → 0, 0 s → 1."""
    gaps = np.asarray(gaps, dtype=np.float64)
    known = ~np.isnan(gaps)
    scaled = np.floor(BUCKETS_PER_DOUBLING * np.log2(1.0 + np.where(known, gaps, 0.0)))
    return np.where(known, np.minimum(1 + scaled, N_GAP_BUCKETS - 1), 0).astype(np.int64)


def time_features(previous: np.ndarray, times: np.ndarray, where: str = "timestamps") -> np.ndarray:
    """(N, 4) features of moments ``times`` that follow moments ``previous`` (NaN = nothing before).

    A ``times`` entry that is NaN means "unknown": its calendar features and gap are unknown too.
    """
    previous = np.asarray(previous, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if np.isinf(times).any() or np.isinf(previous).any():
        bad = int(np.flatnonzero(np.isinf(times) | np.isinf(previous))[0])
        raise DataFormatError(f"{where}: position {bad} has an infinite timestamp")
    gaps = times - previous  # NaN where either is unknown
    if (gaps < 0).any():
        bad = int(np.flatnonzero(gaps < 0)[0])
        raise DataFormatError(
            f"{where}: position {bad} is at time {times[bad]}, before the previous event at {previous[bad]} "
            "(events must be in time order, and a prediction time cannot precede the history it follows)"
        )
    known = ~np.isnan(times)
    safe = np.where(known, times, 0.0)
    days = np.floor(safe / 86400.0)
    out = np.empty((len(times), N_FEATURES), dtype=np.float32)
    out[:, GAP] = np.where(np.isnan(gaps), 0.0, gaps)
    out[:, BUCKET] = gap_buckets(gaps)
    out[:, HOUR] = np.where(known, np.floor((safe - days * 86400.0) / 3600.0), N_HOURS)
    out[:, WEEKDAY] = np.where(known, (days + _EPOCH_WEEKDAY) % 7, N_WEEKDAYS)
    return out


def previous_times(seqs: Sequences) -> np.ndarray:
    """(N,) the time of each event's predecessor in its sequence (NaN for a sequence's first event)."""
    if seqs.times is None:
        raise DataFormatError("time features need timestamps; this data has none")
    prev = np.empty(seqs.n_events, dtype=np.float64)
    prev[1:] = seqs.times[:-1]
    firsts = seqs.offsets[:-1][seqs.lengths > 0]
    prev[firsts] = np.nan
    return prev


def event_time_features(seqs: Sequences, where: str = "timestamps") -> np.ndarray:
    """(N, 4) features of every event of ``seqs`` (gap to its predecessor in the same sequence).

    NaN times (histories given without timestamps) give "unknown" features, not an error."""
    prev = previous_times(seqs)
    assert seqs.times is not None
    return time_features(prev, seqs.times, where)


def query_time_features(histories: Sequences, at: np.ndarray, where: str = "prediction time") -> np.ndarray:
    """(S, 4) features of predicting after each history at times ``at`` (gap from its last event).

    An empty history has no last event (bucket 0); NaN in ``at`` means "at the last event's time".
    """
    if histories.times is None:
        raise DataFormatError(f"{where}: the histories have no timestamps")
    lengths = histories.lengths
    last = np.full(len(histories), np.nan)
    has = lengths > 0
    last[has] = histories.times[histories.offsets[1:][has] - 1]
    at = np.asarray(at, dtype=np.float64)
    at = np.where(np.isnan(at), last, at)
    return time_features(last, at, where)
