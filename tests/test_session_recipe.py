"""``model.name = "session_gru"``: GRU4Rec's own model and training recipe on user histories.

Data: generated cyclic sequences (every user walks i0 -> i1 -> ... -> i11 -> i0), labelled.
"""

import numpy as np
import pytest
import torch

from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.sequences import Sequences
from rnnrec.data.split import leave_one_out
from rnnrec.errors import ConfigError
from rnnrec.models.session_gru import SessionGRU
from rnnrec.models.session_recipe_gru import SessionRecipeConfig, SessionRecipeGRU
from rnnrec.objective import WHOLE_HISTORY
from rnnrec.recommender import SequentialRecommender
from rnnrec.session_trainer import SessionRecipeTrainConfig, fit_session_recipe
from rnnrec.trainer import TrainConfig
from test_recommender import N_ITEMS, cyclic_log


def recipe_config(*extra: str) -> RecommenderConfig:
    return RecommenderConfig().with_overrides(
        ["model.name=session_gru", "hidden=16", "dropout_embed=0.0", "dropout_hidden=0.0", "n_sample=4",
         "batch_size=8", "learning_rate=0.1", "momentum=0.0", "epochs=6", "progress=false", "device=cpu", *extra])


def test_the_default_model_is_the_recipe_and_naming_a_model_switches_the_training_options():
    c = RecommenderConfig()
    assert c == RecommenderConfig().with_overrides(["model.name=session_gru"])
    assert type(c.model) is SessionRecipeConfig and type(c.train) is SessionRecipeTrainConfig
    # GRU4Rec's RetailRocket setting, not the window trainer's defaults
    assert (c.model.loss, c.model.hidden, c.model.bpreg, c.model.elu_param) == ("bpr-max", 224, 1.95, 0.5)
    assert (c.train.batch_size, c.train.optimizer, c.train.learning_rate, c.train.momentum) == (80, "adagrad", 0.05, 0.4)
    assert c.history_len == 200  # reads as many events as it trains on at once (train.max_session_len)
    assert c.with_overrides(["max_session_len=0"]).history_len == WHOLE_HISTORY
    window = c.with_overrides(["model.name=gru4rec"])
    assert type(window.train) is TrainConfig and window.train.batch_size == 32 and window.history_len == 50
    # a value set away from the defaults before the switch survives it; one set after it is taken as is
    kept = window.with_overrides(["train.seed=7", "model.name=session_gru", "train.patience=1"])
    assert (kept.train.seed, kept.train.patience, kept.train.batch_size) == (7, 1, 80)
    assert RecommenderConfig.from_dict(window.to_dict()) == window


def test_recipe_options_are_checked_against_the_model_they_belong_to():
    with pytest.raises(ConfigError, match="momentum"):
        RecommenderConfig.from_dict({"model": {"name": "gru4rec"}, "train": {"momentum": 0.4}})  # no momentum there
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['hidden_size'\]"):
        RecommenderConfig.from_dict({"model": {"name": "session_gru", "hidden_size": 64}})  # its size is `hidden`
    with pytest.raises(ConfigError, match="logq"):
        RecommenderConfig.from_dict({"model": {"name": "session_gru", "logq": 1.0}})  # BPR-max takes no logQ
    with pytest.raises(ConfigError, match=r"objective.loss, objective.max_len: \[objective\] is for the window"):
        RecommenderConfig().with_overrides(["objective.max_len=100", "objective.loss=sampled_ce"])  # it would be ignored


