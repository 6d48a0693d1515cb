"""Time-interval input: the GRU reads, at each step, the item embedding plus an embedding of the
gap since the previous event (log-scale bucket) and of the event's hour and weekday.

The cheapest way to show a recurrent model *when* things happened: the recurrence stays the
fused library GRU/LSTM, so an epoch costs about what the plain model's does. The moment of
prediction enters through :class:`~rnnrec.models.time_encoding.QueryTimeReadout`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from rnnrec.models.time_encoding import QueryTimeReadout, TimeEmbedding, require_event_time, require_query_time


@dataclass
class TimeIntervalGRUConfig(GRU4RecConfig):
    """``calendar``: also embed hour of day and day of week (UTC), not only the gap.

    Off by default: it lost on validation on every dataset benchmarked, since a test period
    often falls on days of the week (or hours) that training saw little or nothing of.
    """

    name: str = "time_interval"
    calendar: bool = False


class TimeIntervalGRU(GRU4Rec):
    uses_time = True

    def __init__(self, n_items: int, config: TimeIntervalGRUConfig) -> None:
        super().__init__(n_items, config)
        self.time_embedding = TimeEmbedding(config.embedding_dim, config.calendar)
        self.readout = QueryTimeReadout(config.hidden_size, config.embedding_dim, config.calendar)

    def encode(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        time_in = require_event_time(time_in, type(self).__name__)
        x = self.embedding_dropout(self.item_embedding(items) + self.time_embedding(time_in))  # (B, T, E)
        h, last = self.rnn(x, None if state is None else self._unpack(state))  # (B, T, H)
        return h, self._pack(last)

    def output_vectors(self, h: torch.Tensor, time_q: torch.Tensor | None = None) -> torch.Tensor:
        time_q = require_query_time(time_q, type(self).__name__)
        h, shift = self.readout(h, time_q)
        return self.project(self.hidden_dropout(h)) + shift
