"""The two forms of a session-parallel step (touched rows with the gradient written out, used on
CPU; whole catalogue through autograd, used on a GPU) must train identically: same losses, same
weights. Generated random sessions."""

import numpy as np
import pytest
import torch

from rnnrec.data.sequences import Sequences
from rnnrec.data.sessions import session_parallel_schedule
from rnnrec.models.session_gru import SessionGRU, SessionGRUConfig
from rnnrec.optim import RowSparseOptimizer
from rnnrec.session_losses import SampleStore
from rnnrec.session_trainer import _StepFunction, _WholeCatalogueStep

N_ITEMS = 40
CASES = [
    (dict(), "adagrad", 0.0),
    (dict(), "adagrad", 0.5),
    (dict(loss="bpr-max", logq=0.0, bpreg=0.5, elu_param=0.5, embedding="separate"), "adagrad", 0.3),
    (dict(loss="top1-max", logq=0.0, embedding="none"), "adam", 0.0),
    # dropout: both forms draw the same masks in the same order from the seeded generator
    (dict(layers=2, dropout_embed=0.3, dropout_hidden=0.2), "adagrad", 0.4),
    (dict(loss="bpr-max", logq=0.0, bpreg=1.95, elu_param=0.5, dropout_embed=0.5, dropout_hidden=0.05), "adagrad", 0.4),
    (dict(layers=2, loss="bpr-max", logq=0.0, embedding="none", dropout_hidden=0.1), "adagrad", 0.0),
]


def _train(step_cls, model_kwargs, kind, momentum, schedule, counts):
    torch.manual_seed(0)
    model = SessionGRU(N_ITEMS, SessionGRUConfig(hidden=8, **{"dropout_embed": 0.0, **model_kwargs})).train()
    store = SampleStore(counts, 5, 0.75, 1000, torch.Generator().manual_seed(1))
    dense = [p for name, p in model.named_parameters() if not name.startswith("item_")]
    tables = [model.item_out, model.item_bias] + ([model.item_in] if model.item_in is not None else [])
    step = step_cls(model, store, RowSparseOptimizer(dense, tables, kind, 0.05, momentum), schedule.inputs.shape[1])
    state, losses = model.initial_state(schedule.inputs.shape[1]), []
    for t in range(30):
        loss, state = step(torch.as_tensor(schedule.inputs[t]), torch.as_tensor(schedule.targets[t]), state)
        losses.append(float(loss))
    return model.state_dict(), losses


@pytest.mark.parametrize("model_kwargs,kind,momentum", CASES)
def test_whole_catalogue_step_equals_touched_rows_step(model_kwargs, kind, momentum):
    rng = np.random.default_rng(0)
    seqs = Sequences.from_lists([list(rng.integers(1, N_ITEMS, size=rng.integers(2, 6))) for _ in range(200)])
    counts = np.bincount(seqs.items, minlength=N_ITEMS)
    schedule = session_parallel_schedule(seqs, 8)
    sparse_state, sparse_losses = _train(_StepFunction, model_kwargs, kind, momentum, schedule, counts)
    dense_state, dense_losses = _train(_WholeCatalogueStep, model_kwargs, kind, momentum, schedule, counts)
    assert np.allclose(sparse_losses, dense_losses, atol=1e-5)
    for name in sparse_state:
        assert torch.allclose(sparse_state[name], dense_state[name], atol=1e-5), name
