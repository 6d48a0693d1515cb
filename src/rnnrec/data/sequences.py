"""Ragged sequences stored flat: one items array plus offsets (CSR layout), no Python lists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Sequences:
    """``items[offsets[i]:offsets[i+1]]`` is sequence ``i`` (internal item IDs, time order).

    ``times`` (same length as ``items``) is present when the source has timestamps.
    """

    offsets: np.ndarray  # (S+1,) int64
    items: np.ndarray  # (N,) int64
    times: np.ndarray | None = None  # (N,) float64

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self.items = np.asarray(self.items, dtype=np.int64)
        if self.times is not None:
            self.times = np.asarray(self.times, dtype=np.float64)
            assert self.times.shape == self.items.shape
        assert self.offsets[0] == 0 and self.offsets[-1] == len(self.items)

    @classmethod
    def from_lists(cls, seqs: list[list[int]], times: list[list[float]] | None = None) -> "Sequences":
        """Build from Python lists (tests and small inputs only)."""
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        items = np.array([x for s in seqs for x in s], dtype=np.int64)
        t = None if times is None else np.array([x for s in times for x in s], dtype=np.float64)
        return cls(offsets, items, t)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_events(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> np.ndarray:
        return self.items[self.offsets[i] : self.offsets[i + 1]]

    def times_of(self, i: int) -> np.ndarray | None:
        return None if self.times is None else self.times[self.offsets[i] : self.offsets[i + 1]]

    def row_ids(self) -> np.ndarray:
        """(N,) the sequence index of every event."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def positions(self) -> np.ndarray:
        """(N,) the 0-based position of every event inside its sequence."""
        return np.arange(self.n_events, dtype=np.int64) - np.repeat(self.offsets[:-1], self.lengths)

    def take_events(self, mask: np.ndarray) -> "Sequences":
        """Keep the events where ``mask`` is True; sequences keep their order (some may become empty)."""
        mask = np.asarray(mask, dtype=bool)
        kept_per_row = np.bincount(self.row_ids()[mask], minlength=len(self))
        offsets = np.concatenate([[0], np.cumsum(kept_per_row)])
        t = None if self.times is None else self.times[mask]
        return Sequences(offsets, self.items[mask], t)

    def subset(self, rows: np.ndarray) -> "Sequences":
        """Sequences ``rows`` (in that order), vectorised."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.prefixes(rows, self.lengths[rows])

    def prefixes(self, rows: np.ndarray, lengths: np.ndarray) -> "Sequences":
        """For each i, the first ``lengths[i]`` events of sequence ``rows[i]``, vectorised."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        starts = self.offsets[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        idx = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
        t = None if self.times is None else self.times[idx]
        return Sequences(offsets, self.items[idx], t)

    def last_n(self, n: int) -> "Sequences":
        """Each sequence truncated to its last ``n`` events."""
        return self.take_events(self.positions() >= np.repeat(self.lengths - n, self.lengths))

    def padded_index(self, rows: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where the last ``max_len`` events of ``rows`` sit, right-padded: (B, T) flat event
        indices (0 in padding), the (B, T) mask of real positions, and lengths (B,)."""
        rows = np.asarray(rows, dtype=np.int64)
        ends = self.offsets[rows + 1]
        lengths = np.minimum(ends - self.offsets[rows], max_len)
        T = max(int(lengths.max()) if len(rows) else 0, 1)
        cols = np.arange(T, dtype=np.int64)
        valid = cols[None, :] < lengths[:, None]
        idx = np.where(valid, (ends - lengths)[:, None] + cols[None, :], 0)
        return idx, valid, lengths.astype(np.int64)

    def to_padded(self, rows: np.ndarray, max_len: int, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded (B, T) item matrix of the last ``max_len`` events of ``rows``, and lengths (B,)."""
        idx, valid, lengths = self.padded_index(rows, max_len)
        out = np.where(valid, self.items[idx], pad) if len(self.items) else np.full(idx.shape, pad)
        return out.astype(np.int64), lengths
