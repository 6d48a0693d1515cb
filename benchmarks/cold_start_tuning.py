"""How the defaults of the ``cold_start`` model were chosen: cold-item Recall@20 of candidate
settings on cold splits other than the benchmark's (split seed 0 is never used here).

    .venv/bin/python benchmarks/cold_start_tuning.py --out benchmarks/results/cold-start-tuning \\
        --candidate "model.id_dropout=0.5 model.feature_mlp=false" \\
        --candidate "model.id_dropout=0.7 model.feature_mlp=true"

For each candidate, cold split seed and model seed: the ``loo`` split of ml-100k, 10 % of the
catalogue made cold (:func:`rnnrec.data.split.cold_item_split`), training with early stopping on
validation NDCG@10, then Recall@20 on the validation and test targets that are cold items
(pooled: about 170 targets per split, so one hit moves a split's figure by ~0.006). NDCG@10 on
all test targets shows what warm accuracy a candidate gives up. Each run is one JSON file in
``--out`` (finished runs are kept), so candidates can be spread across processes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from multimodal_benchmark import COLD_FRACTION, DATASETS, REPO  # benchmarks/multimodal_benchmark.py
from rnnrec.config import RecommenderConfig
from rnnrec.data.pipeline import attach_item_features, load_dataset
from rnnrec.data.split import cold_item_split, leave_one_out
from rnnrec.recommender import SequentialRecommender


def run(dataset, split, split_seed: int, model_seed: int, options: list[str]) -> dict:
    cold = cold_item_split(split, dataset.n_items, COLD_FRACTION, split_seed)
    valid = cold.split.valid
    cold_valid = valid.subset(np.flatnonzero(np.isin(valid.targets, cold.cold_items)))
    config = RecommenderConfig().with_overrides(["model.name=cold_start", f"train.seed={model_seed}", "progress=false",
                                                 *options])
    rec = SequentialRecommender(config).fit(dataset, cold.split)
    assert rec.train_result is not None
    v, t = rec.evaluate(cold_valid)["Recall@20"], rec.evaluate(cold.cold_test)["Recall@20"]
    n_v, n_t = len(cold_valid), len(cold.cold_test)
    return {"cold_recall@20": (v * n_v + t * n_t) / (n_v + n_t), "cold_hits": round(v * n_v + t * n_t),
            "n_cold_targets": n_v + n_t, "test_ndcg@10": rec.evaluate(cold.split.test)["NDCG@10"],
            "best_epoch": rec.train_result.best_epoch, "options": options, "split_seed": split_seed,
            "model_seed": model_seed, "random_recall@20": 20 / dataset.n_items}


def pooled(runs: list[dict]) -> tuple[int, int]:
    """Cold-target hits and targets over several runs."""
    return sum(r["cold_hits"] for r in runs), sum(r["n_cold_targets"] for r in runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidate", action="append", required=True, metavar='"KEY=VALUE ..."',
                    help="one setting to try: options separated by spaces (repeatable)")
    ap.add_argument("--split-seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--model-seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cold-start-tuning"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args(argv)
    if 0 in args.split_seeds:
        raise SystemExit("split seed 0 is the benchmark's cold split: tune on other seeds")
    torch.set_num_threads(args.threads)
    inter, meta = (Path(args.data_root) / f for f in DATASETS["ml-100k"])
    if not inter.exists() or not meta.exists():
        raise SystemExit(f"{inter} or {meta} not found")
    dataset = attach_item_features(load_dataset(inter), meta, config=RecommenderConfig().features)
    split = leave_one_out(dataset)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for candidate in args.candidate:
        options = candidate.split()
        runs = []
        for model_seed in args.model_seeds:
            for split_seed in args.split_seeds:
                path = out / f"{'_'.join(options)}-split{split_seed}-seed{model_seed}.json"
                if not path.exists():
                    path.write_text(json.dumps(run(dataset, split, split_seed, model_seed, options), indent=2))
                runs.append(json.loads(path.read_text()))
        hits, n = pooled(runs)
        per_seed = " / ".join(f"{np.divide(*pooled([r for r in runs if r['model_seed'] == s])):.4f}"
                              for s in args.model_seeds)
        print(f"{candidate}: cold Recall@20 {hits / n:.4f} ({hits}/{n} targets, "
              f"{hits / n / runs[0]['random_recall@20']:.1f}x random); per model seed {per_seed}; "
              f"NDCG@10 on all test targets {np.mean([r['test_ndcg@10'] for r in runs]):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
