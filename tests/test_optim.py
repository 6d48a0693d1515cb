"""RowSparseOptimizer: Adagrad (plain and Nesterov momentum) by hand, lazy Adam vs torch.optim.Adam."""

import math

import pytest
import torch
from torch import nn

from torch.optim.adam import adam as torch_adam

from rnnrec.errors import ConfigError
from rnnrec.optim import RowSparseOptimizer

LR, EPS = 0.1, 1e-6  # the defaults


def table():
    return nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64))


ROWS = torch.tensor([0, 2])
G1 = torch.tensor([[1.0, -2.0], [0.5, 0.0]], dtype=torch.float64)  # gradient of table[[0, 2]], step 1
G2 = torch.tensor([[1.0, 2.0], [0.5, 3.0]], dtype=torch.float64)  # step 2


def close(a, b):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                          rtol=1e-12, atol=1e-14)


def test_adagrad_rows_by_hand():
    p = table()
    opt = RowSparseOptimizer([], [p], "adagrad", lr=LR)
    opt.step_rows(p, ROWS, G1)
    # step 1: a = g^2, p -= lr * g / sqrt(a + eps)  (eps inside the root, as GRU4Rec's Adagrad)
    expected = [
        [1 - 0.1 * 1 / math.sqrt(1 + EPS), 2 + 0.1 * 2 / math.sqrt(4 + EPS)],
        [3.0, 4.0],  # row 1 not touched
        [5 - 0.1 * 0.5 / math.sqrt(0.25 + EPS), 6 - 0.0],  # a zero gradient moves nothing
    ]
    assert close(p.detach(), expected)
    assert close(opt.state[p]["a"], [[1.0, 4.0], [0.0, 0.0], [0.25, 0.0]])
    assert "m" not in opt.state[p]  # no momentum buffer without momentum
    # step 2: squares accumulate, a = [[1+1, 4+4], [0.25+0.25, 0+9]]
    opt.step_rows(p, ROWS, G2)
    expected = [
        [expected[0][0] - 0.1 * 1 / math.sqrt(2 + EPS), expected[0][1] - 0.1 * 2 / math.sqrt(8 + EPS)],
        [3.0, 4.0],
        [expected[2][0] - 0.1 * 0.5 / math.sqrt(0.5 + EPS), 6 - 0.1 * 3 / math.sqrt(9 + EPS)],
    ]
    assert close(p.detach(), expected)
    assert close(opt.state[p]["a"], [[2.0, 8.0], [0.0, 0.0], [0.5, 9.0]])


def test_adagrad_nesterov_momentum_by_hand():
    mu = 0.5
    p = table()
    opt = RowSparseOptimizer([], [p], "adagrad", lr=LR, momentum=mu)
    # s_t = lr * g_t / sqrt(a_t + eps);  v_t = mu * v_{t-1} - s_t;  p += mu * v_t - s_t
    s1 = [[0.1 * 1 / math.sqrt(1 + EPS), -0.1 * 2 / math.sqrt(4 + EPS)], [0.1 * 0.5 / math.sqrt(0.25 + EPS), 0.0]]
    s2 = [[0.1 * 1 / math.sqrt(2 + EPS), 0.1 * 2 / math.sqrt(8 + EPS)],
          [0.1 * 0.5 / math.sqrt(0.5 + EPS), 0.1 * 3 / math.sqrt(9 + EPS)]]
    opt.step_rows(p, ROWS, G1)
    # v1 = -s1, delta1 = mu * v1 - s1 = -1.5 s1
    row0 = [1 - 1.5 * s1[0][0], 2 - 1.5 * s1[0][1]]
    row2 = [5 - 1.5 * s1[1][0], 6 - 1.5 * s1[1][1]]
    assert close(p.detach(), [row0, [3.0, 4.0], row2])
    assert close(opt.state[p]["m"], [[-s1[0][0], -s1[0][1]], [0.0, 0.0], [-s1[1][0], -s1[1][1]]])
    opt.step_rows(p, ROWS, G2)
    # v2 = mu * v1 - s2 = -0.5 s1 - s2, delta2 = mu * v2 - s2 = -0.25 s1 - 1.5 s2
    row0 = [row0[j] - 0.25 * s1[0][j] - 1.5 * s2[0][j] for j in range(2)]
    row2 = [row2[j] - 0.25 * s1[1][j] - 1.5 * s2[1][j] for j in range(2)]
    assert close(p.detach(), [row0, [3.0, 4.0], row2])
    v2 = [[-0.5 * s1[i][j] - s2[i][j] for j in range(2)] for i in range(2)]
    assert close(opt.state[p]["m"], [v2[0], [0.0, 0.0], v2[1]])
    assert close(opt.state[p]["a"][1], [0.0, 0.0])


