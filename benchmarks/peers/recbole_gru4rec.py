"""RecBole 1.2.1 GRU4Rec (loss_type CE, its default config otherwise) on an exported `loo` split.

Run with the RecBole virtualenv:
``benchmarks/.envs/recbole/bin/python benchmarks/peers/recbole_gru4rec.py --split DIR --seed N --out DIR --epochs 2``

- Data: the split's events (training events, then the validation and the test target of every
  user) are written as one RecBole atomic file ``<workdir>/data/bench/bench.inter`` with
  ``timestamp`` = the exported position, so RecBole's time ordering (``order: TO``) is exactly
  rnnrec's event order. ``eval_args.split = {'LS': 'valid_and_test'}`` (RecBole's leave-one-out)
  then gives: training examples = every prefix of the training events, validation target = the
  second-to-last event with the training events as history, test target = the last event with
  training events + validation event as history. The runner asserts that RecBole's validation and
  test targets equal the exported ones, user by user.
- Config: RecBole's defaults (overall.yaml + GRU4Rec.yaml: embedding 64, hidden 128, 1 layer,
  dropout 0.3, loss CE, Adam lr 1e-3, batch 2048, MAX_ITEM_LIST_LENGTH 50, valid metric MRR@10,
  stopping_step 10, epochs 300). Overridden: ``epochs`` (``--epochs``; a cap, since RecBole is
  slow here), ``train_neg_sample_args: None`` (required by CE), the data location / columns /
  split above, ``device: cpu``, ``seed``, ``show_progress: False``.
- Test scores: ``model.full_sort_predict`` over RecBole's test dataloader (the full item table);
  items RecBole does not know score -inf. The best-validation checkpoint is restored first.

Compatibility shims (no site-packages patching): none needed with numpy 1.26.4 (RecBole's
configurator itself aliases ``np.float``/``np.int``/``np.bool``); ``ray`` (required by RecBole's
metadata, imported only by ``recbole.quick_start``) is not installed and not imported here; the
checkpoint is loaded with ``torch.load(..., weights_only=False)`` explicitly (torch >= 2.6 defaults
to ``weights_only=True``, which cannot read RecBole's checkpoints).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RankWriter, SplitFiles, load_split, save_output  # noqa: E402

warnings.filterwarnings("ignore")

import recbole  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.model.sequential_recommender import GRU4Rec  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import init_logger, init_seed  # noqa: E402


def write_atomic(sf, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for ev in (sf.train, sf.valid, sf.test):
        rows.extend(zip(ev.users, ev.items, ev.pos.tolist()))
    rows.sort(key=lambda r: (r[0], r[2]))
    with open(folder / "bench.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for u, i, p in rows:
            f.write(f"{u}\t{i}\t{p}\n")


def score_loader(model, loader, dataset, item_index, n_catalogue, expected: dict[str, str]) -> RankWriter:
    """Rank counts from full_sort_predict over a RecBole full-sort eval dataloader."""
    uid_tok = dataset.field2id_token[dataset.uid_field]
    iid_tok = dataset.field2id_token[dataset.iid_field]
    # RecBole internal item id -> catalogue column (id 0 is RecBole's padding token "[PAD]")
    rb_cols = np.arange(1, len(iid_tok))
    cat_cols = np.fromiter((item_index[str(t)] for t in iid_tok[1:]), dtype=np.int64, count=len(iid_tok) - 1)
    w = RankWriter(n_catalogue)
    model.eval()
    with torch.no_grad():
        for batch in loader:
            interaction = batch[0]
            scores = model.full_sort_predict(interaction).reshape(len(interaction), -1).cpu().numpy()
            users = [str(uid_tok[u]) for u in interaction[dataset.uid_field].tolist()]
            targets = [str(iid_tok[i]) for i in interaction[dataset.iid_field].tolist()]
            for u, t in zip(users, targets):
                if expected.get(u) != t:
                    raise AssertionError(f"RecBole target for user {u} is {t}, the split says {expected.get(u)}")
            full = np.full((len(users), n_catalogue), -np.inf, dtype=np.float64)
            full[:, cat_cols] = scores[:, rb_cols]
            w.add(users, np.array([item_index[t] for t in targets]), full)
    return w


INTER_COLS = ["user_id", "item_id", "timestamp"]
CONFIG_KEYS = ("embedding_size", "hidden_size", "num_layers", "dropout_prob", "loss_type", "learning_rate",
               "train_batch_size", "eval_batch_size", "MAX_ITEM_LIST_LENGTH", "valid_metric", "stopping_step",
               "epochs", "eval_args", "train_neg_sample_args")


def build_parser(doc: str) -> argparse.ArgumentParser:
    """The command line every RecBole runner shares (the harness calls them all the same way)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=2, help="epoch cap (RecBole default: 300 with stopping_step 10)")
    ap.add_argument("--workdir", default=None, help="RecBole data/log/checkpoint folder (default OUT/work)")
    ap.add_argument("--resume", default=None,
                    help="continue a stopped run from its best-validation checkpoint (RecBole saves only that one): "
                         "its epoch, weights, optimizer state and early-stopping counter; the epochs after it re-run")
    return ap


