"""``rnnrec demo``: MovieLens latest-small, default configuration, end to end in a few minutes."""

from __future__ import annotations

import logging
import time

from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.download import locate_movielens_small
from rnnrec.data.io import read_interactions
from rnnrec.data.metadata import read_item_titles
from rnnrec.data.split import leave_one_out
from rnnrec.recommender import SequentialRecommender

log = logging.getLogger(__name__)


def run_demo(data_dir: str | None = None, epochs: int | None = 10, quiet: bool = False, n_users: int = 3) -> int:
    folder = locate_movielens_small(data_dir, progress=not quiet)
    print(f"MovieLens latest-small from {folder}")
    dataset = SequenceDataset.from_interactions(read_interactions(folder / "ratings.csv", format="ml-latest"))
    titles = read_item_titles(folder / "movies.csv")
    print(f"{dataset.n_users} users, {dataset.n_items} movies, {dataset.sequences.n_events} ratings")
    split = leave_one_out(dataset)
    config = RecommenderConfig()
    config.train.progress = not quiet
    if epochs is not None:
        config.train.epochs = epochs
        print(f"training at most {epochs} epochs (early stopping on validation NDCG@10)")
    t0 = time.perf_counter()
    rec = SequentialRecommender(config).fit(dataset, split)
    result = rec.train_result
    assert result is not None
    print(f"trained in {time.perf_counter() - t0:.0f}s (best epoch {result.best_epoch} of {result.epochs})")
    test = rec.evaluate(split.test)
    print(f"test, leave-one-out, full ranking over {dataset.n_items} movies, {len(split.test)} users:")
    print("  " + "  ".join(f"{k} {test[k]:.4f}" for k in ("NDCG@10", "Recall@20", "MRR@20", "HR@10")))
    users = dataset.users.external[:n_users]
    for user, recs in zip(users, rec.recommend_many(users=users, k=5, exclude_seen=True)):
        history = dataset.items.to_external(dataset.sequences[dataset.users.to_internal(user, "user")][-3:])
        print(f"\nuser {user} recently rated:")
        for item in history:
            print(f"    {titles.get(item, item)}")
        print("  recommended next:")
        for r in recs:
            print(f"    {r.score:7.3f}  {titles.get(r.item_id, r.item_id)}")
    return 0
