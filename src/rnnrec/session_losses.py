"""Session-parallel losses over a (B, B + n_sample) score matrix, and the negative-sample store.

Row i's positive is its own target; its negatives are the other targets of the mini-batch plus
``n_sample`` extra items shared by the whole mini-batch, drawn from popularity^``sample_alpha``.
Scores are computed once per distinct candidate item, with its number of occurrences as a weight. Drawing them one mini-batch at a time would cost a call per step,
so the :class:`SampleStore` draws millions at once and hands out slices.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class SampleStore:
    """Pre-drawn negative samples, ``n_sample`` per step, refilled ``store_size`` samples at a time."""

    def __init__(
        self,
        counts: np.ndarray,
        n_sample: int,
        alpha: float,
        store_size: int = 10_000_000,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        weights = np.asarray(counts, dtype=np.float64) ** alpha
        weights[np.asarray(counts) <= 0] = 0.0  # padding and items never seen are never drawn
        if weights.sum() <= 0:
            raise ValueError("no item has a positive count: cannot sample negatives")
        self.probabilities = torch.as_tensor(weights / weights.sum(), dtype=torch.float32)
        # logQ correction: in-batch negatives (the other targets) occur as often as the items do
        # in the data, the extra samples as popularity^alpha (see ``cross_entropy_logq``). Raw
        # counts, not probabilities: GRU4Rec's logq = 1 setting was tuned with that offset between
        # the two kinds of column (normalising both shifts them apart by (1 - alpha)·log N and
        # measured worse on rsc15-100k: Recall@20 0.657 vs 0.664).
        popularity = np.asarray(counts, dtype=np.float64)
        self.log_popularity = torch.log(torch.as_tensor(popularity, dtype=torch.float32).clamp_min(1e-30)).to(device)
        self.n_sample = n_sample
        self.alpha = alpha
        self.per_fill = max(1, store_size // max(n_sample, 1))
        self.generator = generator
        self.device = device
        self._store = torch.empty(0, max(n_sample, 1), dtype=torch.long)
        self._next = 0

    def _fill(self) -> None:
        # Inverse-CDF sampling of millions of draws at once, far faster than a call per step; the
        # lookup is torch.searchsorted(cdf, u, right=True), by a bucketed scan (same result).
        from rnnrec import cpu_kernels  # numba: imported on first use

        cdf = torch.cumsum(self.probabilities.double(), 0)
        u = torch.rand(self.per_fill * self.n_sample, generator=self.generator, dtype=torch.float64) * cdf[-1]
        drawn = torch.empty(len(u), dtype=torch.long)
        cpu_kernels.count_at_most(cdf.numpy(), u.numpy(), drawn.numpy())
        self._store = drawn.clamp_(max=len(cdf) - 1).view(self.per_fill, self.n_sample).to(self.device)
        self._next = 0

    def next(self) -> torch.Tensor:
        """The ``n_sample`` negatives of the next step (an empty tensor when ``n_sample`` is 0)."""
        if self.n_sample == 0:
            return torch.empty(0, dtype=torch.long, device=self.device)
        if self._next >= self._store.shape[0]:
            self._fill()
        out = self._store[self._next]
        self._next += 1
        return out


def cross_entropy_logq(
    scores: torch.Tensor,
    positives: torch.Tensor,
    batch_counts: torch.Tensor,
    sample_counts: torch.Tensor,
    log_popularity: torch.Tensor | None = None,
    logq: float = 0.0,
    sample_alpha: float = 1.0,
) -> torch.Tensor:
    """Sampled softmax cross-entropy over the distinct candidates, with logQ correction.

    ``scores`` (B, U) are against the U distinct candidate items; ``batch_counts`` / ``sample_counts``
    (U,) say how often each occurs among the B targets / the n_sample extra negatives;
    ``positives`` (B,) is each row's target column. In the candidate list with repeats, a column
    is corrected by the probability it was drawn with: in-batch columns by popularity
    (``logq · log pop``), sampled ones by popularity^``sample_alpha``. Summing each item's
    columns gives one logit per distinct item, s + log(a·pop^-logq + b·pop^(-logq·alpha)),
    which is exactly that softmax at a fraction of the cost.
    """
    log_weights, repeats = _column_log_weights(positives, batch_counts, sample_counts, log_popularity, logq, sample_alpha)
    return nn.functional.cross_entropy(scores + log_weights, positives) + repeats


def _column_log_weights(
    positives: torch.Tensor,
    batch_counts: torch.Tensor,
    sample_counts: torch.Tensor,
    log_popularity: torch.Tensor | None,
    logq: float,
    sample_alpha: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``cross_entropy_logq`` adds to the scores (U,), and the constant that turns the
    distinct-item loss into the loss of the list with repeats."""
    if logq and log_popularity is not None:
        log_weights = torch.logaddexp(batch_counts.log() - logq * log_popularity,
                                      sample_counts.log() - logq * sample_alpha * log_popularity)
        own = -logq * log_popularity[positives]  # the positive's own column is an in-batch one
    else:
        log_weights = (batch_counts + sample_counts).log()
        own = torch.zeros_like(positives, dtype=log_weights.dtype)
    # The item-level logit of the positive also holds its repeats; adding the difference back
    # gives the loss of the list with repeats exactly (a constant: the gradient is unchanged).
    return log_weights, (log_weights[positives] - own).mean()


