"""Next-item losses over output vectors ``h`` (N, D) and item vectors ``W`` (I+1, D), row 0 = padding.

- ``full_cross_entropy``: softmax over the whole catalogue (exact, or with bfloat16 matrix
  products; fine up to ~10^5 items).
- ``sampled_cross_entropy``: softmax over the batch's own targets plus items drawn from
  popularity^alpha, with logQ correction so the estimate is not biased toward popular items.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rnnrec.errors import ConfigError

LOSSES = ("ce", "sampled_ce")


LOGITS_PER_BLOCK = 1 << 20  # 4 MB of float32 logits: a block stays in cache while it is used
ROW_MULTIPLE = 32  # block heights are multiples of this (see _BlockCrossEntropy)


def full_cross_entropy(
    h: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    product_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Mean softmax cross-entropy of ``targets`` (N,) over items 1..I.

    Runs a block of rows at a time (:class:`_BlockCrossEntropy`): the (N, I) logits are never
    held whole, and each block's gradients are taken while its softmax is in cache. On 2 CPU
    cores, forward + backward of 1,600 targets over 10,325 items: 60 ms, against 85 ms when
    backward recomputes the logits and 160 ms for ``F.cross_entropy`` on the whole logits.

    ``product_dtype=torch.bfloat16`` runs the three matrix products (logits, and the gradients
    of ``h`` and of the item vectors) on bfloat16 copies, with float32 results, softmax and
    accumulation: 38 ms instead of 60 on a CPU with native bfloat16 instructions, gradients
    within 0.5 % of the float32 ones.
    """
    n_items = weights.shape[0] - 1
    rows = max(1, LOGITS_PER_BLOCK // max(1, n_items) // ROW_MULTIPLE) * ROW_MULTIPLE
    return _BlockCrossEntropy.apply(h, weights[1:], bias[1:], targets - 1, rows, torch.is_grad_enabled(), product_dtype)


class _BlockCrossEntropy(torch.autograd.Function):
    """``F.cross_entropy(h @ w.T + b, t)`` over row blocks, gradients computed in the forward pass.

    The loss is a mean over rows, so its gradients are the softmax - one-hot of each row
    (scaled by 1/N) pushed through the two products: a block's softmax is turned into its
    share of the three gradients at once, and backward only scales them. Computing the logits
    and their exponentials once instead of twice (forward, then again in backward) saves
    a quarter of the time.
    """

    @staticmethod
    def forward(ctx, h, w, b, t, rows, grad_enabled, product_dtype):  # type: ignore[override]
        need_h, need_w, need_b = (need and grad_enabled for need in ctx.needs_input_grad[:3])
        n = h.shape[0]
        lse = torch.empty(n, dtype=h.dtype, device=h.device)
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros_like(w) if need_w else None
        grad_b = torch.zeros_like(b) if need_b else None
        low = product_dtype is not None and product_dtype != h.dtype
        if low:
            # Zero rows pad the copy to a multiple of ROW_MULTIPLE, so the products come in few
            # shapes: oneDNN keeps a prepared kernel per shape, and a new last-block height at
            # every step grew the process to 1.3 GB on ml-100k.
            h_low = torch.cat([h, h.new_zeros(-n % ROW_MULTIPLE, h.shape[1])]).to(product_dtype)
            w_low = w.to(product_dtype)
        for start in range(0, n, rows):
            block = h_low[start : start + rows] if low else h[start : start + rows]
            real = min(rows, n - start)  # rows of block that are not padding
            # logits, then in place their softmax, then softmax - one-hot
            p = (block @ w_low.T).to(h.dtype).add_(b) if low else torch.addmm(b, block, w.T)
            row_max = p.amax(dim=1, keepdim=True)
            total = p.sub_(row_max).exp_().sum(dim=1, keepdim=True)
            lse[start : start + real] = (row_max + total.log())[:real, 0]
            if not (need_h or need_w or need_b):
                continue
            p.div_(total)
            p[torch.arange(real, device=p.device), t[start : start + real]] -= 1.0
            p[real:] = 0.0  # padding rows contribute nothing
            if grad_b is not None:
                grad_b += p.sum(dim=0)
            if low:  # products in product_dtype, results added up in float32
                p = p.to(product_dtype)
                if grad_h is not None:
                    grad_h[start : start + real] = (p @ w_low)[:real]
                if grad_w is not None:
                    grad_w += p.T @ block
                continue
            if grad_h is not None:
                torch.mm(p, w, out=grad_h[start : start + rows])
            if grad_w is not None:
                grad_w.addmm_(p.T, block)
        ctx.grads, ctx.n = (grad_h, grad_w, grad_b), n
        target_logits = (h * w[t]).sum(dim=1) + b[t]
        return (lse - target_logits).mean()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        scale = grad / ctx.n
        grad_h, grad_w, grad_b = (None if g is None else g * scale for g in ctx.grads)
        return grad_h, grad_w, grad_b, None, None, None, None


def sampled_cross_entropy(
    h: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor,
    logq_weight: float = 1.0,
) -> torch.Tensor:
    """Softmax over candidates = unique(batch targets ∪ ``negatives``), logits minus ``logq_weight``·log q.

    ``log_q`` (I+1,) is the log sampling probability of each item; using the same correction for
    in-batch and sampled candidates follows the usual sampled-softmax estimate. Duplicates are
    removed first so an item never competes with itself.
    """
    candidates, inverse = torch.unique(torch.cat([targets, negatives]), return_inverse=True)  # (C,)
    labels = inverse[: targets.shape[0]]  # (N,) column of each target among the candidates
    logits = h @ weights[candidates].T + bias[candidates]  # (N, C)
    if logq_weight:
        logits = logits - logq_weight * log_q[candidates]
    return F.cross_entropy(logits, labels)


class NegativeSampler:
    """Draws items from popularity^alpha in large pre-drawn chunks, so sampling is free per step."""

    def __init__(self, item_counts: np.ndarray, alpha: float, rng: np.random.Generator, chunk: int = 1 << 20) -> None:
        """``item_counts`` (I+1,) training frequency per internal item (index 0 = padding, ignored)."""
        if alpha < 0:
            raise ConfigError(f"sample_alpha must be >= 0, got {alpha}")
        weights = np.asarray(item_counts, dtype=np.float64).copy()
        weights[0] = 0.0
        # Items never seen in training can still be drawn (with weight of one event), or the
        # model would never learn to push them down.
        weights[1:] = np.maximum(weights[1:], 1.0) ** alpha
        self.p = weights / weights.sum()
        self.log_q = torch.from_numpy(np.log(np.where(self.p > 0, self.p, 1.0))).float()
        self.rng = rng
        self.chunk = chunk
        self._store = np.empty(0, dtype=np.int64)
        self._pos = 0

    def sample(self, n: int) -> torch.Tensor:
        if self._pos + n > len(self._store):
            self._store = self.rng.choice(len(self.p), size=max(self.chunk, n), p=self.p).astype(np.int64)
            self._pos = 0
        out = self._store[self._pos : self._pos + n]
        self._pos += n
        return torch.from_numpy(out)
