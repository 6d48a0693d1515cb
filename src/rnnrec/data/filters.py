"""Standard preprocessing filters over the canonical frame (k-core, short sequences, repeated clicks).

Why here: published protocols apply these before ID mapping, and each changes which users and items
exist, so they work on the raw frame. All are vectorised polars expressions and keep the file order of
the rows they keep (sorting by time is the dataset's job, done stably).
"""

from __future__ import annotations

import polars as pl

from rnnrec.data.columns import Columns
from rnnrec.errors import ConfigError, DataFormatError

__all__ = ["drop_consecutive_repeats", "k_core", "min_sequence_length"]


def _require(frame: pl.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataFormatError(f"interaction table has no column(s) {missing} (columns: {frame.columns})")


def _check_k(name: str, k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {k!r}")
    return k


def k_core(frame: pl.DataFrame, user_k: int, item_k: int | None = None) -> pl.DataFrame:
    """Keep the largest subset where every user has >= ``user_k`` events and every item >= ``item_k``.

    Dropping a sparse item can push a user below the threshold (and vice versa), so pruning repeats
    until nothing changes; the result (the k-core) does not depend on the order of removals. Events
    are counted as rows, so repeated user-item pairs count each time. ``item_k`` defaults to ``user_k``.
    """
    _require(frame, Columns.USER, Columns.ITEM)
    user_k = _check_k("user_k", user_k)
    item_k = user_k if item_k is None else _check_k("item_k", item_k)
    keep = (pl.len().over(Columns.USER) >= user_k) & (pl.len().over(Columns.ITEM) >= item_k)
    out = frame
    while True:
        pruned = out.filter(keep)
        if pruned.height == out.height:
            return pruned
        out = pruned


def min_sequence_length(frame: pl.DataFrame, n: int) -> pl.DataFrame:
    """Drop users with fewer than ``n`` events (e.g. sessions of length 1 teach next-item models nothing)."""
    _require(frame, Columns.USER)
    n = _check_k("n", n)
    return frame.filter(pl.len().over(Columns.USER) >= n)


def drop_consecutive_repeats(frame: pl.DataFrame) -> pl.DataFrame:
    """Drop an event whose item equals the same user's previous event's item (e.g. page reloads).

    "Previous" is in the user's time order (sorted by timestamp, ties and time-less frames in file
    order). The kept rows come back in the original file order.
    """
    _require(frame, Columns.USER, Columns.ITEM)
    file_order = pl.int_range(pl.len())
    order = [pl.col(Columns.TIME), file_order] if Columns.TIME in frame.columns else [file_order]
    previous = pl.col(Columns.ITEM).shift(1).over(Columns.USER, order_by=order)
    return frame.filter((pl.col(Columns.ITEM) != previous).fill_null(True))