def prepare(args) -> tuple[SplitFiles, Path]:
    """Loads the split and writes it as ``<workdir>/data/bench/bench.inter``; returns (split, workdir)."""
    out = Path(args.out).resolve()
    work = Path(args.workdir).resolve() if args.workdir else out / "work"
    work.mkdir(parents=True, exist_ok=True)
    sf = load_split(Path(args.split).resolve())
    write_atomic(sf, work / "data" / "bench")
    return sf, work


def resume(trainer, model, checkpoint: Path) -> list[dict]:
    """Loads what ``Trainer.resume_checkpoint`` loads, but with ``weights_only=False`` (torch >= 2.6).

    Returns a record per epoch already run up to the checkpoint's; only the checkpoint's own epoch
    has a known validation score (the best one). New best epochs overwrite the same file.
    """
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    trainer.saved_model_file = str(checkpoint)
    trainer.start_epoch = ckpt["epoch"] + 1
    trainer.cur_step = ckpt["cur_step"]
    trainer.best_valid_score = ckpt["best_valid_score"]
    model.load_state_dict(ckpt["state_dict"])
    model.load_other_parameter(ckpt.get("other_parameter"))
    trainer.optimizer.load_state_dict(ckpt["optimizer"])
    print(f"resumed from {checkpoint}: epoch {ckpt['epoch'] + 1}, best valid {ckpt['best_valid_score']:.4f}", flush=True)
    records = [{"epoch": e + 1, "before_resume": True} for e in range(ckpt["epoch"] + 1)]
    records[-1]["valid_score"] = float(ckpt["best_valid_score"])
    return records


