"""Building blocks the time-aware models share: learned embeddings of time features, and a
readout that lets the moment of prediction shape the output.

Time features arrive as (..., 4) float tensors laid out by :mod:`rnnrec.data.time_features`.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnrec.data.time_features import BUCKET, HOUR, N_GAP_BUCKETS, N_HOURS, N_WEEKDAYS, WEEKDAY


class TimeEmbedding(nn.Module):
    """Sum of learned vectors for the log-scale gap bucket and, with ``calendar``, the hour of
    day and the day of week (each with an "unknown" slot)."""

    def __init__(self, dim: int, calendar: bool = True) -> None:
        super().__init__()
        self.gap = nn.Embedding(N_GAP_BUCKETS, dim)
        self.hour = nn.Embedding(N_HOURS + 1, dim) if calendar else None
        self.weekday = nn.Embedding(N_WEEKDAYS + 1, dim) if calendar else None
        for table in (self.gap, self.hour, self.weekday):
            if table is not None:
                nn.init.normal_(table.weight, 0.0, 0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.gap(features[..., BUCKET].long())
        if self.hour is not None and self.weekday is not None:
            out = out + self.hour(features[..., HOUR].long()) + self.weekday(features[..., WEEKDAY].long())
        return out


class QueryTimeReadout(nn.Module):
    """Lets the moment of a prediction shape it. With ``q`` the embedding of the query time, the
    model's output vector becomes

        project(dropout(h * (1 + tanh(gate(q))))) + shift(q)

    so the query time both rescales the state (a long absence can mute short-term interests) and
    adds a time-dependent preference of its own. ``forward`` returns the rescaled state and the
    shift; the model applies its own dropout and projection. ``gate`` and ``shift`` start at zero:
    before training the output equals the plain model's, and time enters only as far as it helps.
    """

    def __init__(self, hidden_size: int, output_dim: int, calendar: bool = True) -> None:
        super().__init__()
        self.query = TimeEmbedding(hidden_size, calendar)
        self.gate = nn.Linear(hidden_size, hidden_size)
        self.shift = nn.Linear(hidden_size, output_dim, bias=False)
        for layer in (self.gate, self.shift):
            nn.init.zeros_(layer.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, h: torch.Tensor, time_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.query(time_q)  # (B, T, H)
        return h * (1.0 + torch.tanh(self.gate(q))), self.shift(q)


def gru_gates(gi: torch.Tensor, gh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU step's update gate ``z`` and candidate ``n`` from the input part ``gi`` and the
    hidden part ``gh`` (each (B, 3H), gates in PyTorch's r, z, n order). The plain GRU's next
    state is ``n + z * (h - n)``; the time-aware cells combine them their own way."""
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = torch.sigmoid(i_r + h_r)
    return torch.sigmoid(i_z + h_z), torch.tanh(i_n + r * h_n)


def require_event_time(time_in: torch.Tensor | None, model: str) -> torch.Tensor:
    """Time-aware models cannot run without time features: say so instead of failing inside torch."""
    if time_in is None:
        raise ValueError(f"{model} reads time: pass time_in, the events' time features (see rnnrec.data.time_features)")
    return time_in


def require_query_time(time_q: torch.Tensor | None, model: str) -> torch.Tensor:
    """The prediction moment's features; see :func:`require_event_time`."""
    if time_q is None:
        raise ValueError(f"{model} reads time: pass time_q, the prediction time's features (see rnnrec.data.time_features)")
    return time_q
