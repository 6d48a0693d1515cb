"""Top-k item search: the exact index is the model's scoring; the HNSW index returns (nearly) the
same items, never an excluded one, and measures its own recall. Data: generated item vectors."""

import numpy as np
import pytest
import torch

from rnnrec.errors import ConfigError
from rnnrec.serving.item_index import (SEARCH_WIDTHS, TARGET_RECALL, ExactIndex, HnswIndex, build_index,
                                      recall_against_exact)


def test_exact_index_known_answer():
    weights = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # row 0 = padding
    bias = torch.tensor([9.0, 0.0, 0.5, -0.5])
    index = ExactIndex(weights, bias)
    scores, ids = index.search(np.array([[2.0, 1.0]], np.float32), 3, [np.array([], np.int64)])
    # scores: item1 2.0, item2 1.5, item3 2.5; padding never returned despite its bias
    assert ids.tolist() == [[3, 1, 2]] and scores.tolist() == [[2.5, 2.0, 1.5]]
    scores, ids = index.search(np.array([[2.0, 1.0]], np.float32), 3, [np.array([3])])
    assert ids.tolist() == [[1, 2, -1]]


def test_hnsw_finds_the_exact_top_k_and_skips_excluded_items():
    rng = np.random.default_rng(0)  # generated: 5,000 items, 32 dimensions
    weights = torch.from_numpy(rng.normal(size=(5001, 32)).astype(np.float32))
    bias = torch.from_numpy(rng.normal(size=5001).astype(np.float32))
    queries = rng.normal(size=(50, 32)).astype(np.float32)
    index = build_index(weights, bias, "hnsw", queries, k=20)
    assert isinstance(index, HnswIndex) and index.recall >= TARGET_RECALL
    index.exact = None  # the graph search itself, for every batch size
    width = index.ef_search
    exact = ExactIndex(weights, bias)
    assert recall_against_exact(index, exact, queries, 20) == index.recall
    _, top = exact.search(queries[:1], 5, [np.array([], np.int64)])
    _, got = index.search(queries[:1], 5, [top[0][:2]])
    assert not set(top[0][:2]) & set(got[0].tolist()) and (got[0] > 0).all()

    # A history that covers the first 2k candidates: a second, wider pass still fills k slots.
    _, top = exact.search(queries[:2], 100, [np.array([], np.int64)] * 2)
    _, want = exact.search(queries[:2], 5, [top[0], np.array([], np.int64)])
    _, got = index.search(queries[:2], 5, [top[0], np.array([], np.int64)])
    assert (got > 0).all() and not set(top[0]) & set(got[0].tolist())
    assert len(set(got[0].tolist()) & set(want[0].tolist())) >= 4  # approximate: nearly the exact answer
    assert got[1].tolist() == top[1][:5].tolist() and index.ef_search == width  # a wider pass is not kept


def test_hnsw_search_width_is_the_narrowest_that_reaches_the_target_recall():
    rng = np.random.default_rng(1)  # generated: 20,000 items, 64 dimensions (random vectors: hard for HNSW)
    weights = torch.from_numpy(rng.normal(size=(20001, 64)).astype(np.float32))
    bias = torch.zeros(20001)
    queries = rng.normal(size=(64, 64)).astype(np.float32)
    index = build_index(weights, bias, "hnsw", queries, k=20)
    index.exact = None  # the graph search itself, for every batch size
    exact = ExactIndex(weights, bias)
    assert index.ef_search in SEARCH_WIDTHS and index.recall >= TARGET_RECALL
    narrower = [w for w in SEARCH_WIDTHS if w < index.ef_search]
    assert narrower, "random vectors should need more than the narrowest width"
    index.ef_search = narrower[-1]
    assert recall_against_exact(index, exact, queries, 20) < TARGET_RECALL


def test_hnsw_hands_large_batches_to_exact_search():
    """Building the index times both searches on the sample queries and keeps the batch size from
    which exact search is faster; batches that large get exactly the exact answer, smaller ones
    the graph's. Data: generated."""
    from rnnrec.serving.item_index import exact_faster_from

    rng = np.random.default_rng(2)  # generated: 20,000 items, 64 dimensions
    weights = torch.from_numpy(rng.normal(size=(20001, 64)).astype(np.float32))
    bias = torch.from_numpy(rng.normal(size=20001).astype(np.float32))
    queries = rng.normal(size=(64, 64)).astype(np.float32)
    index = build_index(weights, bias, "hnsw", queries, k=20)
    assert isinstance(index.exact, ExactIndex) and index.exact_from in (None, 1, 2, 4, 8, 16, 32)
    none = [np.empty(0, np.int64)] * 4
    index.exact_from = 4
    assert all(np.array_equal(a, b) for a, b in zip(index.search(queries[:4], 20, none),
                                                      index.exact.search(queries[:4], 20, none)))
    below = index.search(queries[:3], 20, none[:3])
    exact, index.exact = index.exact, None
    assert all(np.array_equal(a, b) for a, b in zip(below, index.search(queries[:3], 20, none[:3])))
    assert exact_faster_from(index, exact, queries, 20, sizes=(100,)) is None  # no batch that large


