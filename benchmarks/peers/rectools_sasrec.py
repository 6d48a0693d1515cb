"""RecTools 0.19.0 SASRecModel (softmax loss, documented defaults) on an exported `loo` split.

Run with the RecTools virtualenv:
``benchmarks/.envs/rectools/bin/python benchmarks/peers/rectools_sasrec.py --split DIR --seed N --out DIR``

- Model: ``SASRecModel()`` with its defaults (n_blocks=2, n_heads=4, n_factors=256, dropout 0.2,
  session_max_len=100, loss="softmax" i.e. full cross-entropy over the catalogue, lr 1e-3,
  batch_size 128). Only the number of epochs changes: instead of the default fixed 3 epochs it trains
  until the validation target stops improving, through RecTools' documented hooks:
  ``get_val_mask_func`` (the validation target = each user's last event of train+valid, which
  RecTools holds out of training and uses as validation fold) and ``get_trainer_func`` (a Lightning
  Trainer with an ``EarlyStopping`` callback). The monitored value is validation NDCG@10
  (full ranking over the model's items, pessimistic ties), computed from the validation logits by a
  callback; the weights of the best epoch are restored before testing (like ModelCheckpoint).
- Event order: ``Columns.Datetime`` = the exported position, so RecTools sees rnnrec's exact order.
- Test scores: the user's whole history before the test target (training events + validation event)
  is fed through RecTools' own recommend path (``transform_dataset_u2i`` → recommend dataloader →
  ``_get_user_item_embeddings``); scores = user embedding · item embeddings (the model's dot
  similarity), i.e. what ``recommend(k=#items, filter_viewed=False)`` ranks by. A check against
  the public ``recommend`` API on a few users is stored in result.json (``api_check``).
  Items RecTools never saw in training score -inf.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pytorch_lightning import Callback, LightningModule, Trainer, seed_everything
from pytorch_lightning.callbacks import EarlyStopping

import rectools
from rectools import Columns
from rectools.dataset import Dataset
from rectools.models import SASRecModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RankWriter, load_split, save_output  # noqa: E402

VAL_METRIC = "val_ndcg10"
_FIT_T0 = [0.0]


def last_event_per_user_mask(interactions: pd.DataFrame) -> np.ndarray:
    """Validation fold for RecTools: each user's last interaction (= the exported validation target)."""
    rank = (
        interactions.sort_values(Columns.Datetime, ascending=False, kind="stable")
        .groupby(Columns.User, sort=False)
        .cumcount()
    )
    return (rank.reindex(interactions.index) == 0).to_numpy()


class ValNDCGAndTiming(Callback):
    """Validation NDCG@10 from the validation logits (logged for EarlyStopping), epoch timings, best weights."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.best_value = -np.inf
        self.best_epoch = -1
        self.best_state: dict | None = None
        self._sum = 0.0
        self._n = 0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._t_epoch = time.perf_counter()
        self._t_last_batch = self._t_epoch
        self._n_batches = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._t_last_batch = time.perf_counter()
        self._n_batches += 1

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._t_val = time.perf_counter()
        self._sum, self._n = 0.0, 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        logits = outputs["logits"].detach().float()
        logits = logits.reshape(-1, logits.shape[-1]).clone()
        logits[:, 0] = -torch.inf  # padding token
        y = batch["y"][:, -1]
        t = logits.gather(1, y[:, None])
        rank = 1 + (logits > t).sum(1) + (logits == t).sum(1) - 1
        rank = rank.double()
        self._sum += float(torch.where(rank <= 10, 1.0 / torch.log2(rank + 1.0), torch.zeros_like(rank)).sum())
        self._n += int(len(y))

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = self._sum / max(self._n, 1)
        pl_module.log(VAL_METRIC, value, on_step=False, on_epoch=True)
        now = time.perf_counter()
        rec = {
            "epoch": len(self.records) + 1,
            "train_seconds": self._t_last_batch - self._t_epoch,
            "n_batches": self._n_batches,
            "valid_seconds": now - self._t_val,
            VAL_METRIC: value,
            "n_valid": self._n,
            "seconds_since_fit": now - _FIT_T0[0],
        }
        self.records.append(rec)
        if value > self.best_value:
            self.best_value = value
            self.best_epoch = rec["epoch"]
            self.best_state = copy.deepcopy(pl_module.torch_model.state_dict())
        print(f"epoch {rec['epoch']}: train {rec['train_seconds']:.1f}s valid {rec['valid_seconds']:.1f}s "
              f"{VAL_METRIC} {value:.4f} (best {self.best_value:.4f} @ {self.best_epoch})", flush=True)


    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking and self.records and "val_loss" in trainer.callback_metrics:
            self.records[-1]["val_loss"] = float(trainer.callback_metrics["val_loss"])

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.records and "train_loss" in trainer.callback_metrics:
            self.records[-1]["train_loss"] = float(trainer.callback_metrics["train_loss"])


def get_trainer(patience: int, max_epochs: int) -> Trainer:
    """Lightning trainer like RecTools' default one, plus early stopping on validation NDCG@10."""
    return Trainer(
        max_epochs=max_epochs,
        min_epochs=1,
        deterministic=False,  # RecTools default (SASRecModel(deterministic=False))
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
        devices=1,
        num_sanity_val_steps=0,
        callbacks=[ValNDCGAndTiming(), EarlyStopping(monitor=VAL_METRIC, mode="max", patience=patience)],
    )


