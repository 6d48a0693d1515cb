"""Full-ranking evaluation over an EvalSet, with a scoring model whose scores are fixed by hand."""

import numpy as np
import torch
from torch import nn

from rnnrec.data.sequences import Sequences
from rnnrec.data.split import EvalSet
from rnnrec.evaluate import length_batches, rank_targets
from rnnrec.objective import WHOLE_HISTORY


class FixedScores(nn.Module):
    """A model that scores items 0..4 the same for every history (a popularity-like model)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = nn.Parameter(torch.tensor(scores), requires_grad=False)

    def score(self, items, lengths):
        return self.scores.expand(items.shape[0], -1)


def test_ranks_with_ties_and_exclude_seen():
    model = FixedScores([9.0, 0.9, 0.5, 0.5, 0.1])  # column 0 = padding, never ranked
    ev = EvalSet(Sequences.from_lists([[1, 3], [2], [4, 1]]), np.array([2, 4, 3]), np.array([0, 1, 2]))
    # target 2 (0.5): item 1 higher, item 3 ties -> 3; target 4: worst of 4 -> 4; target 3 ties with 2 -> 3
    assert rank_targets(model, ev, max_len=10).tolist() == [3, 4, 3]
    # seen items removed: row 0 drops 1 and 3 -> rank 1; row 1 drops 2 -> 3; row 2 drops 4, 1 -> 2
    assert rank_targets(model, ev, max_len=10, exclude_seen=True).tolist() == [1, 3, 2]


class LengthScores(nn.Module):
    """A model that scores item ``n`` highest after reading ``n`` events (items 0..4)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1), requires_grad=False)

    def score(self, items, lengths):
        assert items.shape[1] == int(lengths.max())  # padded to the longest history read
        return torch.nn.functional.one_hot(lengths, 5).float()


def test_length_batches_bound_rows_and_padded_events():
    order = np.array([4, 0, 3, 1, 2])
    lengths = np.array([1, 2, 2, 5, 9])  # lengths of those rows, ascending
    # at most 3 rows and 6 padded events: [4, 0, 3] (3 x 2), [1] (2 x 5 > 6), [2] (alone, 9 > 6)
    batches = length_batches(order, lengths, batch_size=3, max_events=6)
    assert [b.tolist() for b in batches] == [[4, 0, 3], [1], [2]]
    assert [b.tolist() for b in length_batches(order, lengths, 10, 100)] == [[4, 0, 3, 1, 2]]


def test_reads_the_last_max_len_events_or_the_whole_history():
    ev = EvalSet(Sequences.from_lists([[1, 2, 3], [4], [1, 2, 3, 4]]), np.array([2, 1, 4]), np.array([0, 1, 2]))
    # the last 2 events: rows 0 and 2 score item 2 first (row 2's target 4 ties with 1 and 3: rank 4);
    # row 1 reads its 1 event and its target is item 1
    assert rank_targets(LengthScores(), ev, max_len=2).tolist() == [1, 1, 4]
    # whole histories (3, 1, 4 events), one history per batch: row 0's target 2 now ranks last
    whole = rank_targets(LengthScores(), ev, max_len=WHOLE_HISTORY, max_events=1)
    assert whole.tolist() == [4, 1, 1]