def test_index_kinds():
    weights, bias = torch.zeros(11, 4), torch.zeros(11)
    assert build_index(weights, bias, "auto").kind == "exact"  # 10 items: far below the threshold
    with pytest.raises(ConfigError, match="item index must be one of"):
        build_index(weights, bias, "annoy")


@pytest.mark.parametrize(("rows", "width", "k"), [(16, 25_001, 20), (1, 100_001, 20), (5, 30_000, 7), (3, 1_000, 20)])
def test_top_k_rows_equals_torch_topk(rows, width, k):
    """The block-wise top-k finds exactly torch.topk's items and scores, excluded (-inf) columns,
    a partial last block and rows of equal blocks included. Data: generated scores."""
    from rnnrec.serving.item_index import top_k_rows

    g = torch.Generator().manual_seed(rows)
    scores = torch.randn(rows, width, generator=g)
    scores[:, ::3] = float("-inf")  # a third of every row excluded
    scores[-1, :] = torch.arange(width, dtype=torch.float32) % 64  # every block has the same maximum
    values, ids = top_k_rows(scores, k)
    expected = torch.topk(scores, k, dim=1)
    torch.testing.assert_close(values, expected.values)
    torch.testing.assert_close(scores.gather(1, ids), expected.values)  # same scores (ties may pick other ids)
    assert torch.equal(ids[:-1], expected.indices[:-1])  # no ties in the random rows: the same items


@pytest.mark.parametrize("batch", [1, 2, 5, 33])
def test_packed_linear_is_the_plain_product(batch):
    """The item scores through the packed weights equal ``F.linear`` to float32 rounding, for one
    query and batches below, near and above the layout's batch hint; and the
    exact index returns the same top-20 as scoring everything with ``F.linear``. Data: generated."""
    from rnnrec.serving.item_index import packed_linear

    g = torch.Generator().manual_seed(batch)
    weights, bias = torch.randn(3001, 16, generator=g), torch.randn(3001, generator=g)
    queries = torch.randn(batch, 16, generator=g)
    expected = torch.nn.functional.linear(queries, weights, bias)
    torch.testing.assert_close(packed_linear(weights, bias)(queries), expected, rtol=1e-5, atol=1e-5)
    expected[:, 0] = float("-inf")
    scores, ids = ExactIndex(weights, bias).search(queries.numpy(), 20, [np.empty(0, np.int64)] * batch)
    assert np.array_equal(ids, torch.topk(expected, 20, dim=1).indices.numpy())
    np.testing.assert_allclose(scores, torch.topk(expected, 20, dim=1).values.numpy(), rtol=1e-5, atol=1e-5)


def test_score_blocks_known_answer():
    """Blocks of 4 columns over 10 (two whole blocks and a tail of 2): the best k, and every finite
    score at least each row's floor, rows in order. Hand-made scores."""
    from rnnrec.serving.item_index import ScoreBlocks

    inf = float("inf")
    scores = torch.tensor([[0.0, 5.0, 1.0, 2.0, 3.0, 0.5, 4.0, 9.0, 6.0, -inf],
                           [7.0, -inf, -inf, -inf, 1.0, 2.0, 3.0, 0.0, 8.0, 2.5]])
    blocks = ScoreBlocks(scores, block=4)
    assert blocks.maxima.tolist() == [[5.0, 9.0], [7.0, 3.0]]
    values, ids = blocks.top_k(2)
    assert values.tolist() == [[9.0, 6.0], [8.0, 7.0]] and ids.tolist() == [[7, 8], [8, 0]]
    rows, cols = blocks.at_least(torch.tensor([4.5, -inf]))
    # row 0: both blocks reach 4.5 (maxima 5 and 9): 5 (col 1) and 9 (col 7), not 4 (col 6); tail: 6 (col 8)
    # row 1: a floor of -inf takes every finite score, never an excluded one
    assert rows.tolist() == [0, 0, 0] + [1] * 7
    assert cols.tolist() == [1, 7, 8] + [0, 4, 5, 6, 7, 8, 9]


