"""Padded training batches: each user's training sequence cut into windows of at most ``max_len``
inputs, every position of a window predicting the next item (truncated back-propagation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from rnnrec.data.sequences import Sequences


@dataclass
class Windows:
    """Window ``w`` reads items at flat indices ``start[w] .. start[w]+length[w]-1`` and predicts the
    items one step later."""

    start: np.ndarray  # (W,) flat index of the first input event
    length: np.ndarray  # (W,) number of inputs (= number of targets)

    def __len__(self) -> int:
        return len(self.start)

    @property
    def n_targets(self) -> int:
        return int(self.length.sum())


def make_windows(seqs: Sequences, max_len: int) -> Windows:
    """Cut every sequence of L >= 2 events into windows aligned to its end, so the most recent
    ``max_len`` transitions form one window and earlier ones follow backwards. Vectorised."""
    n_trans = np.maximum(seqs.lengths - 1, 0)  # (S,) transitions per sequence
    n_win = -(-n_trans // max_len)  # ceil
    seq_of_win = np.repeat(np.arange(len(seqs)), n_win)
    first_win = np.concatenate([[0], np.cumsum(n_win)])[:-1]
    j = np.arange(len(seq_of_win)) - np.repeat(first_win, n_win)  # window number from the end
    end = n_trans[seq_of_win] - j * max_len  # exclusive end of the input positions
    begin = np.maximum(end - max_len, 0)
    return Windows(seqs.offsets[seq_of_win] + begin, end - begin)


def previous_windows(windows: Windows) -> np.ndarray:
    """(W,) index of the window whose inputs end where each window's begin (the same sequence's
    window just before it in time), -1 for a sequence's first. Inputs of different sequences
    never touch: a sequence's last event is a target only."""
    ends = windows.start + windows.length  # unique: windows never overlap
    order = np.argsort(ends)
    candidate = order[np.minimum(np.searchsorted(ends[order], windows.start), len(order) - 1)]
    return np.where(ends[candidate] == windows.start, candidate, -1)


def window_index(windows: Windows, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, T) flat indices of the input events of windows ``rows`` (0 where padded) and the mask
    of real positions; the target of input ``idx`` is the event at ``idx + 1``."""
    start, length = windows.start[rows], windows.length[rows]
    cols = np.arange(int(length.max()))
    valid = cols[None, :] < length[:, None]  # (B, T)
    return np.where(valid, start[:, None] + cols[None, :], 0), valid


def padded_batch(items: np.ndarray, windows: Windows, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, T) right-padded inputs and (B, T) targets (0 where padded) for windows ``rows``."""
    idx, valid = window_index(windows, rows)
    inputs = np.where(valid, items[idx], 0)
    targets = np.where(valid, items[idx + 1], 0)
    return inputs, targets


def iterate_batches(windows: Windows, batch_size: int, rng: np.random.Generator, bucket: int = 64) -> Iterator[np.ndarray]:
    """Window indices per batch: shuffled, then sorted by length inside groups of ``bucket``
    batches so that batches carry little padding; batch order shuffled again."""
    order = rng.permutation(len(windows))
    group = batch_size * bucket
    batches = []
    for g in range(0, len(order), group):
        chunk = order[g : g + group]
        chunk = chunk[np.argsort(windows.length[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    for b in rng.permutation(len(batches)):
        yield batches[b]