def to_frame(users, items, pos) -> pd.DataFrame:
    return pd.DataFrame(
        {
            Columns.User: np.asarray(users, dtype=object),
            Columns.Item: np.asarray(items, dtype=object),
            Columns.Weight: 1.0,
            Columns.Datetime: pd.to_datetime(np.asarray(pos, dtype=np.int64), unit="s"),
        }
    )


def score_users(model: SASRecModel, history: pd.DataFrame, users: list[str], target_cols: np.ndarray,
                item_index: dict[str, int], n_catalogue: int, batch: int = 1024) -> tuple[RankWriter, dict, tuple]:
    """Full-catalogue scores for ``users`` given their ``history``; returns rank counts."""
    prep = model.data_preparator
    dataset = Dataset.construct(history)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec_ds = prep.transform_dataset_u2i(dataset, users)
    dl = prep.get_dataloader_recommend(rec_ds, model.recommend_batch_size)
    user_embs, item_embs = model.lightning_model._get_user_item_embeddings(dl, "cpu")  # noqa: SLF001
    user_embs, item_embs = user_embs.numpy(), item_embs.cpu().numpy()
    rec_users = list(rec_ds.user_id_map.external_ids)
    row_of = {u: i for i, u in enumerate(rec_users)}
    ext = prep.item_id_map.get_external_sorted_by_internal()
    n_extra = prep.n_item_extra_tokens
    model_cols = np.arange(n_extra, len(ext))
    cat_cols = np.fromiter((item_index[str(e)] for e in ext[n_extra:]), dtype=np.int64, count=len(ext) - n_extra)

    w = RankWriter(n_catalogue)
    users_arr = np.asarray(users, dtype=object)
    known = np.array([u in row_of for u in users], dtype=bool)
    if (~known).any():
        w.add_cold(list(users_arr[~known]), target_cols[~known])
    kn_users = list(users_arr[known])
    kn_targets = target_cols[known]
    kn_rows = np.array([row_of[u] for u in kn_users], dtype=np.int64)
    for s in range(0, len(kn_users), batch):
        scores = user_embs[kn_rows[s : s + batch]] @ item_embs.T  # (b, n_model_items + extra)
        full = np.full((scores.shape[0], n_catalogue), -np.inf, dtype=np.float64)
        full[:, cat_cols] = scores[:, model_cols]
        w.add(kn_users[s : s + batch], kn_targets[s : s + batch], full)
    info = {"n_users": len(users), "n_cold_users": int((~known).sum()), "n_model_items": int(len(cat_cols))}
    return w, info, (dataset, user_embs, item_embs, row_of, cat_cols, model_cols)


