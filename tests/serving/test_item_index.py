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
    exact = ExactIndex(weights, bias)
    assert index.ef_search in SEARCH_WIDTHS and index.recall >= TARGET_RECALL
    narrower = [w for w in SEARCH_WIDTHS if w < index.ef_search]
    assert narrower, "random vectors should need more than the narrowest width"
    index.ef_search = narrower[-1]
    assert recall_against_exact(index, exact, queries, 20) < TARGET_RECALL


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
