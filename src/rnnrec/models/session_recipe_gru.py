"""GRU4Rec's own model and training recipe, for user histories (``model.name = "session_gru"``).

The session model (:class:`~rnnrec.models.session_gru.SessionGRU`) trained the session way
(:func:`~rnnrec.session_trainer.fit_sessions`: session-parallel mini-batches, sampled negatives,
BPR-max, row-sparse Adagrad), with each user's training history as one session (a long one in
pieces of ``train.max_session_len`` events), its state carried from event to event. It predicts
from the state after the last ``train.max_session_len`` events of a history.

This class puts that model behind the interface every sequence model has (``score``,
``output_layer``, flat per-user states for ``encode``/``step``), so the recommender, the
evaluator and the server use it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnrec.errors import ConfigError
from rnnrec.models.gru4rec import GRU4Rec
from rnnrec.models.session_gru import SessionGRU, SessionGRUConfig


@dataclass
class SessionRecipeConfig(SessionGRUConfig):
    """:class:`SessionGRUConfig` with a ``name``; the defaults are GRU4Rec's published
    RetailRocket setting (BPR-max with ELU and score regularisation, 224 units, shared embedding,
    heavy input dropout), which does better on user histories than the RSC15 cross-entropy one."""

    name: str = "session_gru"
    loss: str = "bpr-max"
    hidden: int = 224
    dropout_embed: float = 0.5
    dropout_hidden: float = 0.05
    logq: float = 0.0
    bpreg: float = 1.95
    elu_param: float = 0.5

    def __post_init__(self) -> None:
        if self.name != "session_gru":
            raise ConfigError(f"model.name {self.name!r} does not match {type(self).__name__} (expects 'session_gru')")
        super().__post_init__()


class SessionRecipeGRU(nn.Module):
    """A :class:`SessionGRU` (``self.net``) seen as a sequence model over items 1..n_items."""

    uses_time = False
    uses_features = False

    def __init__(self, n_items: int, config: SessionRecipeConfig) -> None:
        super().__init__()
        self.config = config
        self.n_items = n_items
        self.net = SessionGRU(n_items + 1, config)  # row 0 = padding, as in every item table here

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(I+1, H) item vectors and (I+1,) biases; scores are linear (the loss's final activation
        keeps their order)."""
        return self.net.item_out, self.net.item_bias

    def state_size(self) -> int:
        return self.config.layers * self.config.hidden

    def initial_state(self, batch: int) -> torch.Tensor:
        """(B, S) zeros: GRU4Rec starts every session from the empty state."""
        return self.net.item_bias.new_zeros(batch, self.state_size())

    def _unpack(self, state: torch.Tensor) -> torch.Tensor:
        """(B, S) → the session model's (layers, B, H)."""
        return state.reshape(state.shape[0], self.config.layers, self.config.hidden).transpose(0, 1).contiguous()

    def _pack(self, state: torch.Tensor) -> torch.Tensor:
        return state.transpose(0, 1).reshape(state.shape[1], -1)

    def encode(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) items read from ``state`` (None: the initial one) → (B, T, H) top-layer outputs
        and the (B, S) state after position T-1 (padding included). One cell step per position."""
        h = self._unpack(state) if state is not None else self.net.initial_state(items.shape[0], items.device)
        outputs = []
        for t in range(items.shape[1]):
            out, h = self.net.step(self.net.input_rows(items[:, t]), h)
            outputs.append(out)
        return torch.stack(outputs, dim=1), self._pack(h)

    def step(self, items: torch.Tensor, state: torch.Tensor, time_in: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) items read from (B, S) states → the (B, S) states after them."""
        return self._pack(self.net.step(self.net.input_rows(items), self._unpack(state))[1])

    def state_output(self, state: torch.Tensor) -> torch.Tensor:
        """(B, S) → (B, H): the top layer's state, which is its output."""
        return self._unpack(state)[-1]

    def output_vectors(self, h: torch.Tensor, time_q: torch.Tensor | None = None) -> torch.Tensor:
        return h

    # What reads ``encode``, ``output_vectors`` and ``output_layer`` only is the window model's own.
    forward = GRU4Rec.forward
    last_output_vectors = GRU4Rec.last_output_vectors
    score = GRU4Rec.score
