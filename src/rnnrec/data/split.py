"""Leakage-free splits. Training sees only training events; each target sees only its own past.

``loo`` is exactly ``PROTOCOL.md`` §1: per user, last event = test target, second-to-last =
validation target, the rest = training. ``time`` is a global time split: events before one cut
train the model, later events are targets whose history is every earlier event of the user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.sequences import Sequences
from rnnrec.errors import DataFormatError


@dataclass
class EvalSet:
    """Next-item targets and, for each, the events the model may read before predicting it."""

    histories: Sequences  # one history per target
    targets: np.ndarray  # (S,) internal item IDs
    users: np.ndarray  # (S,) internal user IDs
    target_times: np.ndarray | None = None  # (S,) when the target happened

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows: np.ndarray) -> "EvalSet":
        """Targets ``rows`` (in that order) with their histories."""
        rows = np.asarray(rows, dtype=np.int64)
        times = None if self.target_times is None else self.target_times[rows]
        return EvalSet(self.histories.subset(rows), self.targets[rows], self.users[rows], times)


@dataclass
class Split:
    protocol: str
    train: Sequences  # training events, one sequence per user (indexed by internal user ID)
    valid: EvalSet
    test: EvalSet


def targets_at(seqs: Sequences, rows: np.ndarray, target_pos: np.ndarray) -> EvalSet:
    """Targets at absolute event index ``offsets[row] + target_pos``; history = everything before."""
    flat = seqs.offsets[rows] + target_pos
    times = None if seqs.times is None else seqs.times[flat]
    return EvalSet(seqs.prefixes(rows, target_pos), seqs.items[flat], rows.astype(np.int64), times)


def leave_one_out(dataset: SequenceDataset, min_length: int = 3) -> Split:
    """PROTOCOL §1. Users with fewer than ``min_length`` (3) events are left out of all three parts."""
    seqs = dataset.sequences
    lengths = seqs.lengths
    keep = lengths >= min_length
    if not keep.any():
        raise DataFormatError(f"no user has at least {min_length} events: nothing to split")
    rows = np.flatnonzero(keep)
    train_len = np.where(keep, lengths - 2, 0)
    train = seqs.prefixes(np.arange(len(seqs)), train_len)
    valid = targets_at(seqs, rows, lengths[rows] - 2)
    test = targets_at(seqs, rows, lengths[rows] - 1)
    return Split("loo", train, valid, test)


def time_split(
    dataset: SequenceDataset,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    test_cut: float | None = None,
    valid_cut: float | None = None,
) -> Split:
    """Global time split. Events with time < ``valid_cut`` train; [valid_cut, test_cut) are
    validation targets; >= ``test_cut`` are test targets. Cuts default to event-time quantiles.

    Every target's history is all earlier events of its user (a model trained on the training
    part reads later events as input only, never as a training target).
    """
    seqs = dataset.sequences
    if seqs.times is None:
        raise DataFormatError("time split needs timestamps; this dataset has none (use the 'loo' split)")
    t = seqs.times
    if test_cut is None:
        test_cut = float(np.quantile(t, 1.0 - test_fraction))
    if valid_cut is None:
        valid_cut = float(np.quantile(t, 1.0 - test_fraction - valid_fraction))
    if valid_cut > test_cut:
        raise ValueError(f"valid_cut {valid_cut} is after test_cut {test_cut}")
    train = seqs.take_events(t < valid_cut)
    row = seqs.row_ids()
    pos = seqs.positions()

    def targets(mask: np.ndarray) -> EvalSet:
        mask = mask & (pos >= 1)  # a target needs at least one earlier event
        return targets_at(seqs, row[mask], pos[mask])

    valid = targets((t >= valid_cut) & (t < test_cut))
    test = targets(t >= test_cut)
    if len(test) == 0:
        raise DataFormatError("time split: no test targets after the cut (need events after it)")
    return Split("time", train, valid, test)


@dataclass
class ColdItemSplit:
    """A split in which some items have no interaction before their targets: new items."""

    split: Split  # cold items' events removed from training and from every history
    cold_items: np.ndarray  # (C,) internal item IDs
    cold_test: EvalSet  # the test targets that are cold items


def cold_item_split(split: Split, n_items: int, fraction: float = 0.1, seed: int = 0) -> ColdItemSplit:
    """Make ``fraction`` of the catalogue (chosen uniformly at random with ``seed``) cold: every
    interaction with them is removed from training and from the histories models read, while they
    stay targets. Targets left with an empty history are dropped (nothing to predict from)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    n_cold = max(1, int(round(fraction * n_items)))
    cold = np.sort(rng.choice(np.arange(1, n_items + 1), size=n_cold, replace=False))

    def warm_only(seqs: Sequences) -> Sequences:
        return seqs.take_events(~np.isin(seqs.items, cold))

    def warm_histories(eval_set: EvalSet) -> EvalSet:
        pruned = EvalSet(warm_only(eval_set.histories), eval_set.targets, eval_set.users, eval_set.target_times)
        return pruned.subset(np.flatnonzero(pruned.histories.lengths > 0))

    cold_split = Split(split.protocol, warm_only(split.train), warm_histories(split.valid), warm_histories(split.test))
    is_cold = np.isin(cold_split.test.targets, cold)
    return ColdItemSplit(cold_split, cold, cold_split.test.subset(np.flatnonzero(is_cold)))
