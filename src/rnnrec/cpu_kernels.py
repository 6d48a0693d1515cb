"""Fused CPU loops for the session trainer's elementwise work, compiled by numba.

Why: after its matrix products, a training step is mostly elementwise passes. The optimiser's
update of the ~1,000 item rows a step touches, written with torch operations, is a dozen separate
kernels (gather the rows' state, square, add, root, divide, scale, momentum, scatter back...), each
reading and writing whole (rows, D) tensors. One loop that reads every value once and writes it
once does the same arithmetic, in the same order and precision, several times faster.

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
