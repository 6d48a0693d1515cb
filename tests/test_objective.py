"""The next-item objective's carried state: training windows read one after another from the
state the previous window ended in are the same computation as one pass over the whole sequence.
Data: hand-written item sequences."""

import numpy as np
import pytest
import torch

from rnnrec.data.batching import window_index
from rnnrec.data.sequences import Sequences
from rnnrec.data.time_features import event_time_features
from rnnrec.models.gru4rec import GRU4Rec
from rnnrec.models.registry import build_model, model_config_class
from rnnrec.objective import WHOLE_HISTORY, NextItemObjective, ObjectiveConfig

ITEMS = [[1, 2, 3, 4, 5, 6], [3], [4, 5, 6, 7, 8], [2, 3]]
SEQS = Sequences.from_lists(ITEMS, [[1000.0 * i + 60.0 * j * j for j in range(len(s))] for i, s in enumerate(ITEMS)])
FEATURES = event_time_features(SEQS)  # (N, 4), read by the time-aware models


def window_batch(objective: NextItemObjective, rows: list[int]) -> dict[str, torch.Tensor]:
    idx, valid = window_index(objective.windows, np.array(rows))
    return {"inputs": torch.from_numpy(np.where(valid, SEQS.items[idx], 0)), "windows": torch.tensor(rows),
            "time_in": torch.from_numpy(FEATURES[idx]), "time_q": torch.from_numpy(FEATURES[idx + 1])}


def whole(m: GRU4Rec, first: int, n: int) -> torch.Tensor:
    """Output vectors of one pass over the ``n`` inputs starting at flat event ``first``."""
    items = torch.from_numpy(SEQS.items[first : first + n])[None]
    time_in, time_q = (torch.from_numpy(FEATURES[a : a + n])[None] for a in (first, first + 1))
    return m(items, time_in, time_q)[0]


def model(name: str = "gru4rec", **options) -> GRU4Rec:
    torch.manual_seed(0)
    config = model_config_class(name)(embedding_dim=3, hidden_size=4, dropout_embedding=0.0, dropout_hidden=0.0,
                                      **options)
    return build_model(8, config).eval()


def test_history_len_is_max_len_or_the_whole_history():
    assert ObjectiveConfig(max_len=7).history_len == 7
    assert ObjectiveConfig(max_len=7, carry_state=True).history_len == WHOLE_HISTORY


@pytest.mark.parametrize("name,options", [("gru4rec", {"num_layers": 2}), ("gru4rec", {"cell": "lstm", "num_layers": 2}),
                                          ("time_decay", {}), ("time_gated", {"cell": "lstm"})])
def test_carried_windows_equal_one_pass_over_the_sequence(name, options):
    m = model(name, **options)
    objective = NextItemObjective(SEQS, 8, ObjectiveConfig(max_len=2, carry_state=True), batch_size=4)
    # windows, latest first: seq 0 inputs [4,5] [2,3] [1]; seq 2 [6,7] [4,5]; seq 3 [2] (seq 1 has none)
    assert objective.previous.tolist() == [1, 2, -1, 4, -1, -1]
    with torch.no_grad():  # predecessors first; seq 0's first window is shorter than its batch
        first = objective._carried_forward(m, window_batch(objective, [2, 4, 5]))
        second = objective._carried_forward(m, window_batch(objective, [1, 3]))
        third = objective._carried_forward(m, window_batch(objective, [0]))
        seq0, seq2, seq3 = whole(m, 0, 5), whole(m, 7, 4), whole(m, 12, 1)  # flat offsets 0, 7, 12
    torch.testing.assert_close(torch.cat([first[0, :1], second[0], third[0]]), seq0)
    torch.testing.assert_close(torch.cat([first[1], second[1]]), seq2)
    torch.testing.assert_close(first[2, :1], seq3)


def test_without_carried_state_every_window_starts_empty():
    m = model()
    objective = NextItemObjective(SEQS, 8, ObjectiveConfig(max_len=2), batch_size=4)
    assert objective.previous is None
    batch = next(objective.batches(np.random.default_rng(0)))
    assert "windows" not in batch
    with torch.no_grad():
        window = m(torch.tensor([[3, 4]]))[0]
        whole = m(torch.tensor([[1, 2, 3, 4]]))[0]
    assert not torch.allclose(window, whole[2:])


def test_carried_state_trains_through_the_objective():
    m = model().train()
    objective = NextItemObjective(SEQS, 8, ObjectiveConfig(max_len=2, carry_state=True, precision="float32"),
                                  batch_size=2)
    for batch in objective.batches(np.random.default_rng(0)):
        assert "windows" in batch
        loss = objective.loss(m, batch)
        loss.backward()
        assert torch.isfinite(loss)
    # every continued window's final state was stored
    assert objective.final_states.shape == (len(objective.windows), m.state_size())
    assert objective.continued.tolist() == [False, True, True, False, True, False]
    assert objective.final_states[torch.from_numpy(objective.continued)].abs().sum(1).gt(0).all()
