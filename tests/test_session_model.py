"""SessionGRU: config checks, the step/encode recurrences against torch's GRU, ranks of a
hand-built model, seeding, a tiny known-answer training run per loss and embedding mode, and the
step's bfloat16 products against float32 ones."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnrec.data.sequences import Sequences
from rnnrec.data.sessions import session_parallel_schedule
from rnnrec.device import resolve_precision
from rnnrec.errors import ConfigError
from rnnrec.models.gru_cell import gru_cell_backward, gru_cell_forward, product
from rnnrec.models.session_gru import SessionGRU, SessionGRUConfig
from rnnrec.optim import RowSparseOptimizer
from rnnrec.session_evaluate import evaluate_sessions, rank_session_targets
from rnnrec.session_losses import SampleStore
from rnnrec.session_trainer import SessionTrainConfig, _StepFunction, fit_sessions

EMBEDDINGS = ("none", "separate", "shared")
LOSSES = ("cross-entropy", "bpr-max", "top1-max")


# --- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": "cross-entropy", "elu_param": 0.5},
        {"loss": "cross-entropy", "bpreg": 0.1},
        {"loss": "bpr-max", "logq": 1.0},
        {"loss": "top1-max", "logq": 0.5},
        {"loss": "top1-max", "logq": 0.0, "bpreg": 0.1},
        {"embedding": "shared", "embedding_dim": 8},
        {"embedding": "none", "embedding_dim": 8},
        {"embedding": "separate", "embedding_dim": -1},
        {"loss": "bpr"},
        {"embedding": "onehot"},
        {"hidden": 0},
        {"layers": 0},
        {"dropout_embed": 1.0},
        {"dropout_hidden": -0.1},
        {"loss": "bpr-max", "logq": 0.0, "elu_param": -1.0},
        {"logq": -1.0},
    ],
)
def test_config_rejects_invalid_combinations(kwargs):
    with pytest.raises(ConfigError):
        SessionGRUConfig(**kwargs)


def test_config_accepts_valid_combinations():
    SessionGRUConfig()  # cross-entropy, logQ 1, shared
    SessionGRUConfig(loss="bpr-max", logq=0.0, bpreg=0.5, elu_param=0.5, embedding="separate", embedding_dim=8)
    SessionGRUConfig(loss="top1-max", logq=0.0, elu_param=1.0, embedding="none")
    assert SessionGRUConfig(embedding="separate", hidden=12).input_dim == 12
    assert SessionGRUConfig(embedding="separate", hidden=12, embedding_dim=5).input_dim == 5


# --- recurrences -------------------------------------------------------------------------------

N_ITEMS, H = 8, 5  # 7 items + padding


def model_with_random_biases(embedding, layers, seed=0, **kwargs):
    torch.manual_seed(seed)
    cfg = SessionGRUConfig(embedding=embedding, layers=layers, hidden=H, dropout_embed=0.3, dropout_hidden=0.2,
                           embedding_dim=3 if embedding == "separate" else 0, **kwargs)
    model = SessionGRU(N_ITEMS, cfg)
    with torch.no_grad():  # biases start at zero; random ones make the comparisons meaningful
        model.item_bias.normal_()
        for cell in model.cells:
            cell.bias_ih.normal_()
            cell.bias_hh.normal_()
    return model.eval()


def torch_gru_like(model):
    """An nn.GRU holding the model's weights; a one-hot first layer takes item_in.T as weight_ih."""
    cfg = model.config
    in_size = model.n_items if cfg.embedding == "none" else cfg.input_dim
    gru = nn.GRU(in_size, cfg.hidden, num_layers=cfg.layers, batch_first=True)
    with torch.no_grad():
        for layer, cell in enumerate(model.cells):
            w_ih = model.item_in.T if layer == 0 and cfg.embedding == "none" else cell.weight_ih
            getattr(gru, f"weight_ih_l{layer}").copy_(w_ih)
            getattr(gru, f"weight_hh_l{layer}").copy_(cell.weight_hh)
            getattr(gru, f"bias_ih_l{layer}").copy_(cell.bias_ih)
            getattr(gru, f"bias_hh_l{layer}").copy_(cell.bias_hh)
    return gru.eval()


def gru_inputs(model, items):
    cfg = model.config
    if cfg.embedding == "none":
        return nn.functional.one_hot(items, model.n_items).float()
    return (model.item_out if cfg.embedding == "shared" else model.item_in).detach()[items]


