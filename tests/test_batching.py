"""Training windows and padded batches, checked tensor by tensor."""

import numpy as np

from rnnrec.data.batching import iterate_batches, make_windows, padded_batch, previous_windows
from rnnrec.data.sequences import Sequences


def test_windows_align_to_the_end_and_cover_every_transition():
    seqs = Sequences.from_lists([[1, 2, 3, 4, 5, 6], [7], [8, 9]])
    w = make_windows(seqs, max_len=2)
    # seq 0 has 5 transitions: windows of inputs [3,4] [1,2] [0] (flat indices), seq 1 none, seq 2 one
    assert w.start.tolist() == [3, 1, 0, 7]
    assert w.length.tolist() == [2, 2, 1, 1]
    assert w.n_targets == 6
    inputs, targets = padded_batch(seqs.items, w, np.array([0, 2, 3]))
    assert inputs.tolist() == [[4, 5], [1, 0], [8, 0]]
    assert targets.tolist() == [[5, 6], [2, 0], [9, 0]]


def test_each_window_knows_the_one_it_continues():
    seqs = Sequences.from_lists([[1, 2, 3, 4, 5, 6], [7], [8, 9, 10]])
    w = make_windows(seqs, max_len=2)
    # seq 0: inputs at [3,4] [1,2] [0], latest first; seq 2: [7,8]
    assert w.start.tolist() == [3, 1, 0, 7]
    assert previous_windows(w).tolist() == [1, 2, -1, -1]


def test_batches_cover_each_window_once():
    seqs = Sequences.from_lists([[1, 2, 3]] * 7 + [[1, 2]] * 5)
    w = make_windows(seqs, max_len=10)
    rows = np.concatenate(list(iterate_batches(w, 3, np.random.default_rng(0))))
    assert sorted(rows.tolist()) == list(range(12))


def test_sequences_helpers():
    seqs = Sequences.from_lists([[1, 2, 3], [], [4, 5]], times=[[1.0, 2.0, 3.0], [], [4.0, 5.0]])
    assert seqs.row_ids().tolist() == [0, 0, 0, 2, 2]
    assert seqs.positions().tolist() == [0, 1, 2, 0, 1]
    sub = seqs.subset(np.array([2, 0]))
    assert sub[0].tolist() == [4, 5] and sub[1].tolist() == [1, 2, 3] and sub.times.tolist() == [4, 5, 1, 2, 3]
    assert seqs.last_n(2).items.tolist() == [2, 3, 4, 5]
    items, lengths = seqs.to_padded(np.array([0, 2]), max_len=2)
    assert items.tolist() == [[2, 3], [4, 5]] and lengths.tolist() == [2, 2]