class TorchAdam:
    """torch's own Adam update (torch.optim.adam.adam, the function ``torch.optim.Adam.step`` runs),
    called directly: ``Adam.step`` would import torch._dynamo, seconds on a busy machine."""

    def __init__(self, param, lr, betas=(0.9, 0.999), eps=1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m, self.v = torch.zeros_like(param), torch.zeros_like(param)
        self.step_count = torch.tensor(0.0)

    @torch.no_grad()
    def step(self):
        torch_adam([self.param], [self.param.grad], [self.m], [self.v], [], [self.step_count], foreach=False,
                   amsgrad=False, beta1=self.betas[0], beta2=self.betas[1], lr=self.lr, weight_decay=0.0,
                   eps=self.eps, maximize=False)


GRADS = [
    torch.tensor([[0.3, -1.0], [2.0, 0.5], [-0.7, 0.0]], dtype=torch.float64),
    torch.tensor([[1.0, 1.0], [-0.2, 0.4], [0.1, -3.0]], dtype=torch.float64),
    torch.tensor([[-0.5, 0.25], [0.0, 1.5], [0.9, 0.6]], dtype=torch.float64),
]


@pytest.mark.parametrize("kind,momentum", [("adagrad", 0.0), ("adagrad", 0.9), ("adam", 0.0)])
def test_dense_step_equals_rows_step_over_all_rows(kind, momentum):
    dense, rows = table(), table()
    opt_d = RowSparseOptimizer([dense], [], kind, lr=0.05, momentum=momentum)
    opt_r = RowSparseOptimizer([], [rows], kind, lr=0.05, momentum=momentum)
    for g in GRADS:
        dense.grad = g.clone()
        opt_d.step_dense()
        opt_r.step_dense()  # no dense parameters: only counts the step (Adam's bias correction)
        opt_r.step_rows(rows, torch.arange(3), g.clone())
        assert close(dense.detach(), rows.detach())
    for name in opt_d.state[dense]:
        assert close(opt_d.state[dense][name], opt_r.state[rows][name])


def test_step_dense_skips_parameters_without_gradient_and_frozen_ones():
    a, b = nn.Parameter(torch.ones(2, dtype=torch.float64)), nn.Parameter(torch.ones(2, dtype=torch.float64))
    frozen = nn.Parameter(torch.ones(2), requires_grad=False)
    opt = RowSparseOptimizer([a, b, frozen], [], "adagrad", lr=LR)
    assert frozen not in opt.state and opt.dense_params == [a, b]
    a.grad = torch.tensor([1.0, -1.0], dtype=torch.float64)
    opt.step_dense()
    assert close(a.detach(), [1 - 0.1 / math.sqrt(1 + EPS), 1 + 0.1 / math.sqrt(1 + EPS)])
    assert close(b.detach(), [1.0, 1.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_adam_matches_torch_adam_on_a_dense_parameter():
    ours, ref = table(), table()
    opt = RowSparseOptimizer([ours], [], "adam", lr=0.01, betas=(0.8, 0.99))
    torch_opt = TorchAdam(ref, lr=0.01, betas=(0.8, 0.99), eps=1e-8)  # the code's Adam eps
    for g in GRADS:
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step_dense()
        torch_opt.step()
        assert torch.allclose(ours.detach(), ref.detach(), rtol=0, atol=1e-6)
        assert torch.allclose(ours.detach(), ref.detach(), rtol=1e-12, atol=1e-12)  # in fact to rounding


def test_lazy_adam_leaves_untouched_rows_alone():
    p = table()
    ref = nn.Parameter(p.detach()[ROWS].clone())  # the touched rows, as a dense parameter
    opt = RowSparseOptimizer([], [p], "adam", lr=0.01)
    torch_opt = TorchAdam(ref, lr=0.01, eps=1e-8)
    for g in GRADS:
        opt.step_dense()
        opt.step_rows(p, ROWS, g[:2].clone())
        ref.grad = g[:2].clone()
        torch_opt.step()
    assert torch.allclose(p.detach()[ROWS], ref.detach(), rtol=1e-12, atol=1e-12)
    assert close(p.detach()[1], [3.0, 4.0])
    assert close(opt.state[p]["a"][1], [0.0, 0.0]) and close(opt.state[p]["m"][1], [0.0, 0.0])
    assert opt.t == 3


def test_invalid_settings_are_config_errors():
    p = table()
    with pytest.raises(ConfigError, match="optimizer"):
        RowSparseOptimizer([], [p], "sgd")
    with pytest.raises(ConfigError, match="momentum"):
        RowSparseOptimizer([], [p], "adam", momentum=0.9)


@pytest.mark.parametrize("momentum", [0.0, 0.4])
def test_fused_cpu_loop_equals_the_torch_operations(momentum):
    """On the CPU, Adagrad runs as one fused loop per tensor (rnnrec.cpu_kernels); the torch
    operations (``fused=False``, the GPU's form) must give the same parameters and state, to float32
    rounding, for item tables (rows gathered, some never touched), a dense matrix and a dense
    vector over several steps. The hand-computed tests above run the fused loop in float64.
    Data: generated."""
    g = torch.Generator().manual_seed(3)
    start = [torch.randn(50, 8, generator=g), torch.randn(50, generator=g), torch.randn(6, 8, generator=g),
             torch.randn(6, generator=g)]
    fused_params = [nn.Parameter(t.clone()) for t in start]
    plain_params = [nn.Parameter(t.clone()) for t in start]
    fused = RowSparseOptimizer(fused_params[2:], fused_params[:2], "adagrad", lr=0.05, momentum=momentum)
    plain = RowSparseOptimizer(plain_params[2:], plain_params[:2], "adagrad", lr=0.05, momentum=momentum, fused=False)
    assert fused.fused and not plain.fused
    for _ in range(4):
        rows = torch.randperm(40, generator=g)[:25]  # rows 40-49 are never touched
        grads = [torch.randn(25, 8, generator=g), torch.randn(25, generator=g)]
        dense_grads = [torch.randn(6, 8, generator=g), torch.randn(6, generator=g)]
        for params, opt in ((fused_params, fused), (plain_params, plain)):
            for p, dg in zip(params[2:], dense_grads):
                p.grad = dg.clone()
            opt.step_dense()
            for p, rg in zip(params[:2], grads):
                opt.step_rows(p, rows, rg.clone())
    for a, b in zip(fused_params, plain_params):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-7)
    for a, b in zip(fused_params, plain_params):
        for name in fused.state[a]:
            torch.testing.assert_close(fused.state[a][name], plain.state[b][name], rtol=1e-6, atol=1e-7)
    assert torch.equal(fused_params[0].detach()[40:], start[0][40:])  # untouched rows stay as they were
    assert not torch.equal(fused_params[0].detach()[:40], start[0][:40])


def test_adam_is_never_fused():
    assert not RowSparseOptimizer([], [table()], "adam").fused
