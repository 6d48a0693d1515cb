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

    def forward(
        self, items: torch.Tensor, time_in: torch.Tensor | None = None, time_q: torch.Tensor | None = None
    ) -> torch.Tensor:
        h_id, _ = self.rnn(self.embedding_dropout(self.item_embedding(items)))  # (B, T, H)
        states = [h_id]
        for subnet, x in zip(self.subnets, self.features.per_block(items)):
            h, _ = subnet(self.embedding_dropout(x))  # (B, T, Hf)
            states.append(h)
        return self.project(self.hidden_dropout(torch.cat(states, dim=-1)))  # (B, T, E)
