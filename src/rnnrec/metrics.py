"""Ranks with a pessimistic tie policy, and HR/Recall, NDCG, MRR at k (PROTOCOL.md §1.7–1.8)."""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)


def pessimistic_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 + #items scoring higher than the target + #other items scoring exactly the same.

    ``scores`` (B, C) over the candidate columns, ``targets`` (B,) column indices.
    A constant score vector therefore gets the worst rank C, never rank 1.
    Excluded candidates should carry ``-inf``; NaN scores are refused (they would compare
    false with everything and silently rank the target first).
    """
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN: cannot rank")
    target_scores = scores.gather(1, targets.view(-1, 1))  # (B, 1)
    higher = (scores > target_scores).sum(dim=1)
    equal = (scores == target_scores).sum(dim=1) - 1  # the target itself does not count
    return 1 + higher + equal


def metrics_from_ranks(ranks: np.ndarray | torch.Tensor, ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, float]:
    """Average HR@k (= Recall@k for one target), NDCG@k and MRR@k over targets."""
    r = torch.as_tensor(ranks, dtype=torch.float64)
    out: dict[str, float] = {}
    if r.numel() == 0:
        raise ValueError("no ranks to average")
    for k in ks:
        hit = (r <= k).to(torch.float64)
        out[f"HR@{k}"] = float(hit.mean())
        out[f"Recall@{k}"] = out[f"HR@{k}"]
        out[f"NDCG@{k}"] = float((hit / torch.log2(r + 1.0)).mean())
        out[f"MRR@{k}"] = float((hit / r).mean())
    return out
