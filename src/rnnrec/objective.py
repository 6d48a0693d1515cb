"""What a sequence model is trained to do: predict the next item at every position.

Turns training sequences into padded batches and a batch into a loss, for any model that maps
(B, T) items to (B, T, D) output vectors and exposes ``output_layer()`` (item vectors, biases).
The trainer only sees ``batches`` and ``loss``. Given per-event time features, batches also
carry ``time_in`` (features of each input event) and ``time_q`` (of each target event, i.e. of
the moment each prediction is made) for time-aware models.

With ``carry_state``, a window no longer starts from the empty state: it starts from the state
the same user's previous window ended in, as computed when that window was last trained (one
stored state per window, so batches stay shuffled). The model then learns from, and predicts
with, a user's whole history, as the original GRU4Rec does, at the cost of gradients that stop at
window boundaries and carried states up to an epoch old.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from rnnrec.data.batching import iterate_batches, make_windows, previous_windows, window_index
from rnnrec.data.sequences import Sequences
from rnnrec.device import require_precision, resolve_precision
from rnnrec.errors import ConfigError
from rnnrec.losses import LOSSES, NegativeSampler, full_cross_entropy, sampled_cross_entropy

WHOLE_HISTORY = 2**62  # a history_len longer than any history


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
    # Start each training window from the state the user's previous window ended in, and read
    # whole histories (not the last max_len events) to validate, evaluate and recommend.
    carry_state: bool = False

    @property
    def history_len(self) -> int:
        """How many of a history's last events the model reads to predict (all of them with
        ``carry_state``, as it was trained to)."""
        return WHOLE_HISTORY if self.carry_state else int(self.max_len)

    def __post_init__(self) -> None:
        require_precision(self.precision, "objective.precision")
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
        # carry_state: the window each one continues (-1: none), which windows are continued, and
        # the final state of every window when it was last trained.
        self.previous = previous_windows(self.windows) if config.carry_state else None
        self.continued = np.zeros(len(self.windows), dtype=bool)
        if self.previous is not None:
            self.continued[self.previous[self.previous >= 0]] = True
        self.final_states: torch.Tensor | None = None
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
            if self.previous is not None:
                batch["windows"] = torch.from_numpy(rows)
            if self.time_features is not None:
                batch["time_in"] = torch.from_numpy(self.time_features[idx])
                batch["time_q"] = torch.from_numpy(self.time_features[idx + 1])
            yield batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.previous is None:
            out = model(batch["inputs"], batch.get("time_in"), batch.get("time_q"))  # (B, T, D)
        else:
            out = self._carried_forward(model, batch)
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

    def _carried_forward(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``model(...)`` from each window's carried state; stores the windows' final states.

        A continued window shorter than its batch (a user's earliest) must not read the padding
        after it: the batch is encoded in segments that end where such windows end, the state
        carried from one segment to the next, so each one's final state is exact."""
        rows = batch["windows"]
        inputs, time_in = batch["inputs"], batch.get("time_in")
        if self.final_states is None or self.final_states.device != rows.device:
            self.final_states = model.initial_state(len(self.windows)).detach().to(rows.device)
        windows = rows.cpu().numpy()
        previous = torch.from_numpy(self.previous[windows]).to(rows.device)
        state = torch.where((previous >= 0)[:, None], self.final_states[previous.clamp(min=0)],
                            model.initial_state(len(windows)))  # a user's first window: the empty state
        lengths, T = self.windows.length[windows], inputs.shape[1]
        ends = np.unique(np.append(lengths[self.continued[windows]], T))
        pieces, begin = [], 0
        for end in ends.tolist():
            h, state = model.encode(inputs[:, begin:end], None if time_in is None else time_in[:, begin:end], state)
            pieces.append(h)
            done = torch.from_numpy(lengths == end).to(rows.device)
            self.final_states[rows[done]] = state[done].detach()
            begin = end
        return model.output_vectors(torch.cat(pieces, 1), batch.get("time_q"))
