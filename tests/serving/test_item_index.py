"""Top-k item search: the exact index is the model's scoring; the HNSW index returns (nearly) the
same items, never an excluded one, and measures its own recall. Data: generated item vectors."""

import numpy as np
import pytest
import torch

from rnnrec.errors import ConfigError
from rnnrec.serving.item_index import ExactIndex, HnswIndex, build_index, recall_against_exact


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
    assert isinstance(index, HnswIndex) and index.recall >= 0.95
    exact = ExactIndex(weights, bias)
    assert recall_against_exact(index, exact, queries, 20) == index.recall
    _, top = exact.search(queries[:1], 5, [np.array([], np.int64)])
    _, got = index.search(queries[:1], 5, [top[0][:2]])
    assert not set(top[0][:2]) & set(got[0].tolist()) and (got[0] > 0).all()


def test_index_kinds():
    weights, bias = torch.zeros(11, 4), torch.zeros(11)
    assert build_index(weights, bias, "auto").kind == "exact"  # 10 items: far below the threshold
    with pytest.raises(ConfigError, match="item index must be one of"):
        build_index(weights, bias, "annoy")
