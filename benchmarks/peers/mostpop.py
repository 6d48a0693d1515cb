"""MostPop sanity baseline: score = number of training events of the item (same for every user).

Items with no training event score -inf (they tie at the bottom, like items a peer never saw).
Run with any Python that has numpy: ``python benchmarks/peers/mostpop.py --split DIR --seed N --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RankWriter, load_split, save_output  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--split", required=True)
    ap.add_argument("--seed", type=int, default=0, help="unused (MostPop is deterministic)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    sf = load_split(args.split)
    idx = sf.item_index
    t0 = time.perf_counter()
    train_cols = np.fromiter((idx[i] for i in sf.train.items), dtype=np.int64, count=len(sf.train))
    counts = np.bincount(train_cols, minlength=len(sf.catalogue)).astype(np.float64)
    scores_row = np.where(counts > 0, counts, -np.inf)
    train_s = time.perf_counter() - t0

    writers = {}
    eval_s = {}
    for name, ev in (("valid", sf.valid), ("test", sf.test)):
        t0 = time.perf_counter()
        w = RankWriter(len(sf.catalogue))
        targets = np.fromiter((idx[i] for i in ev.items), dtype=np.int64, count=len(ev))
        for s in range(0, len(ev), 2048):
            users = ev.users[s : s + 2048]
            w.add(users, targets[s : s + 2048], np.broadcast_to(scores_row, (len(users), len(scores_row))))
        writers[name] = w
        eval_s[name] = time.perf_counter() - t0

    save_output(
        args.out,
        writers,
        {
            "model": "MostPop",
            "library": "none (benchmarks/peers/mostpop.py)",
            "config": {"score": "training-event count per item; unseen items -inf"},
            "seed": args.seed,
            "train_seconds": train_s,
            "epochs": 0,
            "eval_seconds": eval_s["test"],
            "valid_eval_seconds": eval_s["valid"],
            "n_catalogue": len(sf.catalogue),
            "n_items_known": int((counts > 0).sum()),
        },
    )


if __name__ == "__main__":
    main()