SESSIONS = [[3, 1, 4, 1, 5], [2, 6], [7, 7, 2, 1]]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_encode_equals_step_by_step_and_torch_gru(embedding, layers):
    model = model_with_random_biases(embedding, layers)
    seqs = Sequences.from_lists(SESSIONS)
    items_np, _ = seqs.to_padded(np.arange(3), 5)
    items = torch.from_numpy(items_np)
    encoded = model.encode(items)
    assert encoded.shape == (3, 5, H)
    gru = torch_gru_like(model)
    for b, session in enumerate(SESSIONS):
        # one session alone, one event at a time with ``step``
        state = model.initial_state(1)
        with torch.no_grad():
            for t, item in enumerate(session):
                out, state = model.step(model.input_rows(torch.tensor([item])), state)
                assert torch.allclose(encoded[b, t], out[0], atol=1e-6)
            # torch's GRU over the same session (one-hot or embedded input)
            ref, _ = gru(gru_inputs(model, torch.tensor([session])))
        assert torch.allclose(encoded[b, : len(session)], ref[0], atol=1e-5)
        assert torch.allclose(state[-1, 0], ref[0, -1], atol=1e-5)


@pytest.mark.parametrize("layers", [1, 2])
def test_one_hot_first_layer_is_an_ordinary_gru_cell(layers):
    model = model_with_random_biases("none", layers)
    first = model.cells[0]
    cell = nn.GRUCell(input_size=N_ITEMS, hidden_size=H)
    with torch.no_grad():
        cell.weight_ih.copy_(model.item_in.T)
        cell.bias_ih.copy_(first.bias_ih)
        cell.weight_hh.copy_(first.weight_hh)
        cell.bias_hh.copy_(first.bias_hh)
    items = torch.tensor([1, 4, 7, 4])
    h = torch.randn(layers, 4, H, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out, new_state = model.step(model.input_rows(items), h)
        ref = cell(nn.functional.one_hot(items, N_ITEMS).float(), h[0])
    assert torch.allclose(new_state[0], ref, atol=1e-6)
    if layers == 1:
        assert torch.allclose(out, ref, atol=1e-6)
    else:
        with torch.no_grad():
            top = model.cells[1](ref, h[1])
        assert torch.allclose(out, top, atol=1e-6) and torch.allclose(new_state[1], top, atol=1e-6)


def test_dropout_only_in_training_mode():
    model = model_with_random_biases("separate", 2)
    rows, state = model.input_rows(torch.tensor([1, 2, 3])), model.initial_state(3)
    with torch.no_grad():
        a, _ = model.step(rows, state)
        b, _ = model.step(rows, state)
        model.train()
        torch.manual_seed(0)
        c, _ = model.step(rows, state)
    assert torch.equal(a, b) and not torch.allclose(a, c)


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_score_all_is_linear_with_minus_inf_on_padding(embedding):
    model = model_with_random_biases(embedding, 1)
    out = torch.randn(4, H, generator=torch.Generator().manual_seed(2))
    scores = model.score_all(out)
    assert scores.shape == (4, N_ITEMS)
    assert torch.isneginf(scores[:, 0]).all()
    expected = out @ model.item_out.detach().T + model.item_bias.detach()
    assert torch.allclose(scores[:, 1:], expected[:, 1:], atol=1e-6)


def test_final_activation():
    s = torch.tensor([[-2.0, 0.0, 3.0]])
    ce = SessionGRU(3, SessionGRUConfig(hidden=2))
    assert torch.equal(ce.final_activation(s), s)
    linear = SessionGRU(3, SessionGRUConfig(loss="bpr-max", logq=0.0, hidden=2))
    assert torch.equal(linear.final_activation(s), s)
    elu = SessionGRU(3, SessionGRUConfig(loss="top1-max", logq=0.0, elu_param=0.5, hidden=2))
    assert torch.allclose(elu.final_activation(s), torch.tensor([[0.5 * (math.exp(-2.0) - 1), 0.0, 3.0]]))


def test_padding_rows_start_at_zero():
    for embedding in ("none", "separate"):
        model = SessionGRU(N_ITEMS, SessionGRUConfig(embedding=embedding, hidden=H))
        assert not model.item_out[0].any() and not model.item_in[0].any() and not model.item_bias.any()
    assert SessionGRU(N_ITEMS, SessionGRUConfig(hidden=H)).item_in is None
    one_hot = SessionGRU(N_ITEMS, SessionGRUConfig(embedding="none", hidden=H))
    assert one_hot.item_in.shape == (N_ITEMS, 3 * H) and not one_hot.cells[0].weight_ih.requires_grad


# --- ranks of a hand-built model ---------------------------------------------------------------


def test_rank_session_targets_hand_built_model():
    # All GRU weights and biases zero: r = z = σ(0) = 1/2, n = tanh(0) = 0, so h' = h / 2 and the
    # state stays 0 from the zero start. The output is 0 and the scores are the item biases.
    model = SessionGRU(5, SessionGRUConfig(hidden=3))
    with torch.no_grad():
        for cell in model.cells:
            for p in cell.parameters():
                p.zero_()
        model.item_bias.copy_(torch.tensor([0.0, 0.5, 0.9, 0.5, 0.1]))
    # item:  1    2    3    4
    # score: 0.5  0.9  0.5  0.1  -> pessimistic ranks: 1 -> 3 (2 higher, 3 tied), 2 -> 1, 3 -> 3, 4 -> 4
    sessions = Sequences.from_lists([[1, 2, 3], [4, 1], [3], [3, 4, 2, 1], [2, 2]])
    # targets in session order: s0: 2, 3 | s1: 1 | s2: none | s3: 4, 2, 1 | s4: 2
    expected = [1, 3, 3, 4, 1, 3, 1]
    for batch_size in (1, 2, 512):  # sessions are grouped by length internally; output stays in order
        assert rank_session_targets(model, sessions, batch_size=batch_size).tolist() == expected
    assert rank_session_targets(model, sessions, score_rows=2).tolist() == expected
    m = evaluate_sessions(model, sessions, ks=(1, 3))
    assert m == pytest.approx({"Recall@1": 3 / 7, "MRR@1": 3 / 7, "Recall@3": 6 / 7, "MRR@3": (3 + 3 * (1 / 3)) / 7})
    assert model.training  # restored


# --- the trainer's distinct-candidate helper ------------------------------------------------


def test_step_function_unique_paths_agree():
    model = SessionGRU(3000, SessionGRUConfig(hidden=2))
    store = SampleStore(np.ones(3000), n_sample=4, alpha=0.0, store_size=8)
    step = _StepFunction(model, store, opt=None, batch_size=8)
    index = torch.tensor([2999, 5, 17, 5, 1, 2999, 40, 17])
    assert step.dense_unique_limit < model.n_items  # torch.unique path
    rows_sort, inv_sort = step._unique(index)
    step.dense_unique_limit = 10**9  # bincount path
    rows_dense, inv_dense = step._unique(index)
    assert rows_sort.tolist() == rows_dense.tolist() == [1, 5, 17, 40, 2999]
    assert inv_sort.tolist() == inv_dense.tolist() == [4, 1, 2, 1, 0, 4, 3, 2]


# --- training ----------------------------------------------------------------------------------

N_CYCLE = 6  # items 1..6


def cycle_sessions(n_sessions, seed):
    """Generated data (not a real log): each session walks the cycle 1→2→…→6→1 from a random
    item for 3 to 5 clicks, so the next item is always a function of the current one."""
    rng = np.random.default_rng(seed)
    seqs, times = [], []
    for s in range(n_sessions):
        start, length = int(rng.integers(0, N_CYCLE)), int(rng.integers(3, 6))
        seqs.append([(start + t) % N_CYCLE + 1 for t in range(length)])
        times.append([100.0 * s + t for t in range(length)])
    return Sequences.from_lists(seqs, times)


TRAIN, TEST = cycle_sessions(60, seed=0), cycle_sessions(30, seed=1)
COUNTS = np.bincount(TRAIN.items, minlength=N_CYCLE + 1)


def small_train_config(**kwargs):
    # A small sample store: the default draws 10M negatives up front (~0.3 s per run).
    base = dict(epochs=10, batch_size=8, n_sample=4, learning_rate=0.2, sample_store_size=4000,
                progress=False, device="cpu")
    return SessionTrainConfig(**{**base, **kwargs})


def trained_model(loss, embedding, seed=0, dropout_embed=0.0, **train_kwargs):
    torch.manual_seed(seed)
    cfg = SessionGRUConfig(loss=loss, embedding=embedding, hidden=16, dropout_embed=dropout_embed,
                           logq=1.0 if loss == "cross-entropy" else 0.0)
    model = SessionGRU(N_CYCLE + 1, cfg)
    result = fit_sessions(model, TRAIN, COUNTS, small_train_config(seed=seed, **train_kwargs))
    return model, result


@pytest.mark.parametrize("embedding", EMBEDDINGS)
@pytest.mark.parametrize("loss", LOSSES)
def test_learns_a_deterministic_cycle(loss, embedding):
    model, result = trained_model(loss, embedding)
    assert not model.training
    assert len(result.history) == 10 and all(np.isfinite(h["loss"]) for h in result.history)
    metrics = evaluate_sessions(model, TEST)
    assert metrics["Recall@1"] > 0.9, metrics
    # the padding rows are never touched by training
    assert not model.item_out[0].any() and float(model.item_bias.detach()[0]) == 0.0
    if model.item_in is not None:
        assert not model.item_in[0].any()


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_learns_the_cycle_with_either_product_precision(precision):
    model, result = trained_model("bpr-max", "shared", precision=precision)
    assert result.precision == precision
    assert evaluate_sessions(model, TEST)["Recall@1"] > 0.9


def test_auto_precision_follows_the_hardware_and_bad_names_are_refused():
    _, result = trained_model("cross-entropy", "shared", epochs=1, precision="auto")
    assert result.precision == resolve_precision("auto", torch.device("cpu"))
    _, result = trained_model("cross-entropy", "shared", epochs=1)  # the session protocol's default
    assert result.precision == "float32"
    with pytest.raises(ConfigError, match=r"train.precision must be one of .*'half'"):
        small_train_config(precision="half")


def test_same_seed_same_weights():
    kwargs = dict(loss="cross-entropy", embedding="separate", dropout_embed=0.2, epochs=1)
    a, ra = trained_model(seed=7, **kwargs)
    b, rb = trained_model(seed=7, **kwargs)
    c, _ = trained_model(seed=8, **kwargs)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ra.history[0]["loss"] == rb.history[0]["loss"]
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_training_seed_alone_drives_sampling_and_dropout():
    # Same initial weights, different training seeds -> different results (negatives, dropout).
    kwargs = dict(loss="cross-entropy", embedding="separate", dropout_embed=0.2, epochs=1)
    a, _ = trained_model(seed=3, **kwargs)
    torch.manual_seed(3)
    b = SessionGRU(N_CYCLE + 1, a.config)
    fit_sessions(b, TRAIN, COUNTS, small_train_config(seed=4, epochs=1))
    assert not torch.equal(a.item_out, b.item_out)


@pytest.mark.parametrize("loss", ["bpr-max", "top1-max"])
def test_pairwise_losses_without_samples_keep_weights_finite(loss):
    # Batch 2, two sessions: the longer one runs alone in the last step (one row, no negatives).
    seqs = Sequences.from_lists([[1, 2], [3, 4, 1]])
    torch.manual_seed(0)
    model = SessionGRU(5, SessionGRUConfig(loss=loss, logq=0.0, hidden=4))
    fit_sessions(model, seqs, np.bincount(seqs.items, minlength=5),
                 small_train_config(epochs=1, batch_size=2, n_sample=0))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_on_epoch_runs_after_each_epoch_without_changing_training():
    kwargs = dict(loss="bpr-max", embedding="shared", dropout_embed=0.2, epochs=3)
    plain, _ = trained_model(**kwargs)
    torch.manual_seed(0)
    model = SessionGRU(N_CYCLE + 1, plain.config)
    seen = []

    def validate(epoch):  # what a caller does to early-stop: score held-out sessions in eval mode
        model.eval()
        seen.append((epoch, evaluate_sessions(model, TEST)["Recall@1"]))

    fit_sessions(model, TRAIN, COUNTS, small_train_config(seed=0, epochs=3), on_epoch=validate)
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert seen[-1][1] == evaluate_sessions(model, TEST)["Recall@1"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values()))


