"""Losses against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from rnnrec.losses import NegativeSampler, full_cross_entropy, sampled_cross_entropy

W = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # item 0 = padding
B = torch.zeros(4)


def test_full_cross_entropy_ignores_the_padding_row():
    h = torch.tensor([[2.0, 0.0]])  # logits over items 1..3: [2, 0, 2]
    expected = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(2)))
    assert full_cross_entropy(h, torch.tensor([1]), W, B).item() == pytest.approx(expected, rel=1e-6)


def test_full_cross_entropy_in_row_blocks_matches_one_softmax(monkeypatch):
    """Blocks of 32 rows (the smallest), 40 rows: two blocks, the last one partial."""
    import rnnrec.losses as losses

    monkeypatch.setattr(losses, "LOGITS_PER_BLOCK", 16)
    gen = torch.Generator().manual_seed(0)
    weights = torch.randn(8, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(8, generator=gen, dtype=torch.float64, requires_grad=True)
    h = torch.randn(40, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, 8, (40,), generator=gen)
    reference = torch.nn.functional.cross_entropy(h @ weights[1:].T + bias[1:], targets - 1)
    expected = torch.autograd.grad(reference, (h, weights, bias))
    got = full_cross_entropy(h, targets, weights, bias)
    assert got.item() == pytest.approx(reference.item(), rel=1e-12)
    for g, e in zip(torch.autograd.grad(got, (h, weights, bias)), expected):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: full_cross_entropy(x, targets, weights, bias), (h,))
    # Gradients for some inputs only, a scaled loss, and no gradients at all under no_grad.
    only_bias = full_cross_entropy(h.detach(), targets, weights.detach(), bias)
    (g_bias,) = torch.autograd.grad(3.0 * only_bias, (bias,))
    torch.testing.assert_close(g_bias, 3.0 * expected[2], rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        assert full_cross_entropy(h, targets, weights, bias).item() == pytest.approx(reference.item(), rel=1e-12)


def test_full_cross_entropy_with_bfloat16_products_stays_close_to_float32(monkeypatch):
    """bfloat16 keeps 8 bits of mantissa: the loss and gradients move, by well under 1 %.
    Blocks of 32 rows: 70 rows are two whole blocks and one of 6 rows padded with 26 zero rows."""
    import rnnrec.losses as losses

    monkeypatch.setattr(losses, "LOGITS_PER_BLOCK", 499 * 32)
    gen = torch.Generator().manual_seed(0)
    weights = (0.3 * torch.randn(500, 16, generator=gen)).requires_grad_()
    bias = (0.1 * torch.randn(500, generator=gen)).requires_grad_()
    h = torch.randn(70, 16, generator=gen, requires_grad=True)
    targets = torch.randint(1, 500, (70,), generator=gen)
    exact = full_cross_entropy(h, targets, weights, bias)
    exact_grads = torch.autograd.grad(exact, (h, weights, bias))
    low = full_cross_entropy(h, targets, weights, bias, product_dtype=torch.bfloat16)
    low_grads = torch.autograd.grad(low, (h, weights, bias))
    assert low.dtype == torch.float32
    assert low.item() != exact.item() and low.item() == pytest.approx(exact.item(), rel=1e-3)
    for g, e in zip(low_grads, exact_grads):
        assert g.dtype == torch.float32
        assert float((g - e).abs().max()) <= 0.01 * float(e.abs().max())


def test_sampled_cross_entropy_with_logq_and_duplicates():
    h = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([1, 2])
    negatives = torch.tensor([3, 1])  # 1 duplicates a target: it must appear once
    log_q = torch.log(torch.tensor([1.0, 0.5, 0.25, 0.25]))
    # candidates {1, 2, 3}; row 0 logits [2, 0, 2] - log q = [2+ln2, ln4, 2+ln4]; target column 0
    r0 = [2 + math.log(2), math.log(4), 2 + math.log(4)]
    r1 = [0 + math.log(2), 1 + math.log(4), 1 + math.log(4)]
    ce = lambda r, t: -r[t] + math.log(sum(math.exp(x) for x in r))  # noqa: E731
    expected = (ce(r0, 0) + ce(r1, 1)) / 2
    got = sampled_cross_entropy(h, targets, W, B, negatives, log_q, logq_weight=1.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    no_correction = (ce([2, 0, 2], 0) + ce([0, 1, 1], 1)) / 2
    assert sampled_cross_entropy(h, targets, W, B, negatives, log_q, 0.0).item() == pytest.approx(no_correction, rel=1e-6)


def test_negative_sampler_follows_popularity_power():
    counts = np.array([0, 100, 25, 0])  # item 3 unseen in training: weight of one event
    sampler = NegativeSampler(counts, alpha=0.5, rng=np.random.default_rng(0), chunk=200_000)
    expected = np.array([0.0, 10.0, 5.0, 1.0]) / 16.0
    np.testing.assert_allclose(sampler.p, expected)
    draws = np.concatenate([sampler.sample(50_000).numpy() for _ in range(4)])
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, expected, atol=0.005)
    assert torch.allclose(sampler.log_q[1:], torch.log(torch.from_numpy(expected[1:]).float()))
