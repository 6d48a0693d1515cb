"""Train the default GRU model on MovieLens 100K and show recommendations, through the Python API.

    .venv/bin/python examples/movielens_100k.py [path/to/ml-100k.inter]
"""

import sys
from pathlib import Path

from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.io import read_interactions
from rnnrec.data.metadata import read_item_titles
from rnnrec.data.split import leave_one_out
from rnnrec.recommender import SequentialRecommender

data = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/datasets/ml-100k/ml-100k.inter")
dataset = SequenceDataset.from_interactions(read_interactions(data))
split = leave_one_out(dataset)
rec = SequentialRecommender().fit(dataset, split)
print({k: round(v, 4) for k, v in rec.evaluate(split.test).items() if k in ("NDCG@10", "Recall@20", "MRR@20")})

titles = read_item_titles(data.with_suffix(".item"))
for r in rec.recommend(user="196", k=10, exclude_seen=True):
    print(f"{r.score:7.3f}  {titles.get(r.item_id, r.item_id)}")