def test_sequence_interface_reads_histories_as_the_session_model_does():
    torch.manual_seed(0)
    model = SessionRecipeGRU(N_ITEMS, SessionRecipeConfig(hidden=8, layers=2)).eval()
    items = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])  # right-padded
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        outputs = model.net.encode(items)  # the session model's own reading, from the empty state
        expected = model.net.score_all(outputs[torch.arange(2), lengths - 1])
        scores = model.score(items, lengths)
        state = model.initial_state(2)
        for t in range(4):
            state = model.step(items[:, t], state)
    torch.testing.assert_close(scores[:, 1:], expected[:, 1:])
    torch.testing.assert_close(model.output_vectors(model.state_output(state)), outputs[:, -1])
    assert scores.shape == (2, N_ITEMS + 1) and model.state_size() == 16


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    torch.manual_seed(0)
    model = SessionRecipeGRU(N_ITEMS, SessionRecipeConfig(hidden=8, dropout_embed=0.0, dropout_hidden=0.0))
    histories = Sequences.from_lists([[1 + (s + t) % N_ITEMS for t in range(8)] for s in range(24)])
    scores = iter([0.1, 0.3, 0.2, 0.25, 0.2, 0.9])  # best at epoch 2; patience 2 stops after epoch 5
    weights = {}

    def validate(m):
        weights[len(weights) + 1] = {k: v.clone() for k, v in m.state_dict().items()}
        return {"NDCG@10": next(scores)}

    config = SessionRecipeTrainConfig(epochs=10, batch_size=4, n_sample=4, patience=2, progress=False, device="cpu")
    result = fit_session_recipe(model, histories, config, validate)
    assert (result.best_epoch, result.epochs, result.best_score) == (2, 5, 0.3)
    assert [h["valid"]["NDCG@10"] for h in result.history] == [0.1, 0.3, 0.2, 0.25, 0.2]
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[2][k]), k
    assert not torch.equal(weights[2]["net.item_out"], weights[5]["net.item_out"])


def test_learns_the_cycle_predicts_from_its_session_length_and_round_trips(tmp_path):
    ds = SequenceDataset.from_interactions(cyclic_log())
    split = leave_one_out(ds)
    rec = SequentialRecommender(recipe_config("max_session_len=4")).fit(ds, split)  # 8 training events: 3 pieces
    assert isinstance(rec.model, SessionRecipeGRU)
    assert rec.evaluate(split.test)["HR@1"] == 1.0
    assert [r.item_id for r in rec.recommend(history=["i3", "i4", "i5"], k=1)] == ["i6"]
    _, _, vectors = rec.query_vectors(users=["u0"])
    history = torch.from_numpy(rec.histories[rec.users.to_internal("u0", "user")])[None]  # 10 events
    with torch.no_grad():
        last4 = rec.model.last_output_vectors(history[:, -4:], torch.tensor([4]))
        whole = rec.model.last_output_vectors(history, torch.tensor([history.shape[1]]))
    torch.testing.assert_close(vectors, last4)
    assert not torch.allclose(vectors, whole)
    rec.save(tmp_path / "model")
    loaded = SequentialRecommender.load(tmp_path / "model")
    assert isinstance(loaded.model, SessionRecipeGRU) and loaded.config == rec.config
    assert loaded.recommend(user="u3", k=3) == rec.recommend(user="u3", k=3)


def test_same_seed_same_model():
    ds = SequenceDataset.from_interactions(cyclic_log(n_users=20))
    a = SequentialRecommender(recipe_config("epochs=2")).fit(ds)
    b = SequentialRecommender(recipe_config("epochs=2")).fit(ds)
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(x, y), k


def test_shuffled_sessions_are_seeded_and_drawn_anew_each_epoch(monkeypatch):
    from rnnrec.data import sessions as S
    from rnnrec.session_trainer import SessionTrainConfig, fit_sessions
    from rnnrec import session_trainer

    firsts = []

    def recording_schedule(seqs, batch_size):
        firsts.append(int(seqs.items[0]))  # the first session's first item says which order it got
        return S.session_parallel_schedule(seqs, batch_size)

    monkeypatch.setattr(session_trainer, "session_parallel_schedule", recording_schedule)
    sessions = Sequences.from_lists([[1 + s, 1 + (s + 1) % N_ITEMS, 1 + (s + 2) % N_ITEMS] for s in range(N_ITEMS)])
    counts = np.bincount(sessions.items, minlength=N_ITEMS + 1)
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        net = SessionGRU(N_ITEMS + 1, SessionRecipeConfig(hidden=8))
        fit_sessions(net, sessions, counts, SessionTrainConfig(epochs=3, batch_size=2, n_sample=2, shuffle=True,
                                                               progress=False, device="cpu"))
        weights.append(net.item_out.detach().clone())
    # per run: one new order per epoch (the start-time order is never built); the same seed twice
    assert len(firsts) == 6 and firsts[:3] == firsts[3:] and len(set(firsts[:3])) > 1
    assert torch.equal(weights[0], weights[1])
