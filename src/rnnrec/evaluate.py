"""Next-item evaluation (PROTOCOL.md §1): full ranking of the whole catalogue, pessimistic ties,
batched over many targets at once."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnrec.data.split import EvalSet
from rnnrec.data.time_features import event_time_features, query_time_features
from rnnrec.metrics import DEFAULT_KS, metrics_from_ranks, pessimistic_ranks


@torch.no_grad()
def rank_targets(
    model: nn.Module,
    eval_set: EvalSet,
    max_len: int,
    batch_size: int = 512,
    exclude_seen: bool = False,
    device: torch.device | None = None,
) -> np.ndarray:
    """The pessimistic rank (1 = best) of every target among all items, in ``eval_set`` order.

    The model reads the last ``max_len`` events of each history. With ``exclude_seen``, items of
    the whole history (other than the target itself) are removed from the ranking. A time-aware
    model predicts each target at the target's own time (the moment the user came back).
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    hist = eval_set.histories
    time_aware = bool(getattr(model, "uses_time", False))
    if time_aware:
        features = event_time_features(hist, "evaluation histories")
        at = eval_set.target_times if eval_set.target_times is not None else np.full(len(eval_set), np.nan)
        queries = query_time_features(hist, at, "evaluation targets")
    order = np.argsort(np.minimum(hist.lengths, max_len), kind="stable")  # similar lengths together
    ranks = np.empty(len(eval_set), dtype=np.int64)
    try:
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            idx, valid, lengths = hist.padded_index(rows, max_len)
            items = torch.from_numpy(np.where(valid, hist.items[idx], 0)).to(device)
            if time_aware:
                time_in = torch.from_numpy(features[idx]).to(device)
                time_q = torch.from_numpy(queries[rows]).to(device)
                scores = model.score(items, torch.from_numpy(lengths).to(device), time_in, time_q)
            else:
                scores = model.score(items, torch.from_numpy(lengths).to(device))
            scores = scores.float()  # (B, I+1), column 0 = padding
            targets = torch.from_numpy(eval_set.targets[rows]).to(device)
            if exclude_seen:
                full, _ = hist.to_padded(rows, int(hist.lengths[rows].max()))
                seen = torch.zeros_like(scores, dtype=torch.bool)
                seen.scatter_(1, torch.from_numpy(full).to(device), True)  # padding lands in column 0
                seen.scatter_(1, targets.view(-1, 1), False)  # the target itself stays ranked
                scores = scores.masked_fill(seen, float("-inf"))
            scores, targets = scores[:, 1:], targets - 1  # rank real items only: (B, I)
            ranks[rows] = pessimistic_ranks(scores, targets).cpu().numpy()
    finally:
        model.train(was_training)
    return ranks


def evaluate(
    model: nn.Module,
    eval_set: EvalSet,
    max_len: int,
    batch_size: int = 512,
    exclude_seen: bool = False,
    ks: tuple[int, ...] = DEFAULT_KS,
    device: torch.device | None = None,
) -> dict[str, float]:
    """HR/Recall, NDCG, MRR at ``ks`` averaged over the targets of ``eval_set``."""
    ranks = rank_targets(model, eval_set, max_len, batch_size, exclude_seen, device)
    return metrics_from_ranks(ranks, ks)
