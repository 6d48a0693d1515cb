"""The OFFICIAL PyTorch GRU4Rec under the ``loo`` protocol: each user's training history is one
session, the hidden state is carried through all of it, and the next item is scored from there.

The official code is not part of this repository (its licence forbids redistribution): pass the
folder of your own checkout of https://github.com/hidasib/GRU4Rec_PyTorch_Official with
``--gru4rec-path``; its classes are imported from there, unchanged. Run with the env that
``bash benchmarks/setup_peers.sh gru4rec`` builds::

    benchmarks/.envs/gru4rec/bin/python benchmarks/peers/gru4rec_official_loo.py \\
        --gru4rec-path ~/src/GRU4Rec_PyTorch_Official --split SPLIT_DIR --seed 0 --out OUT

What it does:
- Training: ``GRU4Rec.fit`` on the training events (SessionId = user, Time = position), with the
  parameters of the official ``paramfiles/retailrocket_bprmax_shared_best.py`` (BPR-max, 224
  units, constrained embedding, batch 80, 10 epochs; ``--params`` picks another file of that
  folder) on the CPU, seeded like ``gru4rec_official.py`` seeds ``run.py``.
- Early stopping without changing the official training loop: ``fit`` pulls each epoch's
  mini-batches from ``SessionDataIterator.__call__``; a wrapper around that method scores the
  validation targets when an epoch's batches are used up (the model then holds that epoch's
  weights) and keeps a copy of the best epoch's weights (validation NDCG@10, pessimistic ties).
  All ``n_epochs`` run; the best epoch is the one scored on test.
- Scoring: every user's history (training events; for test also the validation item) is fed
  through the model's own ``embed`` and ``hidden_step`` from a zero state, 64 users of similar
  history length side by side (left-padded; a row's state is held at zero until its first
  event), and the last output is scored against every item with ``score_items``. Items never seen in training are
  unknown to the model (its item map) and score -inf; so are unknown items in a history skipped.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RankWriter, load_split, metrics_from_ranks, rank_counts, save_output  # noqa: E402


def load_params(path: Path) -> dict:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.gru4rec_params)


def histories(sf, extra_valid: bool) -> tuple[list[str], list[list[str]]]:
    """Users of the validation file, in its order, with their training items in time order (plus
    the validation item for the test targets)."""
    order = np.argsort(sf.train.pos, kind="stable")
    per_user: dict[str, list[tuple[int, str]]] = {}
    for j in order:
        per_user.setdefault(sf.train.users[j], []).append((int(sf.train.pos[j]), sf.train.items[j]))
    users = list(sf.valid.users)
    out = []
    for u, valid_item in zip(users, sf.valid.items):
        items = [it for _, it in sorted(per_user.get(u, []))]
        out.append(items + [valid_item] if extra_valid else items)
    return users, out


def score_histories(torch, model, itemidmap, seqs: list[list[str]], n_catalogue: int, columns: np.ndarray,
                    layers: list[int], chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(U, catalogue) scores after each history, and which rows had at least one known item.
    Users go through in chunks of similar history length (sorted), each chunk left-padded to its
    own longest history, so a few very long histories do not make every row step through them."""
    idx = [[int(itemidmap[it]) for it in s if it in itemidmap.index] for s in seqs]
    known = np.array([len(s) > 0 for s in idx])
    scores = np.full((len(seqs), n_catalogue), -np.inf)
    order = [u for u in np.argsort([len(s) for s in idx], kind="stable") if idx[u]]
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), chunk):
            rows = order[start : start + chunk]
            length = max(len(idx[u]) for u in rows)
            x = np.zeros((length, len(rows)), dtype=np.int64)
            mask = np.zeros((length, len(rows)), dtype=bool)
            for col, u in enumerate(rows):
                x[length - len(idx[u]):, col] = idx[u]
                mask[length - len(idx[u]):, col] = True
            H = [torch.zeros((len(rows), n), dtype=torch.float32) for n in layers]
            X, M = torch.from_numpy(x), torch.from_numpy(mask)[:, :, None].float()
            for t in range(length):
                E, O, B = model.embed(X[t], H, None)
                out = model.hidden_step(E, H, training=False)
                for i in range(len(H)):
                    H[i] = H[i] * M[t]  # a row before its first event stays at the zero state
            R = model.score_items(out, O, B).numpy()  # (rows, n_items of the model)
            block = np.full((len(rows), n_catalogue), -np.inf)
            block[:, columns] = R
            scores[rows] = block
    return scores, known


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gru4rec-path", required=True, help="folder of your checkout of GRU4Rec_PyTorch_Official")
    ap.add_argument("--params", default="retailrocket_bprmax_shared_best.py", help="a file of its paramfiles/ folder")
    ap.add_argument("--split", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    root = Path(args.gru4rec_path).expanduser().resolve()
    if not (root / "gru4rec_pytorch.py").is_file():
        sys.exit(f"--gru4rec-path {root}: no gru4rec_pytorch.py there (the official repository's folder is needed)")
    sys.path.insert(0, str(root))
    import pandas as pd
    import torch

    g4r = importlib.import_module("gru4rec_pytorch")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    sf = load_split(args.split)
    cat_index = sf.item_index
    params = load_params(root / "paramfiles" / args.params)
    gru = g4r.GRU4Rec(device=torch.device("cpu"))
    gru.set_params(**params)
    data = pd.DataFrame({"SessionId": pd.factorize(pd.Series(sf.train.users))[0].astype("int32"),
                         "ItemId": sf.train.items, "Time": sf.train.pos.astype(np.int64)})
    n_targets = int(len(data) - data["SessionId"].nunique())  # each session's events but its first
    _, valid_hist = histories(sf, extra_valid=False)
    valid_targets = np.array([cat_index[i] for i in sf.valid.items])
    best = {"ndcg": -1.0, "epoch": 0, "state": None, "seconds": 0.0}
    epochs_done = [0]
    clock = {"fit_start": 0.0, "epoch_start": 0.0}
    epoch_seconds: list[float] = []  # training only, validation excluded

    def validate() -> None:
        t0 = time.perf_counter()
        epoch_seconds.append(t0 - clock["epoch_start"])
        itemidmap = gru.data_iterator.itemidmap
        columns = np.array([cat_index[i] for i in itemidmap.index])
        scores, _ = score_histories(torch, gru.model, itemidmap, valid_hist, len(sf.catalogue), columns, gru.layers)
        _, n_higher, n_equal = rank_counts(scores, valid_targets)
        ndcg = metrics_from_ranks(1 + n_higher + n_equal)["NDCG@10"]
        epochs_done[0] += 1
        print(f"epoch {epochs_done[0]}: valid NDCG@10 {ndcg:.4f}", flush=True)
        now = time.perf_counter()
        if ndcg > best["ndcg"]:
            best.update(ndcg=ndcg, epoch=epochs_done[0], state=copy.deepcopy(gru.model.state_dict()),
                        seconds=now - clock["fit_start"])
        clock["epoch_start"] = time.perf_counter()

    official_call = g4r.SessionDataIterator.__call__

    def epoch_then_validate(self, *a, **kw):
        yield from official_call(self, *a, **kw)
        validate()

    g4r.SessionDataIterator.__call__ = epoch_then_validate
    clock["fit_start"] = clock["epoch_start"] = time.perf_counter()
    gru.fit(data)
    fit_seconds = time.perf_counter() - clock["fit_start"]
    if gru.error_during_train or best["state"] is None:
        sys.exit("training failed (NaN loss)")
    gru.model.load_state_dict(best["state"])

    itemidmap = gru.data_iterator.itemidmap
    columns = np.array([cat_index[i] for i in itemidmap.index])
    writers, eval_s = {}, {}
    for name, ev, extra in (("valid", sf.valid, False), ("test", sf.test, True)):
        t0 = time.perf_counter()
        users, hist = histories(sf, extra_valid=extra)
        assert users == list(ev.users)
        scores, _ = score_histories(torch, gru.model, itemidmap, hist, len(sf.catalogue), columns, gru.layers)
        w = RankWriter(len(sf.catalogue))
        targets = np.array([cat_index[i] for i in ev.items])
        w.add(users, targets, scores)
        writers[name] = w
        eval_s[name] = time.perf_counter() - t0

    save_output(args.out, writers, {
        "model": "GRU4Rec (official PyTorch implementation)",
        "library": f"GRU4Rec_PyTorch_Official at {root}",
        "config": {**params, "device": "cpu", "params_file": args.params,
                   "protocol_note": "hidden state carried through each user's whole history; best epoch on validation"},
        "seed": args.seed,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "n_train_targets_per_epoch": n_targets,
        "epochs": epochs_done[0],
        "best_epoch": best["epoch"],
        "seconds_per_epoch": float(np.mean(epoch_seconds)),
        "seconds_per_epoch_median": float(np.median(epoch_seconds)),
        "train_events_per_second": n_targets / float(np.mean(epoch_seconds)),
        "seconds_to_best_epoch": best["seconds"],
        "train_seconds": fit_seconds,
        "eval_seconds": eval_s["test"],
        "valid_eval_seconds": eval_s["valid"],
        "n_catalogue": len(sf.catalogue),
        "n_items_known": int(len(itemidmap)),
    })


if __name__ == "__main__":
    main()