def api_check(model: SASRecModel, dataset: Dataset, users: list[str], user_embs, item_embs, row_of,
              cat_cols, model_cols, catalogue: list[str]) -> dict:
    """Compare our scores with the public recommend(k=#items, filter_viewed=False) on a few users."""
    users = [u for u in users if u in row_of][:8]
    n_items = len(cat_cols)
    reco = model.recommend(users=users, dataset=dataset, k=n_items, filter_viewed=False)
    max_diff, n_rows = 0.0, 0
    for u in users:
        r = reco[reco[Columns.User] == u]
        ours = user_embs[row_of[u]] @ item_embs.T
        ours_by_item = dict(zip((catalogue[c] for c in cat_cols), ours[model_cols]))
        diffs = np.abs(r[Columns.Score].to_numpy() - np.array([ours_by_item[str(i)] for i in r[Columns.Item]]))
        max_diff = max(max_diff, float(diffs.max()))
        n_rows += len(r)
    return {"n_users": len(users), "rows_per_user": n_rows / max(len(users), 1), "n_model_items": n_items,
            "max_abs_score_diff": max_diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--max-epochs", type=int, default=200)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)

    sf = load_split(args.split)
    idx = sf.item_index
    seed_everything(args.seed, workers=True)

    train = to_frame(sf.train.users, sf.train.items, sf.train.pos)
    valid = to_frame(sf.valid.users, sf.valid.items, sf.valid.pos)
    train_valid = pd.concat([train, valid], ignore_index=True)
    assert int(last_event_per_user_mask(train_valid).sum()) == len(valid)
    assert (train_valid[last_event_per_user_mask(train_valid)].sort_index()[Columns.Datetime].values
            == valid[Columns.Datetime].values).all()

    model = SASRecModel(
        get_val_mask_func=last_event_per_user_mask,
        get_trainer_func=get_trainer,
        get_trainer_func_kwargs={"patience": args.patience, "max_epochs": args.max_epochs},
    )
    try:
        config = model.get_config(simple_types=True)
    except Exception as e:  # pragma: no cover - informative only
        config = {"error": repr(e)}

    _FIT_T0[0] = time.perf_counter()
    model.fit(Dataset.construct(train_valid))
    fit_seconds = time.perf_counter() - _FIT_T0[0]
    cb = next(c for c in model.fit_trainer.callbacks if isinstance(c, ValNDCGAndTiming))
    model.lightning_model.torch_model.load_state_dict(cb.best_state)

    # Training targets per epoch, from the interactions RecTools actually trains on (after its
    # train_min_user_interactions filter and session_max_len + 1 truncation): a session of n items gives n - 1 targets.
    sizes = model.data_preparator.train_dataset.interactions.df.groupby(Columns.User).size()
    n_targets = int((sizes - 1).sum())
    train_s = np.array([r["train_seconds"] for r in cb.records])
    sec_per_epoch = float(train_s.mean())

    writers, infos, eval_s = {}, {}, {}
    n_cat = len(sf.catalogue)
    t0 = time.perf_counter()
    w, infos["test"], extra = score_users(model, train_valid, sf.test.users,
                                          np.array([idx[i] for i in sf.test.items]), idx, n_cat)
    writers["test"] = w
    eval_s["test"] = time.perf_counter() - t0
    check = api_check(model, extra[0], sf.test.users, *extra[1:], sf.catalogue)
    t0 = time.perf_counter()
    writers["valid"], infos["valid"], _ = score_users(model, train, sf.valid.users,
                                                      np.array([idx[i] for i in sf.valid.items]), idx, n_cat)
    eval_s["valid"] = time.perf_counter() - t0

    stopped_early = len(cb.records) < args.max_epochs
    save_output(
        args.out,
        writers,
        {
            "model": "SASRecModel",
            "library": f"rectools {rectools.__version__}",
            "config": config,
            "training": {"early_stopping": f"EarlyStopping(monitor={VAL_METRIC}, mode=max, patience={args.patience})",
                         "max_epochs": args.max_epochs, "best_weights_restored": True},
            "seed": args.seed,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "n_train_targets_per_epoch": n_targets,
            "n_train_users": int(len(sizes)),
            "epochs": len(cb.records),
            "best_epoch": cb.best_epoch,
            "best_valid_ndcg10_internal": cb.best_value,
            "seconds_per_epoch": sec_per_epoch,
            "seconds_per_epoch_median": float(np.median(train_s)),  # robust to epochs slowed by other processes
            "train_events_per_second": n_targets / sec_per_epoch,
            "seconds_to_best_epoch": cb.records[cb.best_epoch - 1]["seconds_since_fit"],
            "train_seconds": fit_seconds,
            "eval_seconds": eval_s["test"],
            "valid_eval_seconds": eval_s["valid"],
            "score_info": infos,
            "api_check": check,
            "stopped_early": stopped_early,
            "note": "" if stopped_early else f"hit max_epochs={args.max_epochs} (not converged)",
            "epoch_records": cb.records,
        },
    )
    print(f"done: {len(cb.records)} epochs, best {cb.best_epoch}, {n_targets / sec_per_epoch:,.0f} events/s, "
          f"api_check {check}", flush=True)


if __name__ == "__main__":
    main()
