"""Time-gated cell: a GRU/LSTM whose update is scaled by a *time gate* that reads the gap since
the previous event, in the spirit of Time-LSTM (Zhu et al., IJCAI 2017) and SLi-Rec (Yu et al.,
IJCAI 2019):

    T_t = sigmoid(W x_t + E[gap bucket, hour, weekday of event t] + b)
    GRU:  h_t = h_{t-1} + T_t * (1 - z_t) * (n_t - h_{t-1})     (T_t = 1 is the plain GRU)
    LSTM: c_t = f_t * c_{t-1} + T_t * i_t * g_t                  (Time-LSTM's first variant)

so an event after a long pause can rewrite the state more (or less) than one in a burst.

Why it stays fast: the time gate and every input projection depend only on the inputs, so they
are computed for all steps in one matrix product before the loop; each step then costs one
(B, H) x (H, kH) product and a few element-wise operations. A plain Python loop measured as fast
as a TorchScript-compiled one here (benchmarks/README.md), so no compilation step is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnrec.errors import ConfigError
from rnnrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from rnnrec.models.time_encoding import QueryTimeReadout, TimeEmbedding, gru_gates, require_event_time, require_query_time


@dataclass
class TimeGatedGRUConfig(GRU4RecConfig):
    """``calendar``: the gates (and the prediction-time readout) also see hour and weekday.

    Off by default: it lost on validation on every dataset benchmarked, since a test period
    often falls on days of the week (or hours) that training saw little or nothing of.
    """

    name: str = "time_gated"
    calendar: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers != 1:
            raise ConfigError(f"model.num_layers must be 1 for time_gated, got {self.num_layers}")


class TimeGatedCell(nn.Module):
    """One-layer GRU or LSTM cell with a time gate, run over a whole (B, T) batch by :meth:`forward`."""

    def __init__(self, input_size: int, hidden_size: int, cell: str, calendar: bool) -> None:
        super().__init__()
        self.cell = cell
        self.hidden_size = hidden_size
        n_gates = 3 if cell == "gru" else 4
        self.input_gates = nn.Linear(input_size, n_gates * hidden_size)
        self.hidden_gates = nn.Linear(hidden_size, n_gates * hidden_size)
        self.time_gate_input = nn.Linear(input_size, hidden_size)
        self.time_gate_time = TimeEmbedding(hidden_size, calendar)
        with torch.no_grad():  # start with the gate mostly open: close to the plain cell
            self.time_gate_input.bias.fill_(2.0)

    def forward(
        self, x: torch.Tensor, time_in: torch.Tensor, h: torch.Tensor | None = None, c: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, E) inputs and (B, T, 4) their time features, read from (B, H) states ``h`` and
        ``c`` (None: zeros) → (B, T, H) states after each step, and the last ``h`` and ``c``."""
        B, T, _ = x.shape
        H = self.hidden_size
        gi = self.input_gates(x)  # (B, T, kH), all steps at once
        gate = torch.sigmoid(self.time_gate_input(x) + self.time_gate_time(time_in))  # (B, T, H)
        w, b = self.hidden_gates.weight.t(), self.hidden_gates.bias
        h = x.new_zeros(B, H) if h is None else h
        c = x.new_zeros(B, H) if c is None else c
        states = []
        for t in range(T):
            gh = torch.addmm(b, h, w)  # (B, kH)
            if self.cell == "gru":
                z, n = gru_gates(gi[:, t], gh)
                h = h + gate[:, t] * (1.0 - z) * (n - h)
            else:
                i, f, g, o = (gi[:, t] + gh).chunk(4, 1)
                c = torch.sigmoid(f) * c + gate[:, t] * torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        return torch.stack(states, 1), h, c


class TimeGatedGRU(GRU4Rec):
    uses_time = True

    def build_recurrence(self) -> nn.Module:
        c = self.config
        return TimeGatedCell(c.embedding_dim, c.hidden_size, c.cell, c.calendar)  # type: ignore[attr-defined]

    def __init__(self, n_items: int, config: TimeGatedGRUConfig) -> None:
        super().__init__(n_items, config)
        self.readout = QueryTimeReadout(config.hidden_size, config.embedding_dim, config.calendar)

    def encode(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        time_in = require_event_time(time_in, type(self).__name__)
        x = self.embedding_dropout(self.item_embedding(items))  # (B, T, E)
        if state is None:
            h0 = c0 = None
        elif self.config.cell == "gru":
            h0, c0 = self._unpack(state)[0], None  # type: ignore[index]
        else:
            h0, c0 = (part[0] for part in self._unpack(state))
        h, last_h, last_c = self.rnn(x, time_in, h0, c0)  # (B, T, H)
        return h, self._pack(last_h[None] if self.config.cell == "gru" else (last_h[None], last_c[None]))

    def output_vectors(self, h: torch.Tensor, time_q: torch.Tensor | None = None) -> torch.Tensor:
        h, shift = self.readout(h, require_query_time(time_q, type(self).__name__))
        return self.project(self.hidden_dropout(h)) + shift
