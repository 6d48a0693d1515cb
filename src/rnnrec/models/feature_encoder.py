"""The building block every multimodal variant shares: fixed item feature blocks → learned vectors.

The blocks (:class:`rnnrec.data.item_features.ItemFeatures`) are buffers, not parameters: they
are inputs the model reads, saved next to the weights in the model folder. Each block has its
own linear projection to the model's width; items with no features at all get one learned
"no features" vector instead.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnrec.data.item_features import ItemFeatures
from rnnrec.errors import ConfigError


class ItemFeatureEncoder(nn.Module):
    def __init__(self, features: ItemFeatures, dim: int, n_items: int, mlp: bool = False) -> None:
        super().__init__()
        if features.n_rows != n_items + 1:
            raise ConfigError(f"item features cover {features.n_rows - 1} items, the catalogue has {n_items}")
        self.names = list(features.blocks)
        for name, block in features.blocks.items():
            if not name.isidentifier():
                raise ConfigError(f"feature block name {name!r} must be a plain identifier (letters, digits, _)")
            self.register_buffer(f"block_{name}", torch.from_numpy(block).float(), persistent=False)
        self.register_buffer("present", torch.from_numpy(features.present), persistent=False)
        self.project = nn.ModuleDict({name: nn.Linear(b.shape[1], dim) for name, b in features.blocks.items()})
        self.missing = nn.Parameter(torch.zeros(dim))
        # Optional residual layer after the sum, so blocks can interact (genre × year, ...).
        self.mlp = nn.Sequential(nn.GELU(), nn.Linear(dim, dim)) if mlp else None

    def block(self, name: str) -> torch.Tensor:
        return getattr(self, f"block_{name}")

    def per_block(self, items: torch.Tensor) -> list[torch.Tensor]:
        """One (..., D) projection per block, in ``names`` order (zeros stay zeros but for the bias)."""
        return [self.project[name](self.block(name)[items]) for name in self.names]

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """(...) internal item IDs → (..., D): the blocks' projections summed, or the learned
        "no features" vector for items without any."""
        out = torch.stack(self.per_block(items)).sum(0)
        if self.mlp is not None:
            out = out + self.mlp(out)
        return torch.where(self.present[items].unsqueeze(-1), out, self.missing)

    def all_items(self) -> torch.Tensor:
        """(I+1, D) for every internal item (row 0 = padding)."""
        return self(torch.arange(len(self.present), device=self.present.device))
