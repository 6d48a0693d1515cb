"""Anonymous sessions: cutting user logs into sessions, the session-parallel schedule, test sessions.

The session-parallel mini-batch (GRU4Rec) puts B sessions side by side; one training step feeds
one event per slot and asks for the slot's next event. When a session ends, the next session
(in order of start time) takes its slot and that slot's hidden state restarts from zero. The
whole schedule is computed once, as arrays, so the training loop only indexes them.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import polars as pl

from rnnrec.data.columns import Columns
from rnnrec.data.sequences import Sequences
from rnnrec.data.split import EvalSet, targets_at
from rnnrec.errors import DataFormatError


def split_sessions(frame: pl.DataFrame, gap_seconds: float) -> pl.DataFrame:
    """Cut each user's history into sessions wherever two events are more than ``gap_seconds`` apart.

    The session ID becomes ``<user>#<n>`` (n = 0, 1, ... in time order) in the user column, so
    everything downstream treats sessions as short anonymous sequences. Needs timestamps.
    """
    if gap_seconds <= 0:
        raise DataFormatError(f"session gap must be > 0 seconds, got {gap_seconds}")
    if Columns.TIME not in frame.columns:
        raise DataFormatError("cutting sessions by an inactivity gap needs a timestamp column; this log has none")
    df = frame.with_row_index("_row").sort([Columns.USER, Columns.TIME, "_row"])
    gap = pl.col(Columns.TIME).diff().over(Columns.USER)
    new_session = gap.is_null() | (gap > gap_seconds)
    df = df.with_columns(new_session.cast(pl.Int64).cum_sum().over(Columns.USER).alias("_n"))
    df = df.with_columns(
        (pl.col(Columns.USER).cast(pl.Utf8) + "#" + (pl.col("_n") - 1).cast(pl.Utf8)).alias(Columns.USER)
    )
    return df.sort("_row").drop("_row", "_n")


def cut_long_sequences(sequences: Sequences, max_transitions: int) -> Sequences:
    """Each sequence of more than ``max_transitions`` + 1 events cut into consecutive pieces of at
    most ``max_transitions`` next-item transitions; a piece starts with the previous piece's last
    event, so no transition is lost. Sequences of fewer than 2 events are dropped.

    One very long history would otherwise set the length of a whole session-parallel epoch: the
    session runs one event per step while the other slots run empty.
    """
    if max_transitions < 1:
        raise ValueError(f"max_transitions must be >= 1, got {max_transitions}")
    rows = np.flatnonzero(sequences.lengths >= 2)
    lengths = sequences.lengths[rows]
    n_pieces = (lengths - 2) // max_transitions + 1  # ceil((length - 1) / max_transitions)
    row = np.repeat(rows, n_pieces)
    first = np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
    piece = np.arange(len(row)) - first  # 0, 1, ... within each sequence
    start = piece * max_transitions
    size = np.minimum(start + max_transitions + 1, sequences.lengths[row]) - start
    offsets = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
    index = np.repeat(sequences.offsets[row] + start - offsets[:-1], size) + np.arange(offsets[-1])
    times = None if sequences.times is None else sequences.times[index]
    return Sequences(offsets, sequences.items[index], times)


def order_by_start(sequences: Sequences) -> np.ndarray:
    """Session indices sorted by the time of their first event (stable; file order without times)."""
    if sequences.times is None:
        return np.arange(len(sequences), dtype=np.int64)
    starts = sequences.times[np.minimum(sequences.offsets[:-1], max(sequences.n_events - 1, 0))]
    return np.argsort(starts, kind="stable").astype(np.int64)


def short_sessions_last(order: np.ndarray, lengths: np.ndarray, batch_size: int) -> np.ndarray:
    """``order`` with its last ``3 * batch_size`` places taken by sessions no longer than the median,
    the last such sessions of ``order``; every other session keeps its place relative to the rest.

    Why: a session-parallel epoch ends when its last session ends. With the sessions in random
    order, a long one often starts near the end and runs alone, or nearly, for up to its length
    in steps, each as costly as a full step (the shared negatives and the item rows they touch
    don't shrink with the batch). Short sessions at the end shorten that ramp-down (ml-100k: 193 of
    1,345 steps with idle slots, 55 after); which sessions start last is the only change.
    """
    n_last = min(3 * batch_size, len(order))
    short = order[lengths[order] <= np.median(lengths)] if len(order) else order
    last = short[len(short) - min(n_last, len(short)):]
    moved = np.zeros(len(lengths), dtype=bool)
    moved[last] = True
    return np.concatenate([order[~moved[order]], last])


@dataclass
class SessionSchedule:
    """Step-by-slot arrays of a session-parallel epoch.

    ``inputs[t, b]`` is the item slot ``b`` reads at step ``t`` and ``targets[t, b]`` the item it
    must predict (both -1 where the slot is idle, which happens only in the last steps, when no
    session is left to fill it). ``resets[t, b]`` is True where a new session starts in the slot.
    """

    inputs: np.ndarray  # (T, B) int64
    targets: np.ndarray  # (T, B) int64
    resets: np.ndarray  # (T, B) bool

    @property
    def n_steps(self) -> int:
        return self.inputs.shape[0]

    @property
    def n_targets(self) -> int:
        return int((self.targets >= 0).sum())


def session_parallel_schedule(sequences: Sequences, batch_size: int) -> SessionSchedule:
    """Lay out ``sequences`` (already in training order, each of length >= 2) into B parallel slots.

    A session of length L occupies its slot for L-1 steps. A freed slot takes the next session;
    slots freed at the same step are refilled in slot order. Nothing is dropped: when sessions
    run out, the remaining slots finish their sessions while the idle ones are marked -1.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    lengths = sequences.lengths
    if len(lengths) and lengths.min() < 2:
        raise DataFormatError("session-parallel training needs sessions of at least 2 events")
    n = len(lengths)
    steps = lengths - 1
    slot = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    # One pass over sessions (not events): a heap of (step the slot frees up, slot).
    free = [(0, b) for b in range(min(batch_size, n))]
    heapq.heapify(free)
    for i in range(n):
        t, b = heapq.heappop(free)
        slot[i], start[i] = b, t
        heapq.heappush(free, (t + int(steps[i]), b))
    n_steps = int((start + steps).max()) if n else 0
    width = min(batch_size, n) if n else batch_size
    inputs = np.full((n_steps, width), -1, dtype=np.int64)
    targets = np.full((n_steps, width), -1, dtype=np.int64)
    resets = np.zeros((n_steps, width), dtype=bool)
    # Every event but the last of its session is an input; its successor is the target.
    total = int(steps.sum())
    session_of = np.repeat(np.arange(n, dtype=np.int64), steps)
    j = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(steps) - steps, steps)
    src = sequences.offsets[:-1][session_of] + j
    rows, cols = start[session_of] + j, slot[session_of]
    inputs[rows, cols] = sequences.items[src]
    targets[rows, cols] = sequences.items[src + 1]
    resets[start[steps > 0], slot[steps > 0]] = True
    return SessionSchedule(inputs, targets, resets)