@pytest.mark.parametrize("B,H", [(1, 1), (5, 3), (7, 8)])
def test_written_out_gru_cell_backward_equals_autograd(B, H):
    g = torch.Generator().manual_seed(B * H)
    x, h, grad = (torch.randn(B, H, generator=g, dtype=torch.float64) for _ in range(3))
    w_ih, w_hh = (torch.randn(3 * H, H, generator=g, dtype=torch.float64) for _ in range(2))
    b_ih, b_hh = (torch.randn(3 * H, generator=g, dtype=torch.float64) for _ in range(2))
    leaves = [t.clone().requires_grad_() for t in (x, h, w_ih, w_hh, b_ih, b_hh)]
    expected = torch.gru_cell(*leaves)
    expected.backward(grad)
    new, cache = gru_cell_forward(torch.addmm(b_ih, x, w_ih.T), h, w_hh, b_hh)
    assert torch.allclose(new, expected.detach(), rtol=1e-12, atol=1e-12)
    d_gi, d_gh = gru_cell_backward(grad, cache)
    for mine, reference in [(d_gi @ w_ih, leaves[0]), (d_gh @ w_hh + grad * cache.rz[:, H:], leaves[1]),
                            (d_gi.T @ x, leaves[2]), (d_gh.T @ h, leaves[3]),
                            (d_gi.sum(0), leaves[4]), (d_gh.sum(0), leaves[5])]:
        assert torch.allclose(mine, reference.grad, rtol=1e-10, atol=1e-12)


