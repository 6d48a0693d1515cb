"""Continuous-time decay: between events the GRU state relaxes toward a learned baseline,

    h(t_prev + gap) = base + (h - base) * exp(-gap / tau)

with a learned time scale ``tau`` per hidden unit, so some units forget within minutes and
others keep interests for months. The state decays before each new event is read, and
once more from the last event to the moment of prediction: the same history scores differently
for a user who returns after a minute and one who returns after a month (a month away leaves a
state close to ``base``, the learned "long absence" state, which is also the initial state).

Time scales start spread log-uniformly from ``min_timescale`` to ``max_timescale`` seconds.
Because the decay factors depend on the gaps alone, they are computed for all steps at once
before the loop; each step adds one element-wise update to the GRU step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnrec.data.time_features import GAP
from rnnrec.errors import ConfigError
from rnnrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from rnnrec.models.time_encoding import gru_gates, require_event_time, require_query_time

_LOG_TAU_RANGE = (-5.0, 25.0)  # clamp: time scales from ~7 ms to ~2,000 years keep exp() finite


@dataclass
class TimeDecayGRUConfig(GRU4RecConfig):
    """Time scales in seconds at initialisation (defaults: one minute to one year)."""

    name: str = "time_decay"
    min_timescale: float = 60.0
    max_timescale: float = 365.25 * 86400.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cell != "gru" or self.num_layers != 1:
            raise ConfigError(f"time_decay is a one-layer GRU: model.cell must be 'gru' and model.num_layers 1 "
                              f"(got {self.cell!r}, {self.num_layers})")
        if not 0 < self.min_timescale <= self.max_timescale:
            raise ConfigError("model.min_timescale must be > 0 and <= model.max_timescale, got "
                              f"{self.min_timescale!r}, {self.max_timescale!r}")


class DecayingGRUCell(nn.Module):
    """A GRU cell whose state decays toward ``base`` over each gap before the next input."""

    def __init__(self, input_size: int, hidden_size: int, min_timescale: float, max_timescale: float) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input_gates = nn.Linear(input_size, 3 * hidden_size)
        self.hidden_gates = nn.Linear(hidden_size, 3 * hidden_size)
        self.base = nn.Parameter(torch.zeros(hidden_size))
        self.log_tau = nn.Parameter(torch.linspace(math.log(min_timescale), math.log(max_timescale), hidden_size))

    def keep(self, gaps: torch.Tensor) -> torch.Tensor:
        """(..., H) share of ``h - base`` left after ``gaps`` (...) seconds without events."""
        rate = torch.exp(-self.log_tau.clamp(*_LOG_TAU_RANGE))
        return torch.exp(-gaps.unsqueeze(-1) * rate)

    def decay(self, h: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """The state ``h`` (..., H) after ``gaps`` (...) seconds without events."""
        return self.base + (h - self.base) * self.keep(gaps)

    def forward(self, x: torch.Tensor, time_in: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, E) inputs and (B, T, 4) their time features, read from (B, H) state ``h`` (None:
        ``base``) → (B, T, H) states right after each event."""
        B, T, _ = x.shape
        gi = self.input_gates(x)  # (B, T, 3H), all steps at once
        keep = self.keep(time_in[..., GAP])  # (B, T, H); the gap before the first event is 0: keep = 1
        w, b = self.hidden_gates.weight.t(), self.hidden_gates.bias
        h = self.base.expand(B, self.hidden_size) if h is None else h
        states = []
        for t in range(T):
            h = self.base + (h - self.base) * keep[:, t]
            z, n = gru_gates(gi[:, t], torch.addmm(b, h, w))
            h = n + z * (h - n)
            states.append(h)
        return torch.stack(states, 1)


class TimeDecayGRU(GRU4Rec):
    uses_time = True

    def build_recurrence(self) -> nn.Module:
        c = self.config
        return DecayingGRUCell(c.embedding_dim, c.hidden_size, c.min_timescale, c.max_timescale)  # type: ignore[attr-defined]

    def initial_state(self, batch: int) -> torch.Tensor:
        return self.rnn.base.detach().expand(batch, -1).clone()

    def encode(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        time_in = require_event_time(time_in, type(self).__name__)
        x = self.embedding_dropout(self.item_embedding(items))  # (B, T, E)
        h = self.rnn(x, time_in, state)  # (B, T, H) right after each event
        return h, h[:, -1]

    def output_vectors(self, h: torch.Tensor, time_q: torch.Tensor | None = None) -> torch.Tensor:
        time_q = require_query_time(time_q, type(self).__name__)
        return self.project(self.hidden_dropout(self.rnn.decay(h, time_q[..., GAP])))  # at the prediction moment
