"""Full-ranking evaluation over an EvalSet, with a scoring model whose scores are fixed by hand."""

import numpy as np
import torch
from torch import nn

from rnnrec.data.sequences import Sequences
from rnnrec.data.split import EvalSet
from rnnrec.evaluate import rank_targets


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
