"""read_item_vectors on small GENERATED files in each layout (written by the tests, not real embeddings), and
every error case, checking that the message names the file, the row or line, the item ID and what was wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from rnnrec.data.item_vectors import read_item_vectors
from rnnrec.errors import ConfigError, DataFormatError

# Generated 3 x 2 vectors used by most layouts.
IDS = ["10", "20", "b7"]
VECTORS = [[0.5, -1.0], [2.0, 0.25], [-3.0, 4.0]]


def _npy(tmp_path: Path, array: np.ndarray, ids: str | list[object], ids_name: str = "ids.txt") -> tuple[Path, Path]:
    """Generated .npy + ID list; ``ids`` is the text file's content, or a list written as JSON."""
    vectors, id_file = tmp_path / "vectors.npy", tmp_path / ids_name
    np.save(vectors, array, allow_pickle=True)
    id_file.write_text(ids if isinstance(ids, str) else json.dumps(ids), encoding="utf-8")
    return vectors, id_file


def _csv(tmp_path: Path, text: str, name: str = "vectors.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _parquet(tmp_path: Path, df: pl.DataFrame) -> Path:
    path = tmp_path / "vectors.parquet"
    df.write_parquet(path)
    return path


def _fails(match: str, path: Path, **kwargs: object) -> None:
    with pytest.raises(DataFormatError) as info:
        read_item_vectors(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert re.search(match, message), message


# ----------------------------------------------------------------------------------------------------------
# layouts that read


def test_npy_with_text_id_list(tmp_path: Path) -> None:
    vectors, ids = _npy(tmp_path, np.array(VECTORS, dtype=np.float64), "10\r\n20\r\nb7\r\n")  # CRLF, final newline
    got_ids, got = read_item_vectors(vectors, ids=ids)
    assert got_ids == IDS
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.tolist() == VECTORS


def test_npy_with_json_id_list_and_integer_values(tmp_path: Path) -> None:
    vectors, ids = _npy(tmp_path, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64), [7, "x9"], "ids.json")
    got_ids, got = read_item_vectors(str(vectors), ids=str(ids))
    assert got_ids == ["7", "x9"]
    assert got.dtype == np.float32 and got.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_parquet_list_column(tmp_path: Path) -> None:
    path = _parquet(tmp_path, pl.DataFrame({"item_id": IDS, "title": ["a", "b", "c"], "emb": VECTORS}))
    got_ids, got = read_item_vectors(path)
    assert got_ids == IDS and got.dtype == np.float32 and got.tolist() == VECTORS


def test_parquet_array_column_and_integer_ids(tmp_path: Path) -> None:
    emb = pl.Series("emb", VECTORS, dtype=pl.Array(pl.Float32, 2))
    path = _parquet(tmp_path, pl.DataFrame([pl.Series("movie", [10, 20, 30]), emb]))
    got_ids, got = read_item_vectors(path, id_column="movie")
    assert got_ids == ["10", "20", "30"] and got.tolist() == VECTORS


def test_parquet_whole_float_ids_read_as_integers(tmp_path: Path) -> None:
    path = _parquet(tmp_path, pl.DataFrame({"item_id": [10.0, 20.0, 7.0], "emb": VECTORS}))
    assert read_item_vectors(path)[0] == ["10", "20", "7"]


def test_parquet_vector_column_picks_one_of_several(tmp_path: Path) -> None:
    df = pl.DataFrame({"item_id": IDS, "text": [[1.0], [2.0], [3.0]], "image": VECTORS})
    path = _parquet(tmp_path, df)
    assert read_item_vectors(path, vector_column="image")[1].tolist() == VECTORS
    assert read_item_vectors(path, vector_column="text")[1].tolist() == [[1.0], [2.0], [3.0]]


def test_parquet_numeric_columns_in_file_order(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {"f1": [0.5, 2.0, -3.0], "item_id": IDS, "label": ["x", "y", "z"], "f0": pl.Series([-1, 0, 4], dtype=pl.Int16)}
    )
    got_ids, got = read_item_vectors(_parquet(tmp_path, df))
    assert got_ids == IDS
    assert got.tolist() == [[0.5, -1.0], [2.0, 0.0], [-3.0, 4.0]]  # f1 then f0, as in the file; label ignored


def test_csv_numeric_columns(tmp_path: Path) -> None:
    # IDs kept as spelled ("007"); spaces around numbers allowed; a blank line is skipped.
    path = _csv(tmp_path, "item_id,d0,d1\n007, 0.5 ,-1\n\n20,2e0,0.25\nb7,-3,4\n")
    got_ids, got = read_item_vectors(path)
    assert got_ids == ["007", "20", "b7"] and got.tolist() == VECTORS


def test_tsv(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id\td0\td1\n10\t0.5\t-1\n20\t2\t0.25\nb7\t-3\t4\n", name="vectors.tsv")
    assert read_item_vectors(path, id_column="id") == (IDS, pytest.approx(np.array(VECTORS, dtype=np.float32)))


# ----------------------------------------------------------------------------------------------------------
# file-level and option errors


def test_unknown_extension(tmp_path: Path) -> None:
    path = _csv(tmp_path, "item_id,a\n1,2\n", name="vectors.txt")
    _fails(r"vectors\.txt: unknown extension '\.txt'; expected one of \.csv, \.npy, \.parquet", path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    _fails(r"nope\.csv: file not found", tmp_path / "nope.csv")
    for name in ("empty.csv", "empty.npy", "empty.parquet"):
        (tmp_path / name).write_bytes(b"")
        _fails(rf"{name}: file is empty \(0 bytes\)", tmp_path / name)
    _fails(r"header\.csv: only a header line and no rows", _csv(tmp_path, "item_id,a,b\n", name="header.csv"))
    no_rows = pl.DataFrame(schema={"item_id": pl.String, "a": pl.Float64})
    _fails(r"vectors\.parquet: parquet file has no rows", _parquet(tmp_path, no_rows))
    vectors, ids = _npy(tmp_path, np.zeros((0, 4)), "x\n")
    _fails(r"vectors\.npy: array has shape \(0, 4\); expected at least one row", vectors, ids=ids)
    vectors, ids = _npy(tmp_path, np.zeros((1, 4)), "")
    _fails(r"ids\.txt: file is empty \(0 bytes\); expected an item ID list", vectors, ids=ids)


def test_option_errors(tmp_path: Path) -> None:
    vectors, ids = _npy(tmp_path, np.array(VECTORS), "10\n20\nb7\n")
    csv_path = _csv(tmp_path, "item_id,a\n1,2\n")
    with pytest.raises(ConfigError, match=r"vectors\.npy: a \.npy file holds no IDs; pass ids="):
        read_item_vectors(vectors)
    with pytest.raises(ConfigError, match=r"vectors\.csv: ids= applies to \.npy files only"):
        read_item_vectors(csv_path, ids=ids)
    with pytest.raises(ConfigError, match=r"vectors\.csv: vector_column= applies to Parquet files only"):
        read_item_vectors(csv_path, vector_column="a")
    with pytest.raises(ConfigError, match=r"vector_column= applies to Parquet files only"):
        read_item_vectors(vectors, ids=ids, vector_column="a")


# ----------------------------------------------------------------------------------------------------------
# .npy errors


def test_npy_count_mismatch(tmp_path: Path) -> None:
    vectors, ids = _npy(tmp_path, np.array(VECTORS), "10\n20\n")
    _fails(r"vectors\.npy: 3 rows but .*ids\.txt lists 2 IDs; expected one ID per row", vectors, ids=ids)


def test_npy_layout_errors(tmp_path: Path) -> None:
    vectors, ids = _npy(tmp_path, np.array([1.0, 2.0, 3.0]), "1\n2\n3\n")
    _fails(r"vectors\.npy: array has shape \(3,\); expected 2-D", vectors, ids=ids)
    vectors, ids = _npy(tmp_path, np.array([["a", "b"]]), "1\n")
    _fails(r"vectors\.npy: array has dtype <U1; expected numbers", vectors, ids=ids)
    vectors, ids = _npy(tmp_path, np.array([[1, None]], dtype=object), "1\n")
    _fails(r"vectors\.npy: not a readable numeric \.npy array \(.*allow_pickle", vectors, ids=ids)
    (tmp_path / "text.npy").write_text("not numpy")
    _fails(r"text\.npy: not a readable numeric \.npy array", tmp_path / "text.npy", ids=ids)


@pytest.mark.parametrize(("value", "shown"), [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_npy_non_finite(tmp_path: Path, value: float, shown: str) -> None:
    array = np.array(VECTORS)
    array[1, 1] = value
    vectors, ids = _npy(tmp_path, array, "10\n20\nb7\n")
    _fails(rf"vectors\.npy: row 2 \(item ID '20'\): column 2 is {shown}; expected finite numbers", vectors, ids=ids)


def test_npy_value_too_large_for_float32(tmp_path: Path) -> None:
    array = np.array(VECTORS)
    array[2, 0] = 1e300
    vectors, ids = _npy(tmp_path, array, "10\n20\nb7\n")
    _fails(r"row 3 \(item ID 'b7'\): column 1 is too large for float32: 1e\+300", vectors, ids=ids)


def test_id_list_errors(tmp_path: Path) -> None:
    vectors, ids = _npy(tmp_path, np.array(VECTORS), "10\n\nb7\n")
    _fails(r"ids\.txt: line 2: empty item ID", vectors, ids=ids)
    vectors, ids = _npy(tmp_path, np.array(VECTORS), "10\n20\n10\n")
    _fails(r"ids\.txt: line 3: item ID '10' appears twice \(first at line 1\)", vectors, ids=ids)
    vectors, ids = _npy(tmp_path, np.array(VECTORS), ["10", None, "b7"], "ids.json")
    _fails(r"ids\.json: entry 2: None is not an item ID; expected a string or integer", vectors, ids=ids)
    vectors, ids = _npy(tmp_path, np.array(VECTORS), {"10": 0}, "ids.json")  # type: ignore[arg-type]
    _fails(r"ids\.json: JSON holds a dict; expected a list of item IDs", vectors, ids=ids)
    vectors, ids = _npy(tmp_path, np.array(VECTORS), ["10", "20", 10], "ids.json")
    _fails(r"ids\.json: entry 3: item ID '10' appears twice \(first at entry 1\)", vectors, ids=ids)


# ----------------------------------------------------------------------------------------------------------
# CSV errors


def test_csv_missing_id_column_lists_the_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,a,b\n1,2,3\n")
    _fails(r"vectors\.csv: line 1: no ID column 'item_id'; columns found: 'id', 'a', 'b'", path)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("10,1,2\n20,3,4\n10,5,6\n", r"line 4: item ID '10' appears twice \(first at line 2\)"),
        ("10,1,2\n,3,4\n", r"line 3: empty item ID"),
        ("10,1,2\n20,nan,4\n", r"line 3 \(item ID '20'\): column 'a' is nan; expected finite numbers"),
        ("10,1,2\n20,3,-inf\n", r"line 3 \(item ID '20'\): column 'b' is -inf"),
        ("10,1,2\n20,3,abc\n", r"line 3 \(item ID '20'\): 'abc' is not a number in column 'b'; expected a number"),
        ("10,1,2\n20,,4\n", r"line 3 \(item ID '20'\): empty value in column 'a'; expected a number"),
        ("10,1,2\n20,3\n", r"line 3 \(item ID '20'\): empty value in column 'b'"),
        ("10,1,2\n20,3,4,5\n", r"line 3 has 4 fields; expected 3 like the header"),
    ],
)
def test_csv_row_errors(tmp_path: Path, body: str, match: str) -> None:
    _fails(r"vectors\.csv: " + match, _csv(tmp_path, "item_id,a,b\n" + body))


def test_csv_header_errors(tmp_path: Path) -> None:
    _fails(r"line 1: column 'a' appears twice in the header", _csv(tmp_path, "item_id,a,a\n1,2,3\n"))
    _fails(r"line 1: only the ID column 'item_id'; expected numeric columns", _csv(tmp_path, "item_id\n1\n"))
    _fails(r"line 1 is empty; expected a header", _csv(tmp_path, "\n1,2\n"))


# ----------------------------------------------------------------------------------------------------------
# Parquet errors


def test_parquet_missing_id_column_lists_the_columns(tmp_path: Path) -> None:
    path = _parquet(tmp_path, pl.DataFrame({"movie": IDS, "emb": VECTORS}))
    _fails(r"vectors\.parquet: no ID column 'item_id'; columns found: 'movie', 'emb' \(pass id_column=\)", path)


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({"item_id": ["10", "20", "10"], "emb": VECTORS}, r"row 3: item ID '10' appears twice \(first at row 1\)"),
        ({"item_id": ["10", None, "b7"], "emb": VECTORS}, r"row 2: empty item ID"),
        ({"item_id": ["10", " ", "b7"], "emb": VECTORS}, r"row 2: empty item ID"),
        (
            {"item_id": IDS, "emb": [[1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 2.0, 3.0]]},
            r"row 2 \(item ID '20'\): vector in column 'emb' has 2 values, expected 3 like row 1",
        ),
        ({"item_id": IDS, "emb": [[1.0], None, [2.0]]}, r"row 2 \(item ID '20'\): no vector \(null\) in column 'emb'"),
        (
            {"item_id": IDS, "emb": [[1.0, 2.0], [3.0, None], [5.0, 6.0]]},
            r"row 2 \(item ID '20'\): value 2 of column 'emb' is null; expected a number",
        ),
        (
            {"item_id": IDS, "emb": [[1.0, 2.0], [3.0, 4.0], [5.0, float("nan")]]},
            r"row 3 \(item ID 'b7'\): value 2 of column 'emb' is nan; expected finite numbers",
        ),
        (
            {"item_id": IDS, "emb": pl.Series([[], [], []], dtype=pl.List(pl.Float64))},
            r"row 1 \(item ID '10'\): empty vector in column 'emb'",
        ),
        (
            {"item_id": IDS, "f0": [1.0, 2.0, 3.0], "f1": [1.0, float("inf"), 3.0]},
            r"row 2 \(item ID '20'\): column 'f1' is inf",
        ),
        (
            {"item_id": IDS, "f0": [1.0, None, 3.0]},
            r"row 2 \(item ID '20'\): empty value in column 'f0'; expected a number",
        ),
        (
            {"item_id": IDS, "emb": [["a"], ["b"], ["c"]]},
            r"column 'emb' has type List\(String\); expected lists of numbers",
        ),
        (
            {"item_id": IDS, "a": [[1.0]] * 3, "b": [[2.0]] * 3},
            r"several list columns \('a', 'b'\); pass vector_column=",
        ),
        ({"item_id": IDS, "title": ["x", "y", "z"]}, r"no vector columns; .* columns found: 'item_id', 'title'"),
        ({"item_id": [1.0, 2.5, 3.0], "emb": VECTORS}, r"ID column 'item_id' holds fractional numbers"),
    ],
)
def test_parquet_errors(tmp_path: Path, columns: dict[str, object], match: str) -> None:
    _fails(r"vectors\.parquet: " + match, _parquet(tmp_path, pl.DataFrame(columns)))


def test_parquet_vector_column_errors(tmp_path: Path) -> None:
    path = _parquet(tmp_path, pl.DataFrame({"item_id": IDS, "emb": VECTORS, "f0": [1.0, 2.0, 3.0]}))
    _fails(r"no vector column 'image'; columns found: 'item_id', 'emb', 'f0'", path, vector_column="image")
    _fails(r"column 'f0' has type Float64; vector_column= must name a list column", path, vector_column="f0")


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "vectors.parquet"
    path.write_bytes(b"item_id,a\n1,2\n")
    _fails(r"vectors\.parquet: not a readable parquet file", path)