def _negative_weights(
    scores: torch.Tensor, positives: torch.Tensor, counts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each row's target score (B, 1), softmax weights over its negatives (B, U), and which rows
    have any negative at all (B,).

    The negatives of row i are all candidate occurrences but its own target column, so the
    target item's count drops by one in its row (to zero when no other row or sample holds it).
    A row without negatives (one active slot, no samples) gets zero weights and no loss.
    """
    B = scores.shape[0]
    rows = torch.arange(B, device=scores.device)
    negatives = counts.expand(B, -1).clone()
    negatives[rows, positives] -= 1
    has_negative = negatives.sum(dim=1) > 0
    log_negatives = torch.where(has_negative.unsqueeze(1), negatives.log(), torch.zeros_like(negatives))
    weights = torch.softmax(scores + log_negatives, dim=1) * has_negative.unsqueeze(1)
    return scores[rows, positives].unsqueeze(1), weights, has_negative


def _mean_over(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp_min(1)


def bpr_max(scores: torch.Tensor, positives: torch.Tensor, counts: torch.Tensor, bpreg: float) -> torch.Tensor:
    """BPR-max: -log Σ_j w_j σ(s_i - s_j) + bpreg Σ_j w_j s_j², w = softmax over the negatives."""
    target, w, has_negative = _negative_weights(scores, positives, counts)
    ranking = -torch.log((w * torch.sigmoid(target - scores)).sum(dim=1) + 1e-24)
    reg = (w * scores.square()).sum(dim=1)
    return _mean_over(ranking + bpreg * reg, has_negative)


def top1_max(scores: torch.Tensor, positives: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """TOP1-max: Σ_j w_j (σ(s_j - s_i) + σ(s_j²)), w = softmax over the negatives."""
    target, w, has_negative = _negative_weights(scores, positives, counts)
    return _mean_over((w * (torch.sigmoid(scores - target) + torch.sigmoid(scores.square()))).sum(dim=1), has_negative)


# --- The same losses with their gradient by hand, for the CPU training step. ------------------
# The step computes d(loss)/d(scores) directly instead of recording an autograd graph over the
# (B, U) score matrix: a dozen fused passes over it instead of the twice as many small kernels
# (and their bookkeeping) that autograd runs for the expressions above. The tests hold both
# forms to the same values and gradients.


def cross_entropy_logq_grad(
    scores: torch.Tensor,
    positives: torch.Tensor,
    batch_counts: torch.Tensor,
    sample_counts: torch.Tensor,
    log_popularity: torch.Tensor | None = None,
    logq: float = 0.0,
    sample_alpha: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``cross_entropy_logq`` and its gradient with respect to ``scores``."""
    B = scores.shape[0]
    log_weights, repeats = _column_log_weights(positives, batch_counts, sample_counts, log_popularity, logq, sample_alpha)
    logits = scores + log_weights
    log_norm = torch.logsumexp(logits, dim=1)
    rows = torch.arange(B, device=scores.device)
    loss = (log_norm - logits[rows, positives]).mean() + repeats
    grad = logits.sub_(log_norm.unsqueeze(1)).exp_()  # softmax, in place of the logits
    grad[rows, positives] -= 1.0
    return loss, grad.div_(B)


def bpr_max_grad(
    scores: torch.Tensor, positives: torch.Tensor, counts: torch.Tensor, bpreg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``bpr_max`` and its gradient with respect to ``scores``.

    With w the softmax weights of row i's negatives, σ_j = σ(s_i - s_j), A = Σ w σ and
    G = Σ w s², the row's loss is -log A + bpreg·G, and
    d/ds_j = w_j·(bpreg·(s_j² + 2 s_j - G) - (σ_j² - A)/A), plus -Σ w σ(1 - σ)/A on its target.
    On the CPU the passes after the exponentials run as one loop per row
    (:func:`rnnrec.cpu_kernels.bpr_max_rows`); elsewhere as the torch operations of
    :func:`bpr_max_grad_torch`.
    """
    if scores.device.type != "cpu" or scores.dtype not in (torch.float32, torch.float64):
        return bpr_max_grad_torch(scores, positives, counts, bpreg)
    if float(counts.sum()) <= 1.0:  # the batch's one target and nothing else: no negative anywhere
        return scores.new_zeros(()), torch.zeros_like(scores)
    from rnnrec import cpu_kernels  # numba: imported on first use

    scores = scores.contiguous()
    dtype = np.float32 if scores.dtype == torch.float32 else np.float64
    weights = (scores - scores.amax(dim=1, keepdim=True)).exp_()
    sig = (scores.gather(1, positives.unsqueeze(1)) - scores).sigmoid_()
    losses = np.empty(scores.shape[0], dtype)
    cpu_kernels.bpr_max_rows(scores.numpy(), weights.numpy(), sig.numpy(), positives.contiguous().numpy(),
                             counts.to(scores.dtype).contiguous().numpy(), dtype(bpreg), dtype(1.0 / scores.shape[0]),
                             dtype(1e-24), losses)
    return torch.from_numpy(losses).mean(), weights


def bpr_max_grad_torch(
    scores: torch.Tensor, positives: torch.Tensor, counts: torch.Tensor, bpreg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`bpr_max_grad` as torch operations (any device)."""
    B, U = scores.shape
    rows = torch.arange(B, device=scores.device)
    if float(counts.sum()) <= 1.0:  # the batch's one target and nothing else: no negative anywhere
        return scores.new_zeros(()), torch.zeros_like(scores)
    # The negatives of row i are every candidate occurrence but its own target: counts - one-hot.
    w = (scores - scores.amax(dim=1, keepdim=True)).exp_()
    own = w[rows, positives]
    w.mul_(counts)
    w[rows, positives] -= own
    w.div_(w.sum(dim=1, keepdim=True))
    target = scores[rows, positives].unsqueeze(1)
    sig = (target - scores).sigmoid_()
    w_sig = w * sig
    a = w_sig.sum(dim=1, keepdim=True)
    a_eps = a + 1e-24
    square = scores.square()
    g = torch.linalg.vecdot(w, square).unsqueeze(1)
    loss = (-a_eps.log() + bpreg * g).mean()
    w_sig_sq = w_sig.mul_(sig).div_(a_eps)  # w σ² / A, in place of w σ
    grad = torch.add(square, scores, alpha=2.0).mul_(bpreg).add_(a / a_eps - bpreg * g).mul_(w)
    grad.sub_(w_sig_sq)
    grad[rows, positives] -= (a / a_eps - w_sig_sq.sum(dim=1, keepdim=True)).squeeze(1)
    return loss, grad.div_(B)