def _bfloat16_screen_or_skip(weights, bias):
    from rnnrec.serving.item_index import Bfloat16Screen

    screen = Bfloat16Screen.build(weights, bias)
    if screen is None:
        pytest.skip("this torch build has no oneDNN bfloat16 product")
    return screen


def test_bfloat16_scores_stay_within_the_margin():
    """The error bound the screen relies on holds for every item and query, on item vectors of very
    different lengths and a large bias. Data: generated."""
    g = torch.Generator().manual_seed(0)
    weights = torch.randn(4001, 96, generator=g) * torch.logspace(-3, 1, 4001)[:, None]
    bias = torch.randn(4001, generator=g) * 5
    screen = _bfloat16_screen_or_skip(weights, bias)
    queries = torch.randn(64, 96, generator=g) * torch.logspace(-2, 2, 64)[:, None]
    error = (screen.approximate(queries) - torch.nn.functional.linear(queries, weights, bias)).abs()
    assert (error <= screen.margin(queries)[:, None]).all()
    assert (error.amax(dim=1) > 0).all()  # the bfloat16 scores really are rounded


@pytest.mark.parametrize("batch", [1, 7, 32])
def test_bfloat16_screen_returns_the_float32_top_k(batch, monkeypatch):
    """Search through the screen returns the items and scores of the float32 search, on groups of
    10 items whose lengths differ by 3e-4 (bfloat16 resolves 4e-3, so it cannot order them; float32
    can), with excluded items, a row with fewer than k items left, and a catalogue that is not a
    whole number of blocks. Where two items score the same to float32 rounding, either order is the
    float32 top-k. Every batch here goes through the screen (the server's sends only small ones).
    Data: generated."""
    from rnnrec.serving import item_index

    monkeypatch.setattr(item_index, "SCREEN_MAX_BATCH", 32)
    g = torch.Generator().manual_seed(batch)
    centres = torch.randn(300, 48, generator=g)
    steps = 1 + 3e-4 * torch.arange(10, dtype=torch.float32).repeat(300)
    weights = torch.cat([torch.zeros(1, 48), centres.repeat_interleave(10, dim=0) * steps[:, None]])  # row 0 = padding
    bias = torch.cat([torch.tensor([50.0]), 1e-4 * (torch.arange(3000) % 7)])
    queries = centres[torch.randint(0, 300, (batch,), generator=g)] + 0.1 * torch.randn(batch, 48, generator=g)
    screened, plain = ExactIndex(weights, bias, screen=True), ExactIndex(weights, bias, screen=False)
    if screened.screen is None:
        pytest.skip("this torch build has no oneDNN bfloat16 product")
    assert plain.screen is None
    exclude = [torch.randint(1, 3001, (40,), generator=g).numpy() for _ in range(batch)]
    exclude[-1] = np.arange(1, 2990)  # 11 items left for k = 20
    want_scores, want_ids = plain.search(queries.numpy(), 20, exclude)
    got_scores, got_ids = screened.search(queries.numpy(), 20, exclude)
    assert np.array_equal(got_ids == -1, want_ids == -1) and (got_ids[-1, 11:] == -1).all()
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-6, atol=1e-6)
    reference = (queries.double() @ weights.double().T + bias.double()).numpy()
    mismatch = got_ids != want_ids
    tied = np.abs(np.take_along_axis(reference, got_ids, 1) - np.take_along_axis(reference, want_ids, 1)) < 1e-5
    assert (tied[mismatch]).all() and mismatch.mean() < 0.01
    assert all(len(set(row[row > 0])) == (row > 0).sum() and not set(row) & set(ex) for row, ex in zip(got_ids, exclude))
    approximate = screened.screen.approximate(queries)
    approximate[:, 0] = float("-inf")
    for row, ex in enumerate(exclude):
        approximate[row, torch.from_numpy(ex)] = float("-inf")
    bfloat16_only = torch.topk(approximate, 11, dim=1).indices.numpy()
    assert not np.array_equal(bfloat16_only, want_ids[:, :11])  # the bfloat16 scores alone rank them wrong


def test_exact_index_screens_only_large_catalogues():
    from rnnrec.serving.item_index import SCREEN_FROM, bfloat16_supported

    weights, bias = torch.randn(1001, 8), torch.zeros(1001)
    assert ExactIndex(weights, bias).screen is None  # 1,000 items: the float32 product is as fast
    large = ExactIndex(torch.randn(SCREEN_FROM + 1, 8), torch.zeros(SCREEN_FROM + 1))
    assert (large.screen is not None) == bfloat16_supported()
