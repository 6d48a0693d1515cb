"""Item feature blocks aligned to the item map: exact values on hand-made tables, the missing-feature
policy, catalogue extension, save/load; plus the real MovieLens metadata end to end."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.idmap import IdMap
from rnnrec.data.item_features import FeatureConfig, ItemFeatures, build_item_features
from rnnrec.data.pipeline import attach_item_features, load_dataset
from rnnrec.errors import DataFormatError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def table() -> pl.DataFrame:
    """Hand-made metadata: item "c" is not in the catalogue, item "z" has no metadata."""
    return pl.DataFrame({
        "item_id": ["a", "b", "c"],
        "title": ["red apple", "green apple", "blue car"],
        "genres": [["fruit", "red"], ["fruit"], ["car"]],
        "year": [2000, None, 2010],
    }, schema_overrides={"year": pl.Int32})


def test_blocks_are_exact_and_aligned_to_the_item_map():
    items = IdMap(["b", "z", "a"])  # internal: b=1, z=2, a=3
    f = build_item_features(items, table(), None, FeatureConfig(text_dim=2))
    assert set(f.blocks) == {"text", "genres", "numeric"} and f.n_rows == 4
    # genres: vocabulary by frequency over catalogue items (fruit 2, red 1), divided by the item's count
    np.testing.assert_array_equal(f.blocks["genres"], [[0, 0], [1, 0], [0, 0], [0.5, 0.5]])
    # year: a (2000) is the only known value among catalogue items → standardised to 0, then its
    # quantile bin (one edge, 2000: a falls right of it); b's year is missing → all zeros
    np.testing.assert_array_equal(f.blocks["numeric"], [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]])
    assert f.present.tolist() == [False, True, False, True]  # padding, b, z (no metadata), a
    assert f.blocks["text"].shape == (4, 2)
    assert not f.blocks["text"][[0, 2]].any()  # padding and the item without metadata are zeros
    assert f.dims == {"text": 2, "genres": 2, "numeric": 3}


def test_numeric_standardisation_and_category_cap():
    items = IdMap(["a", "b", "c"])
    f = build_item_features(items, table(), None, FeatureConfig(text_dim=2, max_categories=1))
    np.testing.assert_allclose(f.blocks["numeric"][:, 0], [0, -1, 0, 1])  # 2000, missing, 2010 → -1, 0, 1
    bins = f.blocks["numeric"][:, 1:]  # edges 2001..2009: 2000 in the first bin, 2010 in the last
    assert bins.shape == (4, 10) and bins[1, 0] == 1 and bins[3, 9] == 1 and bins.sum() == 2
    np.testing.assert_array_equal(f.blocks["genres"][:, 0], [0, 1, 1, 0])  # only "fruit" kept


def test_text_columns_choice_moves_genres_to_text():
    items = IdMap(["a", "b", "c"])
    f = build_item_features(items, table(), None, FeatureConfig(text_columns=["title", "genres"], text_dim=2))
    assert set(f.blocks) == {"text", "numeric"}
    with pytest.raises(DataFormatError, match=r"text column\(s\) \['plot'\] not in the metadata"):
        build_item_features(items, table(), None, FeatureConfig(text_columns=["plot"]))


def test_vectors_block_and_save_load(tmp_path):
    items = IdMap(["a", "b"])
    vec = (["b", "q"], np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))  # "q" is not in the catalogue
    f = build_item_features(items, None, {"image": vec})
    np.testing.assert_array_equal(f.blocks["image"], [[0, 0], [0, 0], [1, 2]])
    assert f.present.tolist() == [False, False, True]
    f.save(tmp_path / "f.npz")
    g = ItemFeatures.load(tmp_path / "f.npz")
    assert g.dims == f.dims and np.array_equal(g.blocks["image"], f.blocks["image"]) and np.array_equal(g.present, f.present)


def test_items_with_features_join_the_catalogue_after_the_logged_ones():
    log = pl.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["b", "a", "a"]})
    ds = SequenceDataset.from_interactions(log)
    wider = ds.with_items(["a", "c", "b", "d"])
    assert wider.items.external == ["b", "a", "c", "d"] and wider.n_items == 4
    assert np.array_equal(wider.sequences.items, ds.sequences.items)  # existing internal IDs unchanged
    features = build_item_features(wider.items, table(), None, FeatureConfig(text_dim=2))
    assert features.present.tolist() == [False, True, True, True, False]
    with pytest.raises(DataFormatError, match="item features cover 4 items, the catalogue has 2"):
        ds.with_item_features(features)


@pytest.mark.skipif(not (SHARED / "ml-latest-small" / "movies.csv").is_file(), reason="ml-latest-small not present")
def test_movielens_latest_small_features_end_to_end():
    ds = load_dataset(SHARED / "ml-latest-small" / "ratings.csv")
    assert ds.n_items == 10_325
    with_features = attach_item_features(ds, SHARED / "ml-latest-small" / "movies.csv")
    f = with_features.item_features
    assert with_features.n_items == 10_329  # 4 listed movies nobody rated join as cold items
    assert f.present[1:].all()  # every catalogue item has a movies.csv row
    # title + tags as text; 18 genres + "IMAX"; year + 10 year bins
    assert f.dims == {"text": 64, "genres": 19, "numeric": 11}
    toy_story = with_features.items.to_internal("1")
    assert f.blocks["genres"][toy_story].nonzero()[0].size == 5  # Adventure|Animation|Children|Comedy|Fantasy
