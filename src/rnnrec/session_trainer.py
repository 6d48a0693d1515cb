"""GRU4Rec's training recipe: session-parallel mini-batches, one optimiser step per event column.

Each step feeds one event per slot, scores the slot's next item against the other targets of
the mini-batch plus ``n_sample`` shared popularity-sampled negatives, and updates only the item
rows the step touched. The hidden state is carried from step to step without back-propagating
through earlier steps (which the GRU4Rec papers found unnecessary for sessions) and restarts
from zero in a slot whenever a new session enters it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnrec.data.sequences import Sequences
from rnnrec.data.sessions import (
    SessionSchedule,
    cut_long_sequences,
    order_by_start,
    session_parallel_schedule,
    short_sessions_last,
)
from rnnrec.device import denormals_flushed, require_precision, resolve_device, resolve_precision
from rnnrec.errors import ConfigError, TrainingError, require_at_least
from rnnrec.models.gru_cell import gru_cell_backward, padded_copy, product
from rnnrec.models.session_gru import SessionGRU, StepTrace
from rnnrec.models.session_recipe_gru import SessionRecipeGRU
from rnnrec.optim import OPTIMIZERS, RowSparseOptimizer
from rnnrec.session_losses import (
    SampleStore,
    bpr_max,
    bpr_max_grad,
    cross_entropy_logq,
    cross_entropy_logq_grad,
    top1_max,
)
from rnnrec.trainer import EarlyStopping, TrainResult

log = logging.getLogger("rnnrec")


@dataclass
class SessionTrainConfig:
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adagrad"  # adagrad (with Nesterov momentum) | adam; both update touched rows only
    learning_rate: float = 0.1
    momentum: float = 0.0  # Adagrad's Nesterov momentum (0 = off)
    # Sessions in a new random order each epoch instead of by start time (GRU4Rec's order, which
    # keeps the newest sessions last); the last few to start are short ones (short_sessions_last).
    shuffle: bool = False
    n_sample: int = 2048  # extra negatives shared by a mini-batch (0 = in-batch negatives only)
    sample_alpha: float = 0.75  # negatives drawn from popularity ** sample_alpha
    sample_store_size: int = 10_000_000  # negatives drawn per refill of the sample store
    seed: int = 42
    device: str = "auto"
    threads: int = 0  # CPU threads for torch (0 = leave torch's default)
    dense_catalogue_limit: int = 50_000  # on a GPU, score every item when the catalogue is this small
    # The step's matrix products: "float32", or "bfloat16" copies (gates, losses, sums and the
    # optimiser stay float32); "auto" = bfloat16 where the device has native bfloat16 instructions.
    # float32 here: at GRU4Rec's RSC15 setting (100 units, batch 32) bfloat16 was slower on a CPU
    # with native bfloat16 (0.81x the events/s in benchmarks/README.md).
    precision: str = "float32"
    progress: bool = True

    def __post_init__(self) -> None:
        require_precision(self.precision, "train.precision")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        require_at_least("train", self, ("epochs", "batch_size"), 1)
        if self.n_sample < 0 or self.sample_store_size < 1 or self.threads < 0:
            raise ConfigError("train.n_sample and train.threads must be >= 0, train.sample_store_size >= 1")
        if not self.learning_rate > 0:
            raise ConfigError(f"train.learning_rate must be > 0, got {self.learning_rate!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"train.momentum must be in [0, 1), got {self.momentum!r}")


@dataclass
class SessionTrainResult:
    epochs: int
    train_seconds: float
    events_per_second: float  # training targets (next-item predictions) per second
    seconds_per_epoch: float
    precision: str = "float32"  # of the step's matrix products
    history: list[dict] = field(default_factory=list)


def fit_sessions(
    model: SessionGRU,
    sessions: Sequences,
    item_counts: np.ndarray,
    config: SessionTrainConfig,
    on_epoch: Callable[[int], bool | None] | None = None,
) -> SessionTrainResult:
    """Train ``model`` on ``sessions`` (each >= 2 events), ordered by start time, or in a new
    random order each epoch with ``config.shuffle``.

    ``on_epoch(epoch)`` runs after each epoch, outside the timed training (e.g. to validate and
    keep the best weights); the model is back in training mode afterwards. Training stops early
    when it returns True."""
    if config.threads:
        torch.set_num_threads(config.threads)
    with denormals_flushed():
        return _fit(model, sessions, item_counts, config, on_epoch)


def _fit(model: SessionGRU, sessions: Sequences, item_counts: np.ndarray, config: SessionTrainConfig,
         on_epoch: Callable[[int], bool | None] | None = None) -> SessionTrainResult:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = resolve_device(config.device)
    model.to(device).train()
    shuffler = np.random.default_rng(config.seed)

    def epoch_schedule() -> SessionSchedule:
        if config.shuffle:
            order = short_sessions_last(shuffler.permutation(len(sessions)), sessions.lengths, config.batch_size)
        else:
            order = order_by_start(sessions)
        return session_parallel_schedule(sessions.subset(order), config.batch_size)

    schedule = epoch_schedule()
    if schedule.n_steps == 0:
        raise TrainingError("no training session has 2 or more events")
    store = SampleStore(item_counts, config.n_sample, config.sample_alpha, config.sample_store_size, generator, device)
    tables = [model.item_out, model.item_bias] + ([model.item_in] if model.item_in is not None else [])
    others = [p for name, p in model.named_parameters() if not name.startswith("item_")]
    opt = RowSparseOptimizer(others, tables, config.optimizer, config.learning_rate, config.momentum)
    whole_catalogue = device.type == "cuda" and model.n_items <= config.dense_catalogue_limit
    if whole_catalogue:  # autograd, float32
        step_fn: _StepFunction | _WholeCatalogueStep = _WholeCatalogueStep(model, store, opt, config.batch_size)
        precision = "float32"
        if config.precision == "bfloat16":
            log.warning("train.precision = bfloat16: a catalogue of up to train.dense_catalogue_limit items "
                        "trains on the GPU in float32 (whole-catalogue step)")
    else:
        precision = resolve_precision(config.precision, device, "train.precision")
        dtype = torch.bfloat16 if precision == "bfloat16" else None
        step_fn = _StepFunction(model, store, opt, config.batch_size, dtype)
    n_targets = schedule.n_targets
    history: list[dict] = []
    total = 0.0
    for epoch in range(1, config.epochs + 1):
        if epoch == 1 or config.shuffle:  # a fixed order's arrays are built once
            if epoch > 1:
                schedule = epoch_schedule()
            inputs = torch.as_tensor(schedule.inputs, device=device)
            targets = torch.as_tensor(schedule.targets, device=device)
            keep = torch.as_tensor(~schedule.resets, dtype=torch.float32, device=device).unsqueeze(-1)
            full = (schedule.targets >= 0).all(axis=1)
        t0 = time.perf_counter()
        state = model.initial_state(inputs.shape[1], device)
        loss_sum = torch.zeros((), device=device)
        bar = tqdm(range(schedule.n_steps), desc=f"epoch {epoch}", leave=False, disable=None if config.progress else True,
                   mininterval=1.0, unit="step")  # disable=None: no bar when stderr is not a terminal
        for t in bar:
            if full[t]:
                loss, state = step_fn(inputs[t], targets[t], state * keep[t])
            else:
                active = torch.nonzero(targets[t] >= 0).squeeze(1)
                loss, new = step_fn(inputs[t, active], targets[t, active], (state * keep[t])[:, active])
                state = state.clone()
                state[:, active] = new
            loss_sum += loss
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        total += seconds
        mean_loss = float(loss_sum) / schedule.n_steps
        if not math.isfinite(mean_loss):
            raise TrainingError(f"epoch {epoch}: the loss became {mean_loss}; lower train.learning_rate")
        history.append({"epoch": epoch, "loss": mean_loss, "seconds": seconds, "events_per_second": n_targets / seconds})
        log.info("epoch %d  loss %.4f  %.1fs  %.0f events/s", epoch, mean_loss, seconds, n_targets / seconds)
        if on_epoch is not None:
            stop = on_epoch(epoch)
            model.train()
            if stop:
                break
    model.eval()
    return SessionTrainResult(
        epochs=len(history),
        train_seconds=total,
        events_per_second=n_targets * len(history) / total,
        seconds_per_epoch=total / len(history),
        precision=precision,
        history=history,
    )


def _loss(
    model: SessionGRU,
    scores: torch.Tensor,
    positives: torch.Tensor,
    batch_counts: torch.Tensor,
    sample_counts: torch.Tensor,
    log_popularity: torch.Tensor | None,
    sample_alpha: float,
) -> torch.Tensor:
    """The configured loss over distinct candidates (columns of ``scores``) with their counts."""
    cfg = model.config
    if cfg.loss == "cross-entropy":
        return cross_entropy_logq(scores, positives, batch_counts, sample_counts, log_popularity, cfg.logq, sample_alpha)
    counts = batch_counts + sample_counts
    if cfg.loss == "bpr-max":
        return bpr_max(scores, positives, counts, cfg.bpreg)
    return top1_max(scores, positives, counts)


class _StepFunction:
    """One optimiser step for one column of events; item tables are read and written by row.

    The gradient is written out (:func:`_loss_and_grad`, :mod:`rnnrec.models.gru_cell`): the step
    back-propagates through one GRU step and one score matrix only, and doing that by hand instead
    of recording it for autograd trains the default model on ml-100k at 1.4–1.6× the events per
    second (2 cores). ``_WholeCatalogueStep`` (autograd) is the reference the tests hold it to.
    """

    def __init__(self, model: SessionGRU, store: SampleStore, opt: RowSparseOptimizer, batch_size: int,
                 dtype: torch.dtype | None = None) -> None:
        self.model, self.store, self.opt, self.batch_size = model, store, opt, batch_size
        self.dtype = dtype  # the matrix products' (bfloat16 copies), None for float32
        self.shared = model.config.embedding == "shared"
        self.dense_unique_limit = 8 * (store.n_sample + 256)

    def _unique(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sorted distinct values and the inverse map. For catalogues up to a few times the
        candidate count, a bincount over the catalogue beats sorting the candidates."""
        n = self.model.n_items
        if n > self.dense_unique_limit:
            return torch.unique(index, return_inverse=True)
        present = torch.bincount(index, minlength=n) > 0
        position = torch.cumsum(present, 0) - 1
        return torch.nonzero(present).squeeze(1), position.index_select(0, index)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        model, cfg, B = self.model, self.model.config, x.shape[0]
        candidates = torch.cat([y, self.store.next()])
        # Each distinct touched row is gathered once; the optimiser then updates those rows only.
        if self.shared:
            rows, inverse = self._unique(torch.cat([x, candidates]))
            in_index, cand_index = inverse[:B], inverse[B:]
        else:
            rows, cand_index = self._unique(candidates)
            in_rows_idx, in_index = self._unique(x)
        out_rows = model.item_out.index_select(0, rows)
        bias_rows = model.item_bias.index_select(0, rows)
        inp = (out_rows if self.shared else model.item_in.index_select(0, in_rows_idx)).index_select(0, in_index)
        positives = cand_index[:B]
        batch_counts = torch.bincount(positives, minlength=rows.shape[0]).to(out_rows.dtype)
        sample_counts = torch.bincount(cand_index[B:], minlength=rows.shape[0]).to(out_rows.dtype)

        dtype = self.dtype
        trace = StepTrace(dtype)  # forward, keeping what the backward needs
        out, new_state = model.step(inp, state, trace)
        n_rows, H = out_rows.shape
        if dtype is None:
            linear = torch.addmm(bias_rows, out, out_rows.T)
        else:  # each copy serves two products
            out, out_rows = padded_copy(out, dtype), padded_copy(out_rows, dtype)
            linear = product(out, out_rows.T, dtype, (B, n_rows)).add_(bias_rows)
        scores = model.final_activation(linear)
        log_pop = self.store.log_popularity.index_select(0, rows) if cfg.loss == "cross-entropy" else None
        loss, d_scores = _loss_and_grad(model, scores, positives, batch_counts, sample_counts, log_pop, self.store.alpha)

        # Backward. Summed over the rows and divided by the mini-batch size (also when fewer slots
        # are active): GRU4Rec's gradient scale, which sets how much Adagrad's eps weighs.
        d_scores.mul_(B / self.batch_size)
        if scores is not linear:  # ELU, differentiated through its output
            d_scores = torch.ops.aten.elu_backward(d_scores, cfg.elu_param, 1, 1, True, scores)
        d_bias_rows = d_scores.sum(dim=0)
        if dtype is not None:
            d_scores = padded_copy(d_scores, dtype)
        d_out_rows = product(d_scores.T, out, dtype, (n_rows, H))
        grad = product(d_scores, out_rows, dtype, (B, H))
        for cell, layer in zip(reversed(model.cells), reversed(trace.layers)):
            if layer.dropout_mask is not None:
                grad = grad * layer.dropout_mask
            d_gi, d_gh = gru_cell_backward(grad, layer.cache)
            cell.weight_hh.grad = product(d_gh.T, layer.cache.h, dtype)
            cell.bias_hh.grad = d_gh.sum(dim=0)
            cell.bias_ih.grad = d_gi.sum(dim=0)
            if layer.one_hot:
                grad = d_gi
            else:
                cell.weight_ih.grad = product(d_gi.T, layer.input, dtype)
                grad = product(d_gi, cell.weight_ih, dtype)
        if trace.embed_mask is not None:
            grad = grad * trace.embed_mask
        self.opt.step_dense()
        if self.shared:
            d_out_rows.index_add_(0, in_index, grad)
        else:
            d_in_rows = torch.zeros(in_rows_idx.shape[0], grad.shape[1], dtype=grad.dtype, device=grad.device)
            self.opt.step_rows(model.item_in, in_rows_idx, d_in_rows.index_add_(0, in_index, grad))
        self.opt.step_rows(model.item_out, rows, d_out_rows)
        self.opt.step_rows(model.item_bias, rows, d_bias_rows)
        return loss, new_state


