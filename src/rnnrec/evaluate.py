"""Next-item evaluation (PROTOCOL.md §1): full ranking of the whole catalogue, pessimistic ties,
batched over many targets at once."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnrec.data.split import EvalSet
from rnnrec.data.time_features import event_time_features, query_time_features
from rnnrec.metrics import DEFAULT_KS, metrics_from_ranks, pessimistic_ranks

MAX_PADDED_EVENTS = 65_536  # per batch of histories read at once: whole histories of thousands of events fit


@torch.no_grad()
def rank_targets(
    model: nn.Module,
    eval_set: EvalSet,
    max_len: int,
    batch_size: int = 512,
    exclude_seen: bool = False,
    device: torch.device | None = None,
    max_events: int = MAX_PADDED_EVENTS,
) -> np.ndarray:
    """The pessimistic rank (1 = best) of every target among all items, in ``eval_set`` order.

    The model reads the last ``max_len`` events of each history, in batches of at most
    ``batch_size`` histories and ``max_events`` padded events. With ``exclude_seen``, items of
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
    read = np.minimum(hist.lengths, max_len)
    order = np.argsort(read, kind="stable")  # similar lengths together
    ranks = np.empty(len(eval_set), dtype=np.int64)
    try:
        for rows in length_batches(order, read[order], batch_size, max_events):
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


def length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, max_events: int) -> list[np.ndarray]:
    """Split ``order`` (rows sorted by their ``lengths``, ascending) into batches of at most
    ``batch_size`` rows whose padded size, rows × longest, stays within ``max_events`` (a row
    longer than that goes alone), so whole histories of thousands of events fit in memory."""
    batches, b = [], 0
    while b < len(order):
        window = lengths[b : b + batch_size]
        padded = np.arange(1, len(window) + 1) * np.maximum(window, 1)  # rows × longest, rising
        n = max(1, int(np.searchsorted(padded, max_events, side="right")))
        batches.append(order[b : b + n])
        b += n
    return batches


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
