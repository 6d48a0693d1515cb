"""Feature-level fusion: each item is its ID embedding fused with its projected features, on the
input side (what the GRU reads) and, with tied embeddings, on the output side (what it scores).

Items with few interactions have poorly trained ID embeddings; their titles, genres, categories or
image vectors carry what the IDs cannot.

- ``fusion = "add"`` (default): ``e_id + e_feat``, the feature projections starting at zero, so
  training starts from the ID-only model and moves away from it only as far as features help.
  Chosen on validation NDCG@10 (amazon-beauty-s3rec seed 0: 0.0477 against 0.0464 for the gate
  and 0.0453 ID-only).
- ``"gate"``: learns per dimension how much to trust the ID against the features
  (``g·e_id + (1-g)·e_feat``).
- ``"concat"``: projects ``[e_id; e_feat]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnrec.data.item_features import ItemFeatures
from rnnrec.errors import ConfigError
from rnnrec.models.feature_encoder import ItemFeatureEncoder
from rnnrec.models.gru4rec import GRU4Rec, GRU4RecConfig

FUSIONS = ("add", "gate", "concat")


@dataclass
class FeatureFusionGRUConfig(GRU4RecConfig):
    name: str = "feature_fusion"
    fusion: str = "add"  # "add" | "gate" | "concat"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fusion not in FUSIONS:
            raise ConfigError(f"model.fusion must be one of {FUSIONS}, got {self.fusion!r}")


class FeatureFusionGRU(GRU4Rec):
    uses_features = True

    def __init__(self, n_items: int, config: FeatureFusionGRUConfig, item_features: ItemFeatures) -> None:
        super().__init__(n_items, config)
        e = config.embedding_dim
        self.features = ItemFeatureEncoder(item_features, e, n_items)
        self.fuse = None if config.fusion == "add" else nn.Linear(2 * e, e)  # gate logits or concat projection
        if config.fusion == "add":
            for projection in self.features.project.values():
                nn.init.zeros_(projection.weight)
                nn.init.zeros_(projection.bias)

    def input_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """(...) item IDs → (..., E) fused ID + feature vectors."""
        e_id, e_feat = self.item_embedding(items), self.features(items)
        if self.fuse is None:
            return e_id + e_feat
        mixed = self.fuse(torch.cat([e_id, e_feat], dim=-1))
        if self.config.fusion == "gate":
            g = torch.sigmoid(mixed)
            return g * e_id + (1 - g) * e_feat
        return mixed

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.output_embedding is not None:
            return self.output_embedding.weight, self.output_bias
        return self.input_vectors(torch.arange(self.n_items + 1, device=self.output_bias.device)), self.output_bias
