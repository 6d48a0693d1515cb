"""Every sequence model can carry a user's state from event to event: reading a history one event
at a time from the stored state gives the same state and the same output vector as reading it
in one batch (what a server relies on when it advances a user's state per event).
Data: generated item IDs, timestamps and item features (labelled in each helper)."""

import numpy as np
import polars as pl
import pytest
import torch

from rnnrec.data.idmap import IdMap
from rnnrec.data.item_features import build_item_features
from rnnrec.data.time_features import time_features
from rnnrec.models.registry import MODELS, build_model, model_config_class

N_ITEMS, B, T = 12, 3, 6
VARIANTS = [(name, {}) for name in MODELS] + [
    ("gru4rec", {"cell": "lstm"}),
    ("gru4rec", {"num_layers": 2}),
    ("gru4rec", {"cell": "lstm", "num_layers": 2}),
    ("time_gated", {"cell": "lstm"}),
    ("time_interval", {"cell": "lstm", "calendar": True}),
    ("parallel_rnn", {"cell": "lstm"}),
    ("session_gru", {"layers": 2}),
]


def small_config(name: str, options: dict):
    if name == "session_gru":  # GRU4Rec's own model: one size for its embedding and its GRU
        return model_config_class(name)(hidden=16, **options)
    return model_config_class(name)(name=name, embedding_dim=8, hidden_size=16, **options)


def generated_features():
    """Generated: items 1..12 with two categories each and a year."""
    ids = [str(i) for i in range(1, N_ITEMS + 1)]
    table = pl.DataFrame({"item_id": ids, "genres": [[f"g{i % 3}", f"h{i % 4}"] for i in range(N_ITEMS)],
                          "year": [1990 + i for i in range(N_ITEMS)]}, schema_overrides={"year": pl.Int32})
    return build_item_features(IdMap.from_ids(ids), table)


def generated_batch(seed: int = 0):
    """Generated: B histories of T items with increasing timestamps, and a later prediction time."""
    rng = np.random.default_rng(seed)
    items = torch.from_numpy(rng.integers(1, N_ITEMS + 1, size=(B, T)))
    times = 1.6e9 + np.cumsum(rng.exponential(3600.0, size=(B, T)), axis=1)
    previous = np.concatenate([np.full((B, 1), np.nan), times[:, :-1]], axis=1)
    time_in = torch.from_numpy(time_features(previous.ravel(), times.ravel()).reshape(B, T, 4))
    at = times[:, -1] + rng.exponential(86400.0, size=B)
    time_q = torch.from_numpy(time_features(times[:, -1], at))
    return items, time_in, time_q


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=[f"{n}-{o}" for n, o in VARIANTS])
def test_stepping_one_event_at_a_time_equals_one_batch(name, options):
    torch.manual_seed(0)
    config = small_config(name, options)
    model = build_model(N_ITEMS, config, generated_features()).eval()
    items, time_in, time_q = generated_batch()
    with torch.no_grad():
        whole = model(items, time_in, time_q[:, None, :].expand(-1, T, -1))[:, -1]  # (B, D)
        _, whole_state = model.encode(items, time_in)
        state = step_state = model.initial_state(B)
        assert state.shape == (B, model.state_size())
        for t in range(T):
            _, state = model.encode(items[:, t : t + 1], time_in[:, t : t + 1], state)
            step_state = model.step(items[:, t], step_state, time_in[:, t : t + 1])  # what the server calls
        stepped = model.output_vectors(model.state_output(state), time_q)
    torch.testing.assert_close(state, whole_state, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(step_state, whole_state, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stepped, whole, rtol=1e-5, atol=1e-6)
    # The state is what it claims to be: starting over from it continues the same sequence.
    with torch.no_grad():
        _, from_half = model.encode(items[:, 3:], time_in[:, 3:], model.encode(items[:, :3], time_in[:, :3])[1])
    torch.testing.assert_close(from_half, whole_state, rtol=1e-5, atol=1e-6)


def test_time_models_say_which_time_is_missing():
    model = build_model(N_ITEMS, model_config_class("time_decay")(name="time_decay"), None).eval()
    items, time_in, _ = generated_batch()
    with pytest.raises(ValueError, match="pass time_in"):
        model.encode(items)
    with pytest.raises(ValueError, match="pass time_q"):
        model.output_vectors(model.state_output(model.encode(items, time_in)[1]))