def test_sessions(sequences: Sequences, known_items: np.ndarray) -> Sequences:
    """PROTOCOL §2.2: drop events whose item is not a training item, then sessions shorter than 2."""
    kept = sequences.take_events(np.isin(sequences.items, known_items))
    return kept.subset(np.flatnonzero(kept.lengths >= 2))


def session_targets(sessions: Sequences) -> EvalSet:
    """PROTOCOL §2.3 as next-item targets for any sequence model: every event after a session's
    first is a target whose history is the session before it (``users`` = session index)."""
    pos = sessions.positions()
    mask = pos >= 1
    return targets_at(sessions, sessions.row_ids()[mask], pos[mask])


def split_frame_last_days(frame: pl.DataFrame, days: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """PROTOCOL §2.1 on one table: sessions whose last event is in the final ``days`` are test.

    Split before any ID mapping, so the item catalogue can be built from training alone.
    """
    if Columns.TIME not in frame.columns:
        raise DataFormatError("splitting one file by time needs timestamps; pass a separate --test file instead")
    cutoff = frame[Columns.TIME].max() - days * 86400.0
    is_test = pl.col(Columns.TIME).max().over(Columns.USER) > cutoff
    marked = frame.with_columns(is_test.alias("_test"))
    train, test = marked.filter(~pl.col("_test")).drop("_test"), marked.filter(pl.col("_test")).drop("_test")
    if train.height == 0 or test.height == 0:
        raise DataFormatError(f"splitting at the last {days} day(s) leaves an empty train or test set")
    return train, test
