"""Fused CPU loops for the session trainer's elementwise work, compiled by numba.

Why: after its matrix products, a training step is mostly elementwise passes. The optimiser's
update of the ~1,000 item rows a step touches, written with torch operations, is a dozen separate
kernels (gather the rows' state, square, add, root, divide, scale, momentum, scatter back...), each
reading and writing whole (rows, D) tensors. One loop that reads every value once and writes it
once computes the same formulas in the same precision, several times faster.

Compiled on first use and cached on disk (``cache=True``). ``error_model="numpy"``: a division by
zero gives inf/nan as in numpy and torch, instead of the Python exception whose check per element
would keep the loops from being vectorised. Arrays are numpy views of the torch tensors (shared
memory); the scalars come in the arrays' dtype, so float32 arithmetic stays float32.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def adagrad_rows(table: np.ndarray, sums: np.ndarray, rows: np.ndarray, grad: np.ndarray, lr: float,
                 eps: float) -> None:  # pragma: no cover - compiled
    """Adagrad on ``table[rows[i]]`` (2-D) with gradient ``grad[i]``; ``sums``: the squared gradients."""
    for i in range(rows.shape[0]):
        r = rows[i]
        t, a, g = table[r], sums[r], grad[i]
        for d in range(t.shape[0]):
            gd = g[d]
            ad = a[d] + gd * gd
            a[d] = ad
            t[d] -= gd / np.sqrt(ad + eps) * lr


@numba.njit(**_JIT)
def adagrad_nesterov_rows(table: np.ndarray, state: np.ndarray, rows: np.ndarray, grad: np.ndarray, lr: float,
                          momentum: float, eps: float) -> None:  # pragma: no cover - compiled
    """Adagrad with Nesterov momentum on ``table[rows[i]]`` (2-D); ``state[r, 0]`` holds row r's
    squared gradients, ``state[r, 1]`` its velocity (the optimiser's (rows, 2, D) layout)."""
    for i in range(rows.shape[0]):
        r = rows[i]
        t, a, v, g = table[r], state[r, 0], state[r, 1], grad[i]
        for d in range(t.shape[0]):
            gd = g[d]
            ad = a[d] + gd * gd
            a[d] = ad
            step = gd / np.sqrt(ad + eps) * lr
            vd = v[d] * momentum - step
            v[d] = vd
            t[d] += vd * momentum - step


@numba.njit(fastmath={"reassoc", "nsz"}, **_JIT)
def bpr_max_rows(scores: np.ndarray, weights: np.ndarray, sig: np.ndarray, positives: np.ndarray, counts: np.ndarray,
                 bpreg: float, scale: float, eps: float, losses: np.ndarray) -> None:  # pragma: no cover - compiled
    """BPR-max over a (B, U) score matrix of distinct candidates, row by row: the loss of each
    row into ``losses`` and, in place of ``weights``, the gradient times ``scale``.

    In: ``weights[i] = exp(scores[i] - max(scores[i]))`` and ``sig[i] = σ(scores[i, p] - scores[i])``
    (the exponentials come from torch, whose vectorised ones are several times faster than the
    scalar ones a numba loop calls); ``counts``: each candidate's occurrences in the mini-batch's
    candidate list (targets and samples), of which the loop takes out the row's own target.
    ``eps`` keeps log A finite. The formulas are those of :func:`rnnrec.session_losses.bpr_max_grad`;
    ``fastmath`` lets the row sums be vectorised (summed in another order, as torch's own are)."""
    for i in range(scores.shape[0]):
        s, w, q, p = scores[i], weights[i], sig[i], positives[i]
        own = w[p]
        total = w[0] * 0
        for j in range(s.shape[0]):
            w[j] *= counts[j]
            total += w[j]
        w[p] -= own
        total -= own
        a = total * 0  # Σ w σ
        g = total * 0  # Σ w s²
        for j in range(s.shape[0]):
            w[j] /= total
            a += w[j] * q[j]
            g += w[j] * (s[j] * s[j])
        a_eps = a + eps
        shift = a / a_eps - bpreg * g
        sq = total * 0  # Σ w σ² / A
        for j in range(s.shape[0]):
            wss = w[j] * q[j] * q[j] / a_eps
            sq += wss
            w[j] = (((s[j] * s[j] + 2 * s[j]) * bpreg + shift) * w[j] - wss) * scale
        w[p] -= (a / a_eps - sq) * scale
        losses[i] = -np.log(a_eps) + bpreg * g


@numba.njit(**_JIT)
def count_at_most(sorted_values: np.ndarray, queries: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[i]`` = how many of ``sorted_values`` (ascending, non-negative) are <= ``queries[i]``:
    ``torch.searchsorted(sorted_values, queries, right=True)``, for millions of queries.

    Why: inverse-CDF sampling looks up each uniform draw in the cumulative popularity; a binary
    search per draw jumps around the whole table. Here a bucket table over the value range gives
    each query a starting point at most a few entries below its answer, which a short forward scan
    finds: the same counts, several times faster."""
    n = sorted_values.shape[0]
    if n == 0:
        out[:] = 0
        return
    top = sorted_values[n - 1]
    n_buckets = 4 * n
    # start[k]: the count of values < the k-th bucket's lower end (a lower bound for its queries)
    start = np.empty(n_buckets + 1, np.int64)
    j = 0
    for k in range(n_buckets + 1):
        edge = top * (k / n_buckets)
        while j < n and sorted_values[j] < edge:
            j += 1
        start[k] = j
    for i in range(queries.shape[0]):
        q = queries[i]
        k = int(q / top * n_buckets) if top > 0 else 0
        k = min(max(k, 0), n_buckets)
        while k > 0 and top * (k / n_buckets) > q:  # rounding put q below its bucket's edge
            k -= 1
        j = start[k]
        while j < n and sorted_values[j] <= q:
            j += 1
        out[i] = j
