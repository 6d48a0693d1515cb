"""Seconds per training epoch of several model variants on one dataset, measured cleanly.

Accuracy runs train to convergence and may share the machine; this script only times epochs:
each model trains ``--epochs`` epochs without validation, the models take turns for ``--rounds``
rounds (so machine noise hits them alike), and the median per model is reported relative to the
first model. Run it on a quiet machine (the report shows how much CPU other processes took).

    .venv/bin/python benchmarks/epoch_time.py --dataset ml-latest-small \\
        --models gru4rec time_interval time_gated time_decay --out benchmarks/results/time/epoch-time-mls.json
    .venv/bin/python benchmarks/epoch_time.py --dataset ml-100k --item-features \\
        --models gru4rec feature_fusion parallel_rnn cold_start --out benchmarks/results/multimodal/epoch-time-ml100k.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

import measure  # benchmarks/measure.py

from rnnrec.config import RecommenderConfig
from rnnrec.data.pipeline import attach_item_features, load_dataset
from rnnrec.data.split import Split, leave_one_out
from rnnrec.recommender import SequentialRecommender

REPO = Path(__file__).resolve().parent.parent
DATASETS = {
    "ml-100k": ("ml-100k/ml-100k.inter", "ml-100k/ml-100k.item"),
    "ml-latest-small": ("ml-latest-small/ratings.csv", "ml-latest-small/movies.csv"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=list(DATASETS))
    ap.add_argument("--models", nargs="+", required=True, help="model.name values; the first is the reference")
    ap.add_argument("--item-features", action="store_true", help="attach the dataset's item metadata (multimodal models)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    inter, meta = (Path(args.data_root) / f for f in DATASETS[args.dataset])
    dataset = load_dataset(inter)
    if args.item_features:
        dataset = attach_item_features(dataset, meta)
    split = leave_one_out(dataset)
    train_only = Split("loo", split.train, split.valid.subset(np.zeros(0, np.int64)), split.test)
    seconds: dict[str, list[float]] = {m: [] for m in args.models}
    others: list[float] = []
    for _ in range(args.rounds):
        for model in args.models:
            config = RecommenderConfig().with_overrides(
                [f"model.name={model}", f"train.epochs={args.epochs}", "progress=false", *args.set])
            rec, machine = measure.measured_call(lambda: SequentialRecommender(config).fit(dataset, train_only))
            assert rec.train_result is not None
            seconds[model].append(rec.train_result.seconds_per_epoch)
            others.append(machine["other_cpu_share"] or 0.0)
    ref = float(np.median(seconds[args.models[0]]))
    result = {
        "dataset": args.dataset, "epochs": args.epochs, "rounds": args.rounds, "threads": args.threads,
        "options": args.set, "machine": measure.machine_basics(REPO), "max_other_cpu_share": max(others),
        "seconds_per_epoch": {m: {"median": float(np.median(s)), "runs": s, "vs_first": float(np.median(s)) / ref}
                              for m, s in seconds.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for m, s in result["seconds_per_epoch"].items():
        print(f"{m:16s} {s['median']:7.2f} s/epoch  {s['vs_first']:.2f}×")
    print(f"other processes: up to {max(others):.0%} of the CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
