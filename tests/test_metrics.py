"""Ranks and metrics against values computed by hand (PROTOCOL.md §1.7–1.8)."""

import math

import numpy as np
import pytest
import torch

from rnnrec.metrics import metrics_from_ranks, pessimistic_ranks


def test_pessimistic_rank_counts_ties_against_the_target():
    scores = torch.tensor(
        [
            [0.5, 0.9, 0.5, 0.1, 0.5],  # target 0: one higher, two equal -> rank 4
            [0.5, 0.9, 0.5, 0.1, 0.5],  # target 1: best -> rank 1
            [1.0, 1.0, 1.0, 1.0, 1.0],  # constant scores -> worst rank 5
            [0.0, float("-inf"), 0.3, float("-inf"), -1.0],  # excluded items never outrank
        ]
    )
    targets = torch.tensor([0, 1, 2, 4])
    assert pessimistic_ranks(scores, targets).tolist() == [4, 1, 5, 3]


def test_nan_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        pessimistic_ranks(torch.tensor([[0.1, float("nan")]]), torch.tensor([0]))


def test_metrics_from_hand_computed_ranks():
    m = metrics_from_ranks(np.array([4, 1, 5]), ks=(1, 5))
    assert m["HR@1"] == pytest.approx(1 / 3)
    assert m["Recall@5"] == pytest.approx(1.0)
    assert m["NDCG@1"] == pytest.approx(1 / 3)
    assert m["NDCG@5"] == pytest.approx((1 / math.log2(5) + 1 + 1 / math.log2(6)) / 3)
    assert m["MRR@5"] == pytest.approx((0.25 + 1 + 0.2) / 3)
    assert m["MRR@1"] == pytest.approx(1 / 3)


def test_default_cutoffs_and_rank_beyond_cutoff():
    m = metrics_from_ranks(np.array([21, 11]))
    assert set(m) == {f"{n}@{k}" for n in ("HR", "Recall", "NDCG", "MRR") for k in (1, 5, 10, 20)}
    assert m["HR@20"] == 0.5 and m["HR@10"] == 0.0
    assert m["NDCG@20"] == pytest.approx(0.5 / math.log2(12))
    assert m["MRR@20"] == pytest.approx(0.5 / 11)
