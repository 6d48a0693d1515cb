"""What a sequence model is trained to do: predict the next item at every position.

Turns training sequences into padded batches and a batch into a loss, for any model that maps
(B, T) items to (B, T, D) output vectors and exposes ``output_layer()`` (item vectors, biases).
The trainer only sees ``batches`` and ``loss``. Given per-event time features, batches also
carry ``time_in`` (features of each input event) and ``time_q`` (of each target event, i.e. of
the moment each prediction is made) for time-aware models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from rnnrec.data.batching import iterate_batches, make_windows, window_index
from rnnrec.data.sequences import Sequences
from rnnrec.device import PRECISIONS, resolve_precision
from rnnrec.errors import ConfigError
from rnnrec.losses import LOSSES, NegativeSampler, full_cross_entropy, sampled_cross_entropy


@dataclass
class ObjectiveConfig:
    """``loss``: "ce" (full softmax) or "sampled_ce" (in-batch + popularity-sampled negatives, logQ)."""

    loss: str = "ce"
    max_len: int = 50
    n_negatives: int = 2048
    sample_alpha: float = 0.75
    logq: float = 1.0
    # The full softmax's three matrix products: "float32", or "bfloat16" copies (softmax and sums
    # stay float32; 1.6x faster on a CPU with AVX512-BF16); "auto" = bfloat16 where the device
    # has native bfloat16 instructions (rnnrec.device.resolve_precision), else float32.
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"objective.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"objective.loss must be one of {LOSSES}, got {self.loss!r}")
        if int(self.max_len) < 1:
            raise ConfigError(f"objective.max_len must be >= 1, got {self.max_len!r}")
        if int(self.n_negatives) < 0:
            raise ConfigError(f"objective.n_negatives must be >= 0, got {self.n_negatives!r}")


class NextItemObjective:
    def __init__(
        self,
        train: Sequences,
        n_items: int,
        config: ObjectiveConfig,
        batch_size: int,
        time_features: np.ndarray | None = None,
    ) -> None:
        """``time_features``: (N, 4) features of the events of ``train`` (time-aware models only)."""
        self.config = config
        self.items = train.items
        self.time_features = time_features
        self.windows = make_windows(train, config.max_len)
        if len(self.windows) == 0:
            raise ConfigError("no training sequence has 2 or more events: nothing to learn from")
        self.batch_size = batch_size
        self.n_items = n_items
        self.item_counts = np.bincount(train.items, minlength=n_items + 1)
        self.sampler: NegativeSampler | None = None

    @property
    def n_events(self) -> int:
        """Training targets per epoch."""
        return self.windows.n_targets

    def batches(self, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        if self.config.loss == "sampled_ce" and self.sampler is None:
            self.sampler = NegativeSampler(self.item_counts, self.config.sample_alpha, rng)
        for rows in iterate_batches(self.windows, self.batch_size, rng):
            idx, valid = window_index(self.windows, rows)
            batch = {
                "inputs": torch.from_numpy(np.where(valid, self.items[idx], 0)),
                "targets": torch.from_numpy(np.where(valid, self.items[idx + 1], 0)),
            }
            if self.time_features is not None:
                batch["time_in"] = torch.from_numpy(self.time_features[idx])
                batch["time_q"] = torch.from_numpy(self.time_features[idx + 1])
            yield batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = model(batch["inputs"], batch.get("time_in"), batch.get("time_q"))  # (B, T, D)
        mask = batch["targets"] > 0  # (B, T)
        h, targets = out[mask], batch["targets"][mask]  # (N, D), (N,)
        weights, bias = model.output_layer()
        if self.config.loss == "ce":
            low = resolve_precision(self.config.precision, h.device) == "bfloat16"
            return full_cross_entropy(h, targets, weights, bias, torch.bfloat16 if low else None)
        assert self.sampler is not None
        negatives = self.sampler.sample(self.config.n_negatives).to(h.device)
        return sampled_cross_entropy(
            h, targets, weights, bias, negatives, self.sampler.log_q.to(h.device), self.config.logq
        )
