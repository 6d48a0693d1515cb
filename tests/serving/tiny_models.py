"""Tiny models for the serving tests, trained on a generated timed cycle log."""

from pathlib import Path

import numpy as np
import polars as pl

from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.recommender import SequentialRecommender


def timed_cycle_log(n_users=30, length=8, seed=0) -> pl.DataFrame:
    """Generated: users walk the cycle i0 -> i1 -> ... -> i5 -> i0, one event every 1-1000 minutes."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start, t = int(rng.integers(6)), 1.6e9 + float(rng.integers(10**6))
        for k in range(length):
            t += 60.0 * float(rng.integers(1, 1000))
            rows.append((f"u{u}", f"i{(start + k) % 6}", t))
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def train_tiny(name: str, folder: Path) -> Path:
    size = ["hidden=8", "n_sample=4"] if name == "session_gru" else ["embedding_dim=8", "hidden_size=8"]
    config = RecommenderConfig().with_overrides([
        f"model.name={name}", *size, "epochs=2", "batch_size=16", "progress=false", "device=cpu",
    ])
    return SequentialRecommender(config).fit(SequenceDataset.from_interactions(timed_cycle_log())).save(folder / "model")
