"""Contract every model passes: learns a known pattern, is seeded, round-trips through save/load,
batched equals single, explicit unknown-ID policy. Data: generated cyclic sequences (labelled)."""

import numpy as np
import polars as pl
import pytest
import torch

from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.split import leave_one_out
from rnnrec.errors import ConfigError, TrainingError, UnknownIdError
from rnnrec.recommender import SequentialRecommender

N_ITEMS = 12


def cyclic_log(n_users=60, length=10, seed=0) -> pl.DataFrame:
    """Generated data: every user walks the cycle i -> i+1 (mod 12) from a random start."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(N_ITEMS))
        rows += [(f"u{u}", f"i{(start + t) % N_ITEMS}", float(t)) for t in range(length)]
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def small_config(**train) -> RecommenderConfig:
    c = RecommenderConfig().with_overrides(
        ["model.name=gru4rec", "embedding_dim=16", "hidden_size=16", "dropout_embedding=0.0", "dropout_hidden=0.0",
         "batch_size=16", "learning_rate=0.02", "epochs=15", "patience=15", "progress=false", "device=cpu"]
    )
    for k, v in train.items():
        setattr(c.train, k, v)
    return c


@pytest.fixture(scope="module")
def fitted():
    ds = SequenceDataset.from_interactions(cyclic_log())
    split = leave_one_out(ds)
    return ds, split, SequentialRecommender(small_config()).fit(ds, split)


@pytest.mark.parametrize("cell,loss,precision", [("gru", "ce", "float32"), ("gru", "ce", "bfloat16"),
                                                  ("lstm", "ce", "auto"), ("gru", "sampled_ce", "auto")])
def test_learns_the_cycle(cell, loss, precision):
    ds = SequenceDataset.from_interactions(cyclic_log())
    split = leave_one_out(ds)
    config = small_config()
    config.model.cell = cell
    config.objective.loss = loss
    config.objective.precision = precision
    config.objective.n_negatives = 4
    rec = SequentialRecommender(config).fit(ds, split)
    assert rec.evaluate(split.test)["HR@1"] == 1.0
    assert [r.item_id for r in rec.recommend(history=["i3", "i4", "i5"], k=1)] == ["i6"]


def test_untied_embeddings_learn_the_cycle():
    ds = SequenceDataset.from_interactions(cyclic_log())
    config = small_config()
    config.model.tied_embeddings = False
    rec = SequentialRecommender(config).fit(ds)
    assert rec.recommend(history=["i10", "i11"], k=1)[0].item_id == "i0"


def test_carried_state_learns_the_cycle_and_reads_whole_histories(tmp_path):
    ds = SequenceDataset.from_interactions(cyclic_log())
    split = leave_one_out(ds)
    config = small_config()
    config.objective.max_len = 3  # users have 8 training events: windows of 3, 3 and 1 transitions
    config.objective.carry_state = True
    rec = SequentialRecommender(config).fit(ds, split)
    assert rec.evaluate(split.test)["HR@1"] == 1.0
    _, _, vectors = rec.query_vectors(users=["u0"])
    history = torch.from_numpy(rec.histories[rec.users.to_internal("u0", "user")])[None]  # 10 events
    with torch.no_grad():
        whole = rec.model.last_output_vectors(history, torch.tensor([history.shape[1]]))
        last3 = rec.model.last_output_vectors(history[:, -3:], torch.tensor([3]))
    torch.testing.assert_close(vectors, whole)
    assert not torch.allclose(vectors, last3)
    rec.save(tmp_path / "model")
    loaded = SequentialRecommender.load(tmp_path / "model")
    assert loaded.config.objective.carry_state
    assert loaded.recommend(user="u3", k=3) == rec.recommend(user="u3", k=3)


def test_same_seed_same_metrics(fitted):
    ds, split, rec = fitted
    again = SequentialRecommender(small_config()).fit(ds, split)
    assert again.evaluate(split.test) == rec.evaluate(split.test)
    for (k, a), b in zip(rec.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_save_load_gives_same_recommendations(fitted, tmp_path):
    ds, split, rec = fitted
    rec.save(tmp_path / "model")
    loaded = SequentialRecommender.load(tmp_path / "model")
    assert loaded.data_hash == ds.fingerprint()
    for user in ("u0", "u7"):
        assert loaded.recommend(user=user, k=5) == rec.recommend(user=user, k=5)
    assert loaded.evaluate(split.test) == rec.evaluate(split.test)


def test_batched_equals_single(fitted):
    _, _, rec = fitted
    users = ["u1", "u2", "u3"]
    batched = rec.recommend_many(users=users, k=4)
    for user, recs in zip(users, batched):
        single = rec.recommend(user=user, k=4)
        assert [r.item_id for r in single] == [r.item_id for r in recs]
        np.testing.assert_allclose([r.score for r in single], [r.score for r in recs], rtol=1e-5)


def test_histories_read_in_several_batches_equal_one_batch(fitted, monkeypatch):
    _, _, rec = fitted
    histories = [["i1", "i2", "i3"], ["i5"], ["i7", "i8", "i9", "i10", "i11"], ["i0", "i1"]]
    _, _, together = rec.query_vectors(histories=histories)
    monkeypatch.setattr("rnnrec.recommender.MAX_PADDED_EVENTS", 4)  # batches: 1 + 2 events, 3, 5 (by length)
    _, nonempty, apart = rec.query_vectors(histories=histories)
    assert nonempty.tolist() == [0, 1, 2, 3]
    torch.testing.assert_close(apart, together)


def test_unknown_ids_policy(fitted):
    _, _, rec = fitted
    with pytest.raises(UnknownIdError, match="nope"):
        rec.recommend(user="nope")
    with pytest.raises(UnknownIdError, match="zzz"):
        rec.recommend(history=["i1", "zzz"])
    assert rec.recommend(history=["i1", "zzz"], unknown="ignore", k=1)[0].item_id == "i2"
    popular = rec.recommend(user="nope", unknown="ignore", k=3)
    assert len(popular) == 3  # cold start: most popular training items


def test_exclude_seen_and_k(fitted):
    _, _, rec = fitted
    recs = rec.recommend(history=["i1", "i2"], k=N_ITEMS, exclude_seen=True)
    assert {"i1", "i2"}.isdisjoint(r.item_id for r in recs) and len(recs) == N_ITEMS - 2
    with pytest.raises(ValueError, match="k must be"):
        rec.recommend(user="u1", k=0)


def test_train_threads_sets_torch_threads():
    before = torch.get_num_threads()
    ds = SequenceDataset.from_interactions(cyclic_log(n_users=8))
    try:
        SequentialRecommender(small_config(threads=1, epochs=1)).fit(ds)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="train.threads must be >= 0"):
        RecommenderConfig().with_overrides(["model.name=gru4rec", "threads=-1"])


def test_nan_loss_is_a_clear_error():
    ds = SequenceDataset.from_interactions(cyclic_log(n_users=8))
    config = small_config(learning_rate=1e38, grad_clip=0.0, optimizer="sgd", epochs=3)
    with pytest.raises(TrainingError, match="learning_rate"):
        SequentialRecommender(config).fit(ds)
