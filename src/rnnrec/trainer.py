"""Model-agnostic training loop: optimiser, seeding, progress, early stopping on a validation
metric, best-checkpoint keeping, and a clear stop when the loss stops being finite.

The trainer knows nothing about sequences or items: an *objective* gives it batches and turns a
batch into a loss, a *validate* callback turns the model into a score to maximise.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from rnnrec.device import denormals_flushed, resolve_device
from rnnrec.errors import ConfigError, TrainingError, require_at_least

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "adamw", "adagrad", "sgd")


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32  # sequences (windows of up to objective.max_len events) per step
    learning_rate: float = 3e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    grad_clip: float = 5.0  # max global gradient norm; 0 disables
    patience: int = 5  # stop after patience + 1 epochs in a row without a better validation score
    monitor: str = "NDCG@10"
    seed: int = 42
    device: str = "auto"
    progress: bool = True
    # CPU threads for torch (0 = torch's default, one per core). On a machine other jobs share,
    # fewer threads than cores keep threads from waiting on each other (ml-100k, one of 2 cores
    # busy: 4.8-5.5 s per epoch with 2 threads, 2.1-2.3 s with 1).
    threads: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        require_at_least("train", self, ("epochs", "batch_size"), 1)
        if not float(self.learning_rate) > 0:
            raise ConfigError(f"train.learning_rate must be > 0, got {self.learning_rate!r}")
        require_at_least("train", self, ("patience", "threads"), 0)


class Objective(Protocol):
    n_events: int

    def batches(self, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]: ...

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...


@dataclass
class TrainResult:
    best_epoch: int
    best_score: float
    epochs: int
    train_seconds: float
    seconds_to_best_epoch: float
    events_per_second: float  # training targets per second of pure training (validation excluded)
    seconds_per_epoch: float
    history: list[dict] = field(default_factory=list)
    precision: str | None = None  # of the training step's matrix products, where the trainer chooses it


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return the generator the data pipeline draws from."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


class EarlyStopping:
    """Keeps the weights of the best validation epoch so far and says when to stop: after
    ``patience`` + 1 epochs in a row without a better ``monitor`` score."""

    def __init__(self, monitor: str, patience: int) -> None:
        self.monitor, self.patience = monitor, patience
        self.score, self.epoch, self.seconds = float("nan"), 0, 0.0  # seconds: from the start to the best epoch's end
        self.state: dict | None = None
        self.bad_epochs = 0

    def update(self, model: nn.Module, epoch: int, metrics: dict[str, float], seconds: float) -> bool:
        """Record ``epoch``'s validation ``metrics``; True when training should stop."""
        score = metrics[self.monitor]
        if self.state is None or score > self.score:
            self.score, self.epoch, self.seconds, self.bad_epochs = score, epoch, seconds, 0
            self.state = copy.deepcopy(model.state_dict())
            return False
        self.bad_epochs += 1
        return self.bad_epochs > self.patience

    def last_epoch(self, epoch: int, seconds: float) -> None:
        """Without validation, the last epoch counts as the best (its weights are the model's)."""
        self.epoch, self.seconds = epoch, seconds

    def restore(self, model: nn.Module) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)


class Trainer:
    def __init__(self, config: TrainConfig | None = None) -> None:
        self.config = config or TrainConfig()
        self.device = resolve_device(self.config.device)

    def fit(
        self,
        model: nn.Module,
        objective: Objective,
        validate: Callable[[nn.Module], dict[str, float]] | None = None,
    ) -> TrainResult:
        """Train ``model`` in place; at the end it holds the weights of the best validation epoch."""
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        with denormals_flushed():
            return self._fit(model, objective, validate)

    def _fit(
        self,
        model: nn.Module,
        objective: Objective,
        validate: Callable[[nn.Module], dict[str, float]] | None,
    ) -> TrainResult:
        c = self.config
        rng = seed_everything(c.seed)
        model.to(self.device)
        optimizer = make_optimizer(c.optimizer, model.parameters(), c.learning_rate, c.weight_decay)
        best = EarlyStopping(c.monitor, c.patience)
        history: list[dict] = []
        train_time = 0.0
        t_start = time.perf_counter()
        for epoch in range(1, c.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            total, n = 0.0, 0
            bar = tqdm(
                objective.batches(rng),
                desc=f"epoch {epoch}",
                disable=None if c.progress else True,  # None: no bar when stderr is not a terminal
                leave=False,
                unit="batch",
            )
            for step, batch in enumerate(bar):
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                loss = objective.loss(model, batch)
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"loss became {loss.item()} at epoch {epoch}, step {step + 1}; "
                        f"try a lower train.learning_rate (now {c.learning_rate}) or train.grad_clip"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
                optimizer.step()
                total += loss.item()
                n += 1
                if c.progress and step % 20 == 0:
                    bar.set_postfix(loss=f"{total / n:.4f}")
            epoch_seconds = time.perf_counter() - t0
            train_time += epoch_seconds
            record = {"epoch": epoch, "loss": total / max(n, 1), "seconds": epoch_seconds}
            history.append(record)
            if validate is None:
                best.last_epoch(epoch, time.perf_counter() - t_start)
                continue
            record["valid"] = validate(model)
            log.info("epoch %d: loss %.4f, valid %s %.4f (%.1fs)", epoch, record["loss"], c.monitor,
                     record["valid"][c.monitor], epoch_seconds)
            if best.update(model, epoch, record["valid"], time.perf_counter() - t_start):
                break
        best.restore(model)
        epochs_run = len(history)
        return TrainResult(
            best_epoch=best.epoch,
            best_score=best.score,
            epochs=epochs_run,
            train_seconds=time.perf_counter() - t_start,
            seconds_to_best_epoch=best.seconds,
            events_per_second=objective.n_events * epochs_run / max(train_time, 1e-9),
            seconds_per_epoch=train_time / max(epochs_run, 1),
            history=history,
        )