def _loss_and_grad(
    model: SessionGRU,
    scores: torch.Tensor,
    positives: torch.Tensor,
    batch_counts: torch.Tensor,
    sample_counts: torch.Tensor,
    log_popularity: torch.Tensor | None,
    sample_alpha: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The configured loss and its gradient with respect to ``scores`` (written out for
    cross-entropy and BPR-max; through autograd on the score matrix alone for TOP1-max)."""
    cfg = model.config
    if cfg.loss == "cross-entropy":
        return cross_entropy_logq_grad(scores, positives, batch_counts, sample_counts, log_popularity, cfg.logq,
                                       sample_alpha)
    if cfg.loss == "bpr-max":
        return bpr_max_grad(scores, positives, batch_counts + sample_counts, cfg.bpreg)
    with torch.enable_grad():
        leaf = scores.detach().requires_grad_()
        loss = _loss(model, leaf, positives, batch_counts, sample_counts, log_popularity, sample_alpha)
        loss.backward()
    return loss.detach(), leaf.grad


class _WholeCatalogueStep:
    """The GPU form of the same step for catalogues that fit: score every item at once.

    Items that are not candidates get a count of 0 (a -inf logit), so the loss equals the
    sampled one exactly; but every tensor keeps a fixed shape and nothing waits on the GPU
    (no ``unique``/``nonzero``), so steps queue back to back. Untouched rows get a zero gradient
    and, through the ``touched`` mask, no optimiser change.
    """

    def __init__(self, model: SessionGRU, store: SampleStore, opt: RowSparseOptimizer, batch_size: int) -> None:
        self.model, self.store, self.opt, self.batch_size = model, store, opt, batch_size

    def __call__(self, x: torch.Tensor, y: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        model = self.model
        samples = self.store.next()
        zeros = torch.zeros(model.n_items, device=x.device)
        batch_counts = zeros.index_add(0, y, torch.ones_like(y, dtype=zeros.dtype))
        sample_counts = zeros.index_add(0, samples, torch.ones_like(samples, dtype=zeros.dtype))
        touched = (batch_counts + sample_counts) > 0  # output rows: the candidates (and the inputs when they share the table)
        out_rows = model.item_out.detach().requires_grad_()
        bias_rows = model.item_bias.detach().requires_grad_()
        if model.item_in is None:
            touched = touched.index_fill_(0, x, True)
            inp = out_rows.index_select(0, x)
        else:
            in_rows = model.item_in.detach().requires_grad_()
            inp = in_rows.index_select(0, x)
        out, new_state = model.step(inp, state)
        scores = model.final_activation(torch.addmm(bias_rows, out, out_rows.T))
        loss = _loss(model, scores, y, batch_counts, sample_counts, self.store.log_popularity, self.store.alpha)
        self.opt.zero_grad()
        (loss * (y.shape[0] / self.batch_size)).backward()  # the scale of the touched-rows step
        self.opt.step_dense()
        self.opt.step_masked(model.item_out, out_rows.grad, touched)
        self.opt.step_masked(model.item_bias, bias_rows.grad, touched)
        if model.item_in is not None:
            touched_in = torch.zeros_like(touched).index_fill_(0, x, True)
            self.opt.step_masked(model.item_in, in_rows.grad, touched_in)
        return loss.detach(), new_state.detach()


@dataclass
class SessionRecipeTrainConfig(SessionTrainConfig):
    """How ``model.name = "session_gru"`` trains on user histories (``loo`` / ``time`` protocols):
    the session trainer's options, GRU4Rec's published RetailRocket values as defaults (batch 80,
    Adagrad 0.05 with Nesterov momentum 0.4, negatives from popularity^0.4), plus early stopping
    on validation ``monitor``."""

    batch_size: int = 80
    learning_rate: float = 0.05
    momentum: float = 0.4
    sample_alpha: float = 0.4
    shuffle: bool = True  # users side by side in a new random order each epoch
    # At 224 units and batch 80, bfloat16 products train 1.07-1.08x faster on a CPU with native
    # bfloat16 instructions, test NDCG@10 equal within noise (benchmarks/README.md).
    precision: str = "auto"
    patience: int = 3  # stop after patience + 1 epochs in a row without a better validation score
    monitor: str = "NDCG@10"
    # Histories longer than this are trained as consecutive pieces of at most this many events
    # (each from the empty state; 0 = whole histories). One very long history otherwise sets the
    # length of every epoch, running one event per step while the other slots stay empty.
    max_session_len: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least("train", self, ("patience", "max_session_len"), 0)
        if self.max_session_len == 1:
            raise ConfigError("train.max_session_len must be 0 (whole histories) or >= 2 events")


def fit_session_recipe(
    model: SessionRecipeGRU,
    histories: Sequences,
    config: SessionRecipeTrainConfig,
    validate: Callable[[SessionRecipeGRU], dict[str, float]] | None = None,
) -> TrainResult:
    """Train on users' histories, each one session of the session-parallel mini-batches, with
    early stopping on ``validate``; afterwards the model holds the best epoch's weights."""
    if config.max_session_len:
        sessions = cut_long_sequences(histories, config.max_session_len - 1)
    else:
        sessions = histories.subset(np.flatnonzero(histories.lengths >= 2))
    counts = np.bincount(histories.items, minlength=model.n_items + 1).astype(np.int64)
    best = EarlyStopping(config.monitor, config.patience)
    valid: list[dict[str, float]] = []
    t_start = time.perf_counter()

    def on_epoch(epoch: int) -> bool:
        if validate is None:
            best.last_epoch(epoch, time.perf_counter() - t_start)
            return False
        valid.append(validate(model))
        log.info("epoch %d: valid %s %.4f", epoch, config.monitor, valid[-1][config.monitor])
        return best.update(model, epoch, valid[-1], time.perf_counter() - t_start)

    result = fit_sessions(model.net, sessions, counts, config, on_epoch)
    best.restore(model)
    model.eval()
    history = [{**h, "valid": v} for h, v in zip(result.history, valid)] if valid else result.history
    return TrainResult(
        best_epoch=best.epoch,
        best_score=best.score,
        epochs=result.epochs,
        train_seconds=time.perf_counter() - t_start,
        seconds_to_best_epoch=best.seconds,
        events_per_second=result.events_per_second,
        seconds_per_epoch=result.seconds_per_epoch,
        history=history,
        precision=result.precision,
    )
