"""GRU4Rec for user histories: item embedding → GRU/LSTM → a vector scored against every item.

Every position of a sequence produces a prediction of the next item, so one forward pass over a
(B, T) batch trains on all B×T positions at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnrec.errors import ConfigError, require_at_least, require_fraction
from rnnrec.models.dropout import Dropout


@dataclass
class GRU4RecConfig:
    """Architecture. ``tied_embeddings``: score items against the input embedding table.

    ``name`` picks the model (:mod:`rnnrec.models.registry`); variants subclass this config.
    """

    name: str = "gru4rec"
    cell: str = "gru"  # "gru" | "lstm"
    embedding_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    dropout_embedding: float = 0.2
    dropout_hidden: float = 0.2
    tied_embeddings: bool = True

    def __post_init__(self) -> None:
        expected = type(self).__dataclass_fields__["name"].default
        if self.name != expected:
            raise ConfigError(f"model.name {self.name!r} does not match {type(self).__name__} (expects {expected!r})")
        if self.cell not in ("gru", "lstm"):
            raise ConfigError(f"model.cell must be 'gru' or 'lstm', got {self.cell!r}")
        require_at_least("model", self, ("embedding_dim", "hidden_size", "num_layers"), 1)
        require_fraction("model", self, ("dropout_embedding", "dropout_hidden"))


class GRU4Rec(nn.Module):
    """``forward(items)`` returns one output vector per position; ``output_layer()`` the item
    vectors and biases they are scored against (row 0 = padding, never recommended).

    Time-aware subclasses set ``uses_time`` and read ``time_in`` (features of each input event)
    and ``time_q`` (features of each prediction moment), both (B, T, 4) from
    :mod:`rnnrec.data.time_features`; this plain model ignores them.
    """

    uses_time = False
    uses_features = False  # multimodal subclasses read item features (rnnrec.data.item_features)

    def __init__(self, n_items: int, config: GRU4RecConfig) -> None:
        super().__init__()
        self.config = config
        self.n_items = n_items
        c = config
        self.item_embedding = nn.Embedding(n_items + 1, c.embedding_dim, padding_idx=0)
        self.embedding_dropout = Dropout(c.dropout_embedding)
        self.rnn = self.build_recurrence()
        self.hidden_dropout = Dropout(c.dropout_hidden)
        self.project = nn.Linear(c.hidden_size, c.embedding_dim)
        self.output_embedding = None if c.tied_embeddings else nn.Embedding(n_items + 1, c.embedding_dim)
        self.output_bias = nn.Parameter(torch.zeros(n_items + 1))
        self.reset_parameters()

    def build_recurrence(self) -> nn.Module:
        """The recurrent part (subclasses with their own cells override this)."""
        c = self.config
        rnn_cls = nn.GRU if c.cell == "gru" else nn.LSTM
        return rnn_cls(
            c.embedding_dim,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            dropout=c.dropout_hidden if c.num_layers > 1 else 0.0,
        )

    def reset_parameters(self) -> None:
        std = 1.0 / math.sqrt(self.config.embedding_dim)
        nn.init.normal_(self.item_embedding.weight, 0.0, std)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        if self.output_embedding is not None:
            nn.init.normal_(self.output_embedding.weight, 0.0, std)

    def input_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """(...) item IDs → (..., E) what the recurrence reads (multimodal variants fuse features in)."""
        return self.item_embedding(items)

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(I+1, D) item vectors and (I+1,) biases that output vectors are scored against
        (feature-based variants compute both from item features)."""
        table = self.item_embedding if self.output_embedding is None else self.output_embedding
        return table.weight, self.output_bias

    def forward(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, time_q: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T) right-padded item IDs → (B, T, D) output vectors (padding positions are garbage)."""
        h, _ = self.encode(items, time_in)
        return self.output_vectors(h, time_q)

    # The recurrence split in two, so a server can carry each user's state from event to event:
    # ``encode`` reads events from a given state, ``output_vectors`` turns states into output vectors.
    # States travel as one flat (B, S) float tensor per user, whatever the recurrence keeps inside.

    def state_size(self) -> int:
        """S: floats in one user's flat state (GRU: layers × H; LSTM: twice that, h then c)."""
        c = self.config
        return (1 if c.cell == "gru" else 2) * c.num_layers * c.hidden_size

    def initial_state(self, batch: int) -> torch.Tensor:
        """(B, S) state before any event."""
        return self.output_bias.new_zeros(batch, self.state_size())

    def encode(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) items read from ``state`` (None: the initial one) → (B, T, H) what
        ``output_vectors`` reads after each event, and the (B, S) state after position T-1 (padding included)."""
        x = self.embedding_dropout(self.input_vectors(items))  # (B, T, E)
        h, last = self.rnn(x, None if state is None else self._unpack(state))
        return h, self._pack(last)

    def step(self, items: torch.Tensor, state: torch.Tensor, time_in: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) items, one event per row, read from (B, S) states → the (B, S) states after them:
        ``encode(items[:, None], time_in, state)[1]``. A server calls this once per batch of events.

        A one-layer ``nn.GRU`` in eval mode runs its cell directly, without the sequence machinery
        around it (16 rows: 0.13 → 0.07 ms); everything else goes through ``encode``.
        """
        rnn = self.rnn
        if self.training or type(rnn) is not nn.GRU or rnn.num_layers != 1 or type(self).encode is not GRU4Rec.encode:
            return self.encode(items[:, None], time_in, state)[1]
        x = self.input_vectors(items)  # the embedding dropout is off in eval mode
        return torch.gru_cell(x, state, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)

    def state_output(self, state: torch.Tensor) -> torch.Tensor:
        """(B, S) states → (B, H) what ``output_vectors`` reads (the last layer's h)."""
        h = self._unpack(state)
        return (h if self.config.cell == "gru" else h[0])[-1]

    def output_vectors(self, h: torch.Tensor, time_q: torch.Tensor | None = None) -> torch.Tensor:
        """(..., H) states (and (..., 4) prediction-time features, time-aware models) → (..., D)."""
        return self.project(self.hidden_dropout(h))

    def _unpack(self, state: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, S) → torch's (layers, B, H) h, or (h, c) for an LSTM."""
        c = self.config
        k = 1 if c.cell == "gru" else 2
        parts = state.reshape(state.shape[0], k, c.num_layers, c.hidden_size).permute(1, 2, 0, 3)
        return parts[0].contiguous() if k == 1 else (parts[0].contiguous(), parts[1].contiguous())

    def _pack(self, last: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """torch's final (layers, B, H) h, or (h, c), → (B, S)."""
        parts = torch.stack([last] if isinstance(last, torch.Tensor) else list(last))  # (k, L, B, H)
        return parts.permute(2, 0, 1, 3).reshape(parts.shape[2], -1)

    def last_output_vectors(
        self,
        items: torch.Tensor,
        lengths: torch.Tensor,
        time_in: torch.Tensor | None = None,
        time_q: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, D) output vector after each right-padded history's last event (what :meth:`score`
        scores every item against). ``time_q`` (B, 4): features of each row's prediction moment."""
        h, _ = self.encode(items, time_in)  # (B, T, H)
        last = h[torch.arange(items.shape[0], device=items.device), lengths - 1]  # (B, H)
        return self.output_vectors(last, time_q)  # only the last position: long histories stay cheap

    def score(
        self,
        items: torch.Tensor,
        lengths: torch.Tensor,
        time_in: torch.Tensor | None = None,
        time_q: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores (B, I+1) of every item as the next one after each right-padded history.

        ``time_q`` (B, 4): features of the prediction moment of each row (time-aware models).
        """
        weights, bias = self.output_layer()
        return self.last_output_vectors(items, lengths, time_in, time_q) @ weights.T + bias  # (B, I+1)
