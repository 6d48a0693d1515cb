"""The ``session`` protocol (PROTOCOL.md §2): every next event of every test session is a target.

Each test session starts from a zero state; at position t the model has read events 1..t and
ranks all training items for event t+1 (pessimistic ties). Sessions are batched by length so
one padded pass serves hundreds of sessions.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnrec.data.sequences import Sequences
from rnnrec.metrics import DEFAULT_KS, metrics_from_ranks, pessimistic_ranks
from rnnrec.models.session_gru import SessionGRU


@torch.no_grad()
def rank_session_targets(
    model: SessionGRU, sessions: Sequences, batch_size: int = 512, score_rows: int = 4096
) -> np.ndarray:
    """Pessimistic ranks (1 = best) of all next-event targets, session by session in input order."""
    device = model.item_out.device
    was_training = model.training
    model.eval()
    lengths = sessions.lengths
    # Each session owns one rank slot per event but its first, in input order.
    per_session = np.maximum(lengths - 1, 0)
    first_target = np.cumsum(per_session) - per_session
    ranks = np.empty(int(per_session.sum()), dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    try:
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            rows = rows[lengths[rows] >= 2]
            if not len(rows):
                continue
            items, lens = sessions.to_padded(rows, int(lengths[rows].max()))
            items_t = torch.from_numpy(items).to(device)
            outputs = model.encode(items_t[:, :-1])  # (B, T-1, H)
            T = items.shape[1] - 1
            valid = np.arange(T)[None, :] < (lens - 1)[:, None]  # position t predicts event t+1
            r, c = np.nonzero(valid)
            flat_out = outputs[torch.from_numpy(r).to(device), torch.from_numpy(c).to(device)]
            targets = items_t[torch.from_numpy(r).to(device), torch.from_numpy(c + 1).to(device)]
            dest = first_target[rows][r] + c
            for s in range(0, len(r), score_rows):
                scores = model.score_all(flat_out[s : s + score_rows]).float()
                ranks[dest[s : s + score_rows]] = (
                    pessimistic_ranks(scores[:, 1:], targets[s : s + score_rows] - 1).cpu().numpy()
                )
    finally:
        model.train(was_training)
    return ranks


def evaluate_sessions(
    model: SessionGRU, sessions: Sequences, ks: tuple[int, ...] = DEFAULT_KS, batch_size: int = 512
) -> dict[str, float]:
    """Recall@k and MRR@k averaged over every next-event target of ``sessions``."""
    ranks = rank_session_targets(model, sessions, batch_size)
    metrics = metrics_from_ranks(ranks, ks)
    return {name: value for name, value in metrics.items() if name.startswith(("Recall@", "MRR@"))}
