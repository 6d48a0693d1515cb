"""k-core, minimum sequence length and consecutive-repeat removal on hand-made frames with exact answers."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rnnrec.data.columns import Columns
from rnnrec.data.filters import drop_consecutive_repeats, k_core, min_sequence_length
from rnnrec.errors import ConfigError, DataFormatError


def make(rows: list[tuple], with_time: bool = True) -> pl.DataFrame:
    cols = [Columns.USER, Columns.ITEM, Columns.TIME][: 3 if with_time else 2]
    return pl.DataFrame([r[: len(cols)] for r in rows], schema=cols, orient="row").with_columns(
        *([pl.col(Columns.TIME).cast(pl.Float64)] if with_time else [])
    )


# file order deliberately interleaves users; row index = position in this list
CORE_ROWS = [
    ("u1", "a", 0), ("u1", "b", 1), ("u2", "a", 2), ("u2", "c", 3),
    ("u3", "b", 4), ("u3", "d", 5), ("u4", "a", 6), ("u4", "b", 7),
]  # fmt: skip


def test_k_core_needs_several_passes() -> None:
    frame = make(CORE_ROWS)
    # pass 1 drops items c, d (1 event each); that leaves u2 and u3 with 1 event; pass 2 drops them
    expected = make([CORE_ROWS[i] for i in (0, 1, 6, 7)])
    assert_frame_equal(k_core(frame, 2), expected)
    # a single user-then-item pass would stop early, with u2/u3 still below the threshold
    one_pass = frame.filter(pl.len().over(Columns.USER) >= 2).filter(pl.len().over(Columns.ITEM) >= 2)
    assert one_pass.height == 6


def test_k_core_separate_item_threshold_and_order() -> None:
    frame = make(CORE_ROWS[::-1])  # reversed file order must be kept as is
    assert_frame_equal(k_core(frame, 1, item_k=3), make([CORE_ROWS[i] for i in (7, 6, 4, 2, 1, 0)]))
    assert_frame_equal(k_core(frame, 0), frame)
    assert k_core(frame, 3).height == 0


def test_min_sequence_length() -> None:
    frame = make([("s1", "a", 1), ("s2", "b", 2), ("s1", "c", 3), ("s3", "a", 4), ("s3", "a", 5), ("s3", "b", 6)])
    assert_frame_equal(min_sequence_length(frame, 2), make([("s1", "a", 1), ("s1", "c", 3), ("s3", "a", 4), ("s3", "a", 5), ("s3", "b", 6)]))
    assert_frame_equal(min_sequence_length(frame, 3), make([("s3", "a", 4), ("s3", "a", 5), ("s3", "b", 6)]))
    assert_frame_equal(min_sequence_length(frame, 1), frame)


REPEAT_ROWS = [
    ("u1", "a", 3), ("u2", "x", 1), ("u1", "a", 1), ("u1", "b", 2),
    ("u1", "a", 1), ("u2", "x", 2), ("u2", "y", 3), ("u2", "x", 4),
]  # fmt: skip


def test_drop_consecutive_repeats_in_time_order() -> None:
    # u1 by time: row2 a@1, row4 a@1 (tie: file order), row3 b@2, row0 a@3 -> row4 repeats row2
    # u2 by time: row1 x@1, row5 x@2, row6 y@3, row7 x@4 -> row5 repeats row1
    frame = make(REPEAT_ROWS).with_columns(pl.Series("rating", range(8)))
    expected = make([REPEAT_ROWS[i] for i in (0, 1, 2, 3, 6, 7)]).with_columns(pl.Series("rating", [0, 1, 2, 3, 6, 7]))
    assert_frame_equal(drop_consecutive_repeats(frame), expected)


def test_drop_consecutive_repeats_without_time_uses_file_order() -> None:
    # u1 in file order: a, a, b, a -> drop the second a (row2); u2: x, x, y, x -> drop row5
    frame = make(REPEAT_ROWS, with_time=False)
    assert_frame_equal(drop_consecutive_repeats(frame), make([REPEAT_ROWS[i] for i in (0, 1, 3, 4, 6, 7)], with_time=False))


def test_filters_reject_bad_input() -> None:
    frame = make(CORE_ROWS)
    with pytest.raises(ConfigError, match="user_k"):
        k_core(frame, -1)
    with pytest.raises(ConfigError, match="item_k"):
        k_core(frame, 2, item_k=1.5)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match="item_id"):
        drop_consecutive_repeats(frame.drop(Columns.ITEM))
    empty = frame.head(0)
    assert k_core(empty, 5).height == 0
    assert drop_consecutive_repeats(empty).height == 0


def test_drop_consecutive_repeats_ties_keep_file_order() -> None:
    # same time for rows 0 and 1: file order says a then b, so row 2 (b, later) repeats row 1
    frame = make([("u", "a", 5), ("u", "b", 5), ("u", "b", 6), ("v", "b", 5), ("v", "b", 5)])
    assert_frame_equal(drop_consecutive_repeats(frame), make([("u", "a", 5), ("u", "b", 5), ("v", "b", 5)]))
    swapped = make([("u", "b", 5), ("u", "a", 5), ("u", "b", 6)])  # b, a, b: nothing repeats
    assert_frame_equal(drop_consecutive_repeats(swapped), swapped)
