"""Parallel RNNs (p-RNN, Hidasi et al., RecSys 2016): one recurrent subnet per modality, merged
before the output.

The ID subnet reads item embeddings as the plain model does; each feature block (text, genres,
image vectors...) drives its own smaller GRU over the projected features of the same sequence.
Their last-layer states are concatenated and projected to the output space, scored against the
item ID embeddings. Each subnet follows its own modality's dynamics (a user may drift in genre
while staying within one era), which a single fused input would mix from the first step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnrec.data.item_features import ItemFeatures
from rnnrec.errors import require_at_least
from rnnrec.models.feature_encoder import ItemFeatureEncoder
from rnnrec.models.gru4rec import GRU4Rec, GRU4RecConfig


@dataclass
class ParallelGRUConfig(GRU4RecConfig):
    name: str = "parallel_rnn"
    feature_hidden_size: int = 64  # width of each feature subnet's GRU

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least("model", self, ("feature_hidden_size",), 1)


class ParallelGRU(GRU4Rec):
    uses_features = True

    def __init__(self, n_items: int, config: ParallelGRUConfig, item_features: ItemFeatures) -> None:
        super().__init__(n_items, config)
        c = config
        self.features = ItemFeatureEncoder(item_features, c.embedding_dim, n_items)
        self.subnets = nn.ModuleList(
            nn.GRU(c.embedding_dim, c.feature_hidden_size, batch_first=True) for _ in self.features.names
        )
        merged = c.hidden_size + c.feature_hidden_size * len(self.subnets)
        self.project = nn.Linear(merged, c.embedding_dim)  # the merge replaces the plain projection

    def state_size(self) -> int:
        """The ID subnet's state, then each feature subnet's (B, Hf)."""
        return super().state_size() + self.config.feature_hidden_size * len(self.subnets)  # type: ignore[attr-defined]

    def encode(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H + n·Hf): every subnet's states side by side."""
        n_id = super().state_size()
        hf = self.config.feature_hidden_size  # type: ignore[attr-defined]
        h0 = [None] * (1 + len(self.subnets)) if state is None else (
            [self._unpack(state[:, :n_id])] + [part[None].contiguous() for part in state[:, n_id:].split(hf, dim=1)]
        )
        h_id, last_id = self.rnn(self.embedding_dropout(self.item_embedding(items)), h0[0])  # (B, T, H)
        states, lasts = [h_id], [self._pack(last_id)]
        for subnet, x, h in zip(self.subnets, self.features.per_block(items), h0[1:]):
            out, last = subnet(self.embedding_dropout(x), h)  # (B, T, Hf)
            states.append(out)
            lasts.append(last[0])
        return torch.cat(states, dim=-1), torch.cat(lasts, dim=-1)

    def state_output(self, state: torch.Tensor) -> torch.Tensor:
        n_id = super().state_size()
        return torch.cat([super().state_output(state[:, :n_id]), state[:, n_id:]], dim=-1)
