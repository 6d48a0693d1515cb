"""rnnrec's session-based recipe (``SessionGRU`` trained by ``fit_sessions``) under the ``loo``
protocol, set up like the official GRU4Rec row of ``loo_benchmark.py``, to compare the two
implementations of the same recipe on the same split:

- training: each user's training history is one session of the session-parallel mini-batches
  (users in file order, or by first timestamp), with the official RetailRocket BPR-max setting
  (224 units, shared embedding, batch 80, Adagrad 0.05 with Nesterov momentum 0.4, dropout 0.5 /
  0.05, 2048 negatives from popularity^0.4, BPR-max with ELU 0.5 and regulariser 1.95);
- early stopping: validation NDCG@10 after every one of 10 epochs; the best epoch is tested;
- scoring: each history is read from the empty state to its end (the state carried through all
  of it) and every catalogue item is scored; pessimistic ranks.

Run by the harness (``--models rnnrec_session``) with this project's own environment::

    .venv/bin/python benchmarks/rnnrec_session_loo.py --split SPLIT_DIR --seed 0 --out OUT
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from _common import RankWriter, load_split, metrics_from_ranks, rank_counts, save_output  # noqa: E402

from rnnrec.data.sequences import Sequences  # noqa: E402
from rnnrec.models.session_gru import SessionGRU, SessionGRUConfig  # noqa: E402
from rnnrec.session_trainer import SessionTrainConfig, fit_sessions  # noqa: E402

MODEL = SessionGRUConfig(loss="bpr-max", embedding="shared", hidden=224, dropout_embed=0.5, dropout_hidden=0.05,
                         logq=0.0, bpreg=1.95, elu_param=0.5)


def train_config(seed: int, epochs: int) -> SessionTrainConfig:
    return SessionTrainConfig(epochs=epochs, batch_size=80, optimizer="adagrad", learning_rate=0.05, momentum=0.4,
                              n_sample=2048, sample_alpha=0.4, seed=seed, device="cpu", progress=False)


def histories(sf, extra_valid: bool) -> tuple[list[str], Sequences]:
    """Users of the validation file, in its order, and their training items in time order as
    internal IDs (catalogue column + 1; 0 is padding), plus the validation item for the test."""
    col = sf.item_index
    order = np.lexsort((sf.train.pos, sf.train.users))
    per_user: dict[str, list[int]] = {}
    for j in order:
        per_user.setdefault(sf.train.users[j], []).append(col[sf.train.items[j]] + 1)
    users = list(sf.valid.users)
    seqs = [per_user.get(u, []) + ([col[v] + 1] if extra_valid else []) for u, v in zip(users, sf.valid.items)]
    return users, Sequences.from_lists(seqs)


@torch.no_grad()
def score(model: SessionGRU, seqs: Sequences, rows: np.ndarray) -> np.ndarray:
    """(B, catalogue) scores after each whole history of ``rows`` (each with >= 1 event)."""
    items, lengths = seqs.to_padded(rows, int(seqs.lengths[rows].max()))
    out = model.encode(torch.from_numpy(items))  # (B, T, H), right-padded
    last = out[torch.arange(len(rows)), torch.from_numpy(lengths - 1)]
    return model.score_all(last)[:, 1:].double().numpy()


def rank(model: SessionGRU, users: list[str], seqs: Sequences, targets: np.ndarray, n_catalogue: int,
         chunk: int = 256) -> RankWriter:
    """Rank counts of every target, histories of similar length side by side."""
    model.eval()
    writer = RankWriter(n_catalogue)
    order = np.argsort(seqs.lengths, kind="stable")
    cold = order[seqs.lengths[order] == 0]
    if len(cold):
        writer.add_cold([users[u] for u in cold], targets[cold])
    warm = order[seqs.lengths[order] > 0]
    for b in range(0, len(warm), chunk):
        rows = warm[b : b + chunk]
        writer.add([users[u] for u in rows], targets[rows], score(model, seqs, rows))
    return writer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    sf = load_split(args.split)
    n_catalogue = len(sf.catalogue)
    users, train = histories(sf, extra_valid=False)
    sessions = train.subset(np.flatnonzero(train.lengths >= 2))
    counts = np.bincount(train.items, minlength=n_catalogue + 1).astype(np.int64)
    valid_targets = np.array([sf.item_index[i] for i in sf.valid.items])
    torch.manual_seed(args.seed)
    model = SessionGRU(n_catalogue + 1, MODEL)
    best = {"ndcg": -1.0, "epoch": 0, "state": None, "seconds": 0.0}
    valid_seconds = []
    t_start = time.perf_counter()

    def validate(epoch: int) -> None:
        t0 = time.perf_counter()
        w = rank(model, users, train, valid_targets, n_catalogue)
        ndcg = metrics_from_ranks(1 + np.concatenate(w.n_higher) + np.concatenate(w.n_equal))["NDCG@10"]
        print(f"epoch {epoch}: valid NDCG@10 {ndcg:.4f}", flush=True)
        if ndcg > best["ndcg"]:
            best.update(ndcg=ndcg, epoch=epoch, state=copy.deepcopy(model.state_dict()),
                        seconds=time.perf_counter() - t_start)
        valid_seconds.append(time.perf_counter() - t0)

    result = fit_sessions(model, sessions, counts, train_config(args.seed, args.epochs), on_epoch=validate)
    train_seconds = time.perf_counter() - t_start
    model.load_state_dict(best["state"])

    writers, eval_s = {}, {}
    for name, ev, extra in (("valid", sf.valid, False), ("test", sf.test, True)):
        t0 = time.perf_counter()
        ev_users, seqs = histories(sf, extra_valid=extra)
        assert ev_users == list(ev.users)
        writers[name] = rank(model, ev_users, seqs, np.array([sf.item_index[i] for i in ev.items]), n_catalogue)
        eval_s[name] = time.perf_counter() - t0

    epoch_seconds = [h["seconds"] for h in result.history]
    n_targets = int(np.maximum(sessions.lengths - 1, 0).sum())
    save_output(args.out, writers, {
        "model": "rnnrec SessionGRU (session recipe, official RetailRocket BPR-max setting)",
        "config": {"model": vars(MODEL), "train": vars(train_config(args.seed, args.epochs)),
                   "protocol_note": "state carried through each user's whole history; best epoch on validation"},
        "seed": args.seed,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "n_train_targets_per_epoch": n_targets,
        "epochs": result.epochs,
        "best_epoch": best["epoch"],
        "seconds_per_epoch": float(np.mean(epoch_seconds)),
        "seconds_per_epoch_median": float(np.median(epoch_seconds)),
        "train_events_per_second": n_targets / float(np.mean(epoch_seconds)),
        "seconds_to_best_epoch": best["seconds"],
        "train_seconds": train_seconds,
        "eval_seconds": eval_s["test"],
        "valid_eval_seconds": eval_s["valid"],
        "n_catalogue": n_catalogue,
    })


if __name__ == "__main__":
    main()