def test_bfloat16_product_rounds_its_operands_and_answers_in_float32():
    # bfloat16 keeps 8 significant bits: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 and rounds to
    # the even one, 1; 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6 and rounds to 1 + 2^-6.
    a = torch.tensor([[1 + 2**-8, 1 + 3 * 2**-8]])
    b = torch.tensor([[2.0], [4.0]])
    assert product(a, b).item() == 2 * (1 + 2**-8) + 4 * (1 + 3 * 2**-8)  # float32: exact here
    low = product(a, b, torch.bfloat16)
    assert low.dtype == torch.float32 and low.item() == 2 * 1.0 + 4 * (1 + 2**-6)


def _steps_from_the_same_start(dtype, n_steps):
    """The changes to every parameter and the losses of ``n_steps`` steps of a 2-layer BPR-max model."""
    rng = np.random.default_rng(0)
    seqs = Sequences.from_lists([list(rng.integers(1, 30, size=rng.integers(2, 7))) for _ in range(200)])
    schedule = session_parallel_schedule(seqs, 8)
    torch.manual_seed(0)
    cfg = SessionGRUConfig(loss="bpr-max", logq=0.0, bpreg=1.0, elu_param=0.5, hidden=16, layers=2, dropout_embed=0.0)
    model = SessionGRU(30, cfg).train()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    store = SampleStore(np.bincount(seqs.items, minlength=30), 6, 0.5, 1000, torch.Generator().manual_seed(1))
    dense = [p for name, p in model.named_parameters() if not name.startswith("item_")]
    opt = RowSparseOptimizer(dense, [model.item_out, model.item_bias], "adagrad", 0.05, 0.4)
    step = _StepFunction(model, store, opt, 8, dtype)
    state, losses = model.initial_state(8), []
    for t in range(n_steps):
        loss, state = step(torch.as_tensor(schedule.inputs[t]), torch.as_tensor(schedule.targets[t]), state)
        losses.append(float(loss))
    return {name: value - before[name] for name, value in model.state_dict().items()}, np.array(losses)


def test_bfloat16_step_follows_the_float32_step():
    """The same steps with the products in bfloat16 (their operands rounded to 8 significant bits)
    stay close to the float32 ones. Not equal: Adagrad's first updates are about ±lr for any
    gradient well above sqrt(eps), so rounding moves a few of them, and the two runs drift apart."""
    changes32, _ = _steps_from_the_same_start(None, 3)
    changes16, _ = _steps_from_the_same_start(torch.bfloat16, 3)
    for name, change in changes32.items():
        assert change.abs().max() > 0.05, name  # every parameter moved by a few learning rates
        assert (changes16[name] - change).abs().max() < 0.02, name
    _, losses32 = _steps_from_the_same_start(None, 30)
    _, losses16 = _steps_from_the_same_start(torch.bfloat16, 30)
    assert np.allclose(losses16, losses32, rtol=1e-2) and not np.array_equal(losses16, losses32)
