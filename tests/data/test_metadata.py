"""read_item_titles on the real MovieLens files, plus small GENERATED files for the other layouts/errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnrec.data.metadata import read_item_titles
from rnnrec.errors import DataFormatError

SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _real(rel: str) -> Path:
    path = SHARED_DATASETS / rel
    if not path.is_file():
        pytest.skip(f"real dataset file {path} not present")
    return path


def test_movielens_movies_csv_real() -> None:
    titles = read_item_titles(_real("ml-latest-small/movies.csv"))
    assert len(titles) == 10_329
    assert titles["1"] == "Toy Story (1995)"
    assert titles["11"] == "American President, The (1995)"  # quoted title with a comma


def test_recbole_item_real() -> None:
    titles = read_item_titles(str(_real("ml-100k/ml-100k.item")))
    assert len(titles) == 1_682
    assert titles["1"] == "Toy Story (1995)"
    assert titles["2"] == "GoldenEye (1995)"


def test_u_item_latin1_generated(tmp_path: Path) -> None:
    # Generated test data in the ml-100k u.item layout, latin-1 encoded (not real MovieLens rows).
    rows = [
        "1|Generated Film (1995)|01-Jan-1995||http://example.invalid/1|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0",
        "2|Cité des Tests, La (1996)|01-Jan-1996||http://example.invalid/2|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0",
        "3|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0",
    ]
    path = tmp_path / "u.item"
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    assert read_item_titles(path) == {
        "1": "Generated Film (1995)",
        "2": "Cité des Tests, La (1996)",
        "3": "unknown",
    }


def test_recbole_item_generated_missing_year(tmp_path: Path) -> None:
    path = tmp_path / "gen.item"
    path.write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "a1\tSome Title\t2001\tDrama\n"
        "a2\tNo Year Title\t\tComedy\n",
        encoding="utf-8",
    )
    assert read_item_titles(path) == {"a1": "Some Title (2001)", "a2": "No Year Title"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("weird.txt", "hello world\nnothing to see\n"),
        ("movies.csv", "id,name\n1,Foo\n"),  # wrong header
        ("movies.csv", "movieId,title,genres\n1,Foo (2000)\n"),  # short row
        ("movies.csv", "movieId,title,genres\n1,Foo (2000),Drama\n1,Bar (2001),Drama\n"),  # duplicate id
        ("x.item", "item_id:token\trelease_year:token\n1\t1995\n"),  # no title column
        ("x.item", "item_id:token\tmovie_title:token_seq\n1\tA\tB\n"),  # extra field
        ("u.item", "1\n"),  # too few fields
        ("empty.csv", ""),
    ],
)
def test_bad_layout_names_the_file(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        read_item_titles(path)
    assert str(path) in str(info.value)


def test_movies_csv_not_utf8_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "movies.csv"
    path.write_bytes("movieId,title,genres\n1,Café (2000),Drama\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match="utf-8"):
        read_item_titles(path)
