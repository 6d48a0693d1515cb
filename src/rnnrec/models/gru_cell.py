"""One GRU step with its backward written out, for the session trainer's step.

The session recipe back-propagates through one step only (the state arrives detached), so the
whole gradient of a step is a few fused products over (B, 3H) tensors. Writing them out skips
autograd's graph and bookkeeping, which cost as much as the arithmetic at these sizes. The
tests check it against autograd through ``torch.gru_cell``.

Gate layout as in ``torch.nn.GRUCell``: reset, update, new (r, z, n), each H wide.

The step's matrix products may run on bfloat16 copies (:func:`product`): on a CPU with native
bfloat16 instructions they take half the time or less, while the gates, the state and every sum
stay float32.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


PAD_MULTIPLE = 16


def product(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None = None,
            shape: tuple[int, int] | None = None) -> torch.Tensor:
    """``a @ b`` as float32; with ``dtype`` (bfloat16), multiplied from :func:`padded_copy` copies
    (operands that already are such copies are used as they are), the result cut to ``shape``
    (default: ``a``'s rows by ``b``'s columns)."""
    if dtype is None:
        return a @ b
    m, n = shape or (a.shape[0], b.shape[1])
    return (padded_copy(a, dtype) @ padded_copy(b, dtype))[:m, :n].float()


def padded_copy(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The 2-D ``t`` in ``dtype``, zero-padded to multiples of :data:`PAD_MULTIPLE` rows and columns
    (``t`` itself when it already is; a transposed view stays one).

    The number of candidates (and, at the end of an epoch, of active sessions) changes from step
    to step, and oneDNN prepares and keeps a bfloat16 product for every new shape: two epochs on
    ml-100k peaked at 1.39 GB unpadded, 0.66 GB padded (float32: 0.53 GB). The zeros add nothing
    to a product."""
    if not t.is_contiguous() and t.T.is_contiguous():
        return padded_copy(t.T, dtype).T
    rows, cols = t.shape
    extra_rows, extra_cols = -rows % PAD_MULTIPLE, -cols % PAD_MULTIPLE
    if not extra_rows and not extra_cols:
        return t.to(dtype)
    padded = t.new_empty(rows + extra_rows, cols + extra_cols, dtype=dtype)
    padded[:rows, :cols] = t
    padded[rows:].zero_()
    padded[:rows, cols:].zero_()
    return padded


class GRUCache(NamedTuple):
    """What the backward needs from the forward."""

    h: torch.Tensor  # the state before the step
    rz: torch.Tensor  # the reset and update gates, side by side (B, 2H)
    n: torch.Tensor  # the candidate state
    gh_n: torch.Tensor  # the recurrent projection of the new gate (before the reset gate)


def gru_cell_forward(
    gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, GRUCache]:
    """The new state from the input projection ``gi`` (B, 3H, input bias included) and ``h`` (B, H);
    ``dtype``: the recurrent product's, as in :func:`product`."""
    H = h.shape[1]
    gh = torch.addmm(b_hh, h, w_hh.T) if dtype is None else product(h, w_hh.T, dtype).add_(b_hh)
    rz = (gi[:, : 2 * H] + gh[:, : 2 * H]).sigmoid_()
    gh_n = gh[:, 2 * H :]
    n = torch.addcmul(gi[:, 2 * H :], rz[:, :H], gh_n).tanh_()
    return torch.lerp(n, h, rz[:, H:]), GRUCache(h, rz, n, gh_n)


def gru_cell_backward(grad: torch.Tensor, cache: GRUCache) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of the input projection ``gi`` and of the recurrent one ``gh`` (each B, 3H), given
    the gradient of the new state. The weights' gradients are then ``d_gi.T @ input``,
    ``d_gh.T @ h`` and the column sums."""
    h, rz, n, gh_n = cache
    H = h.shape[1]
    r, z = rz[:, :H], rz[:, H:]
    d_gi = torch.empty(h.shape[0], 3 * H, dtype=h.dtype, device=h.device)
    d_n = d_gi[:, 2 * H :]
    torch.mul(grad, 1.0 - z, out=d_n).mul_(1.0 - n * n)  # through h' = (1 - z)·n + z·h, then tanh
    d_rz = d_gi[:, : 2 * H]
    torch.mul(d_n, gh_n, out=d_rz[:, :H])  # reset gate: n = tanh(gi_n + r·gh_n)
    torch.mul(grad, h - n, out=d_rz[:, H:])  # update gate
    d_rz.mul_(rz * (1.0 - rz))  # through the sigmoids
    d_gh = d_gi.clone()
    d_gh[:, 2 * H :].mul_(r)
    return d_gi, d_gh
