"""Two models' `loo` runs compared user by user, with a bootstrap interval over users.

Why: PROTOCOL.md §3 asks for a difference larger than the noise before claiming that A beats B.
With a few hundred test users, NDCG@10 of one run moves by ±0.008 from user sampling alone; a
paired comparison (each user's NDCG@10 under A minus under B, averaged over the seeds of each)
cancels what the users have in common and says how sure the difference is.

Each run folder is ``RUN/raw/DATASET/MODEL`` of ``loo_benchmark.py``, with one ``seedN`` folder per
seed: an rnnrec run (``seedN/model``, re-evaluated here from the saved model and the data file its
``metrics.json`` names) or a peer run (``seedN/ranks.npz``, as the harness scored it)::

    .venv/bin/python benchmarks/paired_comparison.py \\
        --a benchmarks/results/carry/raw/ml-100k/rnnrec \\
        --b benchmarks/results/b32-bf16-final/raw/ml-100k/gru4rec_official

prints, for validation and test, the mean NDCG@10 of A and of B over the users both ran, A − B,
and its 95 % bootstrap interval (users resampled with replacement).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

K = 10


def ndcg(ranks: np.ndarray) -> np.ndarray:
    """Per-target NDCG@10 of pessimistic ranks (1 = best)."""
    return np.where(ranks <= K, 1.0 / np.log2(ranks + 1.0), 0.0)


def rnnrec_ndcg(model_dir: Path) -> dict[str, dict[str, float]]:
    """{"valid"|"test": {user: NDCG@10}} of a saved rnnrec model on the split of its own data."""
    from rnnrec.data.pipeline import load_dataset
    from rnnrec.data.split import leave_one_out
    from rnnrec.evaluate import rank_targets
    from rnnrec.recommender import SequentialRecommender

    rec = SequentialRecommender.load(model_dir)
    data = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))["data"]
    dataset = load_dataset(data["path"], items=rec.items)
    split = leave_one_out(dataset)
    out = {}
    for name, ev in (("valid", split.valid), ("test", split.test)):
        ranks = rank_targets(rec.model, ev, rec.config.history_len)
        out[name] = dict(zip(dataset.users.to_external(ev.users), ndcg(ranks).tolist()))
    return out


def peer_ndcg(npz_path: Path) -> dict[str, dict[str, float]]:
    """The same from a peer's rank counts (``ranks.npz`` of the harness)."""
    z = np.load(npz_path)
    return {name: dict(zip(z[f"{name}_users"].tolist(), ndcg(1 + z[f"{name}_n_higher"] + z[f"{name}_n_equal"]).tolist()))
            for name in ("valid", "test")}


def seed_average(run: Path, seeds: list[int]) -> dict[str, dict[str, float]]:
    """Each user's NDCG@10 averaged over the seeds of ``run``."""
    per_seed = []
    for s in seeds:
        d = run / f"seed{s}"
        per_seed.append(rnnrec_ndcg(d / "model") if (d / "model" / "config.json").exists() else peer_ndcg(d / "ranks.npz"))
    return {name: {u: float(np.mean([p[name][u] for p in per_seed])) for u in per_seed[0][name]}
            for name in ("valid", "test")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", type=Path, required=True, help="run folder RUN/raw/DATASET/MODEL")
    ap.add_argument("--b", type=Path, required=True, help="run folder RUN/raw/DATASET/MODEL")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--boot", type=int, default=10_000, help="bootstrap resamples")
    args = ap.parse_args()
    a, b = seed_average(args.a, args.seeds), seed_average(args.b, args.seeds)
    rng = np.random.default_rng(0)
    print(f"A = {args.a}\nB = {args.b}\nseeds {args.seeds}, NDCG@10, users resampled {args.boot} times")
    print(f"{'':6} {'users':>6} {'A':>8} {'B':>8} {'A - B':>8}   95 % interval")
    for name in ("valid", "test"):
        users = sorted(set(a[name]) & set(b[name]))
        diff = np.array([a[name][u] - b[name][u] for u in users])
        boot = np.concatenate([diff[rng.integers(0, len(diff), size=(n, len(diff)))].mean(1)
                               for n in np.diff(np.r_[0:args.boot:500, args.boot])])  # 500 at a time: memory
        lo, hi = np.percentile(boot, [2.5, 97.5])
        print(f"{name:6} {len(users):6d} {np.mean([a[name][u] for u in users]):8.4f} "
              f"{np.mean([b[name][u] for u in users]):8.4f} {diff.mean():+8.4f}   [{lo:+.4f}, {hi:+.4f}]")


if __name__ == "__main__":
    main()
