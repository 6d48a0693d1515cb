"""The rand-mask dropout: identity in eval mode, inverted-dropout scaling, rate p, gradient = mask."""

import pytest
import torch

from rnnrec.models.dropout import Dropout


def test_eval_mode_and_zero_rate_pass_the_input_through():
    x = torch.randn(3, 4)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


def test_train_mode_zeroes_a_share_p_and_scales_the_rest():
    torch.manual_seed(0)
    x = torch.ones(200_000, requires_grad=True)
    y = Dropout(0.2).train()(x)
    kept = y != 0
    assert set(torch.unique(y).tolist()) == {0.0, 1.25}  # 1 / (1 - 0.2)
    assert abs((~kept).float().mean().item() - 0.2) < 0.006  # 6.7 standard deviations of the share
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask)/dx = mask


def test_same_seed_same_mask_and_bad_rates_refused():
    x = torch.randn(64)
    torch.manual_seed(3)
    a = Dropout(0.5).train()(x)
    torch.manual_seed(3)
    assert torch.equal(a, Dropout(0.5).train()(x))
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            Dropout(p)
