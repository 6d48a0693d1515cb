"""Known-answer test for time awareness, on a generated log (labelled as such: no shared dataset
has this structure). Each user alternates a random "context" item with a follow-up whose
identity depends only on how long after the context event it came: 30 seconds later it is item
A, 30 days later item B, each with probability 1/2, independent of everything before.

A model that reads only the order of events sees the same history before A as before B, so its
top-1 accuracy on follow-ups cannot beat 1/2 (whichever item it ranks first is right half the
time). A model that knows the moment of the prediction can be right every time.
"""

import numpy as np
import polars as pl
import pytest

from rnnrec.config import RecommenderConfig
from rnnrec.data.columns import Columns
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.sequences import Sequences
from rnnrec.data.split import EvalSet, Split
from rnnrec.recommender import SequentialRecommender

A, B = "A", "B"
SHORT, LONG = 30.0, 30 * 86400.0


def generated_log(n_users: int, pairs: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        t = float(rng.uniform(1.5e9, 1.6e9))
        for _ in range(pairs):
            t += float(np.exp(rng.uniform(np.log(60.0), np.log(60 * 86400.0))))  # context event
            users.append(f"u{u}"), items.append(f"c{rng.integers(8)}"), times.append(t)
            long = rng.random() < 0.5
            t += LONG if long else SHORT
            users.append(f"u{u}"), items.append(B if long else A), times.append(t)
    return pl.DataFrame({Columns.USER: users, Columns.ITEM: items, Columns.TIME: times})


def follow_up_split(train: SequenceDataset, test: SequenceDataset) -> Split:
    """Train on all of ``train``; test on the last event (a follow-up) of each ``test`` user."""
    seqs = test.sequences
    rows = np.arange(len(seqs))
    last = seqs.offsets[1:] - 1
    assert seqs.times is not None
    test_set = EvalSet(seqs.prefixes(rows, seqs.lengths - 1), seqs.items[last], rows, seqs.times[last])
    empty = EvalSet(Sequences.from_lists([], []), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    return Split("generated", train.sequences, empty, test_set)


@pytest.fixture(scope="module")
def data() -> tuple[SequenceDataset, Split]:
    train = SequenceDataset.from_interactions(generated_log(120, 12, seed=0))
    test = SequenceDataset.from_interactions(generated_log(400, 3, seed=1), items=train.items)
    return train, follow_up_split(train, test)


def top1(name: str, data) -> float:
    train, split = data
    config = RecommenderConfig().with_overrides([
        f"model.name={name}", "embedding_dim=16", "hidden_size=32", "dropout_embedding=0.0",
        "dropout_hidden=0.0", "epochs=40", "batch_size=16", "learning_rate=0.01", "progress=false",
    ])
    rec = SequentialRecommender(config).fit(train, split)
    return rec.evaluate(split.test)["Recall@1"]


def test_plain_gru_cannot_beat_chance(data):
    # 400 follow-ups, half A: a fair coin's top-1 stays under 0.6 with probability > 0.9999.
    assert top1("gru4rec", data) < 0.6


@pytest.mark.parametrize("name", ["time_interval", "time_gated", "time_decay"])
def test_time_aware_models_learn_the_gap(data, name):
    assert top1(name, data) > 0.95