def run(args, sf: SplitFiles, work: Path, model_cls, extra_config: dict | None = None,
        extra_keys: tuple[str, ...] = (), extra_result: dict | None = None) -> None:
    """Trains ``model_cls`` on the files in ``<workdir>/data/bench`` and writes OUT/ranks.npz + OUT/result.json.

    ``extra_config`` is applied over the shared config (top-level keys replace); ``extra_keys`` are
    further config values to report; ``extra_result`` is merged into result.json.
    """
    out = Path(args.out).resolve()
    resume_from = Path(args.resume).resolve() if args.resume else None
    os.chdir(work)  # RecBole writes ./log and ./log_tensorboard relative to the cwd
    idx = sf.item_index

    config_dict = {
        "data_path": str(work / "data"),
        "checkpoint_dir": str(work / "saved"),
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": INTER_COLS},
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "epochs": args.epochs,
        "seed": args.seed,
        "device": "cpu",
        "use_gpu": False,
        "show_progress": False,
        **(extra_config or {}),
    }
    config = Config(model=model_cls.__name__, dataset="bench", config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)

    t_fit0 = time.perf_counter()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = model_cls(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)

    records: list[dict] = []
    orig_train, orig_valid = trainer._train_epoch, trainer._valid_epoch

    def timed_train(*a, **k):
        t0 = time.perf_counter()
        r = orig_train(*a, **k)
        records.append({"epoch": len(records) + 1, "train_seconds": time.perf_counter() - t0})
        print(f"epoch {len(records)}: train {records[-1]['train_seconds']:.1f}s", flush=True)
        return r

    def timed_valid(*a, **k):
        t0 = time.perf_counter()
        score, result = orig_valid(*a, **k)
        records[-1].update({"valid_seconds": time.perf_counter() - t0, "valid_score": float(score),
                            "valid_result": {k2: float(v) for k2, v in result.items()},
                            "seconds_since_fit": time.perf_counter() - t_fit0})
        print(f"epoch {len(records)}: valid {records[-1]['valid_seconds']:.1f}s {config['valid_metric']} {score:.4f}",
              flush=True)
        return score, result

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
    if args.resume:
        records.extend(resume(trainer, model, resume_from))
    trainer.fit(train_data, valid_data, saved=True, show_progress=False, verbose=True)
    fit_seconds = time.perf_counter() - t_fit0

    valid_scores = [r.get("valid_score", -np.inf) for r in records]
    best_epoch = len(valid_scores) - int(np.argmax(valid_scores[::-1]))  # last best: early_stopping keeps value >= best
    ckpt = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["state_dict"])
    model.load_other_parameter(ckpt.get("other_parameter"))

    n_targets = len(train_data._dataset)  # one training example per (prefix, next item) pair
    train_s = np.array([r["train_seconds"] for r in records if "train_seconds" in r])
    sec_per_epoch = float(train_s.mean())

    n_cat = len(sf.catalogue)
    t0 = time.perf_counter()
    w_test = score_loader(model, test_data, dataset, idx, n_cat, dict(zip(sf.test.users, sf.test.items)))
    eval_test = time.perf_counter() - t0
    t0 = time.perf_counter()
    w_valid = score_loader(model, valid_data, dataset, idx, n_cat, dict(zip(sf.valid.users, sf.valid.items)))
    eval_valid = time.perf_counter() - t0
    assert len(w_test.users) == len(sf.test) and len(w_valid.users) == len(sf.valid), (
        len(w_test.users), len(sf.test), len(w_valid.users), len(sf.valid))

    stopped_early = len(records) < args.epochs
    capped = not stopped_early
    save_output(
        out,
        {"test": w_test, "valid": w_valid},
        {
            "model": model_cls.__name__,
            "library": f"recbole {recbole.__version__}",
            "config": {k: config[k] for k in CONFIG_KEYS + extra_keys},
            "seed": args.seed,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "n_train_targets_per_epoch": int(n_targets),
            "n_recbole_items": int(dataset.item_num - 1),
            "epochs": len(records),
            "epoch_cap": args.epochs,
            "best_epoch": best_epoch,
            "seconds_per_epoch": sec_per_epoch,
            "seconds_per_epoch_median": float(np.median(train_s)),  # robust to epochs slowed by other processes
            "train_events_per_second": n_targets / sec_per_epoch,
            "seconds_to_best_epoch": records[best_epoch - 1].get("seconds_since_fit"),
            "train_seconds": fit_seconds,
            "eval_seconds": eval_test,
            "valid_eval_seconds": eval_valid,
            "stopped_early": stopped_early,
            "capped": capped,
            "note": f"capped at {args.epochs} epochs, not converged" if capped else "",
            "resumed_from": str(resume_from) if resume_from else None,
            "epoch_records": records,
            **(extra_result or {}),
        },
    )
    print(f"done: {len(records)} epochs, {n_targets / sec_per_epoch:,.0f} events/s", flush=True)


def main() -> None:
    args = build_parser(__doc__).parse_args()
    sf, work = prepare(args)
    run(args, sf, work, GRU4Rec)


if __name__ == "__main__":
    main()
