"""The time-aware models share the plain model's API: config by name, fit, evaluate, recommend
at a moment, save/load. Data: generated (labelled) cyclic logs with timestamps."""

import numpy as np
import polars as pl
import pytest
import torch

from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.split import leave_one_out
from rnnrec.data.time_features import event_time_features
from rnnrec.errors import ConfigError, DataFormatError
from rnnrec.models.registry import build_model
from rnnrec.recommender import SequentialRecommender

TIME_MODELS = ["time_interval", "time_gated", "time_decay"]


def timed_cycle_log(n_users=40, length=8, seed=0) -> pl.DataFrame:
    """Generated: users walk the cycle i -> i+1 (mod 6), one event every 1-1000 minutes."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start, t = int(rng.integers(6)), 1.6e9 + float(rng.integers(10**6))
        for k in range(length):
            t += 60.0 * float(rng.integers(1, 1000))
            rows.append((f"u{u}", f"i{(start + k) % 6}", t))
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def config(name: str, *extra: str) -> RecommenderConfig:
    return RecommenderConfig().with_overrides([
        f"model.name={name}", "embedding_dim=8", "hidden_size=8", "epochs=3", "batch_size=16",
        "progress=false", "device=cpu", *extra,
    ])


@pytest.fixture(scope="module")
def data():
    ds = SequenceDataset.from_interactions(timed_cycle_log())
    return ds, leave_one_out(ds)


def test_model_section_follows_the_name(tmp_path):
    c = RecommenderConfig().with_overrides(["model.name=time_decay", "min_timescale=1.0"])
    assert type(c.model).__name__ == "TimeDecayGRUConfig" and c.model.min_timescale == 1.0
    path = tmp_path / "c.toml"
    path.write_text(c.to_toml())
    assert RecommenderConfig.from_toml(path) == c
    back = c.with_overrides(["model.name=gru4rec"])  # variant-only options are dropped on the switch
    assert type(back.model).__name__ == "GRU4RecConfig" and not hasattr(back.model, "min_timescale")
    with pytest.raises(ConfigError, match="model.name must be one of"):
        RecommenderConfig().with_overrides(["model.name=transformer"])
    with pytest.raises(ConfigError, match="unknown option"):
        RecommenderConfig().with_overrides(["model.name=gru4rec", "min_timescale=1.0"])  # not an option of gru4rec
    with pytest.raises(ConfigError, match="one-layer GRU"):
        RecommenderConfig().with_overrides(["model.name=time_decay", "cell=lstm"])


@pytest.mark.parametrize("name", TIME_MODELS)
def test_fit_evaluate_save_load_recommend_at(data, name, tmp_path):
    ds, split = data
    rec = SequentialRecommender(config(name)).fit(ds, split)
    metrics = rec.evaluate(split.test)
    assert 0.0 <= metrics["NDCG@10"] <= 1.0
    user = ds.users.external[0]
    last = float(ds.sequences.times_of(0)[-1])
    now = rec.recommend(user=user, k=3)
    assert now == rec.recommend(user=user, k=3, at=last)  # default: the last event's time
    loaded = SequentialRecommender.load(rec.save(tmp_path / name))
    for at in (last + 60.0, last + 30 * 86400.0):
        a, b = loaded.recommend(user=user, k=3, at=at), rec.recommend(user=user, k=3, at=at)
        assert [r.item_id for r in a] == [r.item_id for r in b]
        np.testing.assert_allclose([r.score for r in a], [r.score for r in b], rtol=1e-6)
    with pytest.raises(DataFormatError, match="before the previous event"):
        rec.recommend(user=user, k=3, at=last - 1.0)


@pytest.mark.parametrize("name", TIME_MODELS)
def test_the_moment_of_prediction_changes_the_scores(data, name):
    ds, split = data
    rec = SequentialRecommender(config(name, "epochs=1")).fit(ds, split)
    # Move the query-time parameters off their neutral start so the check does not depend on training.
    torch.manual_seed(0)
    with torch.no_grad():
        for pname, p in rec.model.named_parameters():
            if "readout" in pname or "tau" in pname or pname.endswith("base"):
                p.add_(torch.randn_like(p))
    history, times = ["i1", "i2", "i3"], [1.6e9, 1.6e9 + 60, 1.6e9 + 120]
    soon = rec.recommend(history=history, history_times=times, k=6, at=times[-1] + 60.0)
    later = rec.recommend(history=history, history_times=times, k=6, at=times[-1] + 30 * 86400.0)
    assert [r.score for r in soon] != [r.score for r in later]


@pytest.mark.parametrize("name", TIME_MODELS)
def test_batched_scores_equal_single(data, name):
    ds, split = data
    rec = SequentialRecommender(config(name, "epochs=1")).fit(ds, split)
    users = ds.users.external[:5]
    ats = [float(ds.sequences.times_of(i)[-1]) + 3600.0 * i for i in range(5)]
    for recs, u, a in zip(rec.recommend_many(users=users, k=4, at=ats), users, ats):
        single = rec.recommend(user=u, k=4, at=a)
        assert [r.item_id for r in single] == [r.item_id for r in recs]
        np.testing.assert_allclose([r.score for r in single], [r.score for r in recs], rtol=1e-5, atol=1e-6)


def test_time_models_need_timestamps():
    frame = timed_cycle_log().drop("timestamp")
    ds = SequenceDataset.from_interactions(frame)
    with pytest.raises(ConfigError, match="reads time, but this data has no timestamps"):
        SequentialRecommender(config("time_gated")).fit(ds, leave_one_out(ds))


def test_time_decay_state_relaxes_to_its_baseline(data):
    """With no events for ages the decay model's state is exactly its learned baseline."""
    ds, _ = data
    model = build_model(ds.n_items, config("time_decay").model)
    h = torch.randn(3, 8)
    assert torch.allclose(model.rnn.decay(h, torch.full((3,), 1e12)), model.rnn.base.expand(3, 8))
    assert torch.allclose(model.rnn.decay(h, torch.zeros(3)), h)


@pytest.mark.parametrize("name", ["time_gated"])
def test_gated_lstm_runs(data, name):
    ds, split = data
    seqs = split.train
    model = build_model(ds.n_items, config(name, "cell=lstm").model)
    f = torch.from_numpy(event_time_features(seqs))
    idx = torch.arange(6).view(1, 6) + int(seqs.offsets[1])
    out = model(torch.from_numpy(seqs.items)[idx], f[idx], f[idx + 1])
    assert out.shape == (1, 6, 8) and torch.isfinite(out).all()
