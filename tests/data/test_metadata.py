"""read_item_titles / read_item_metadata on the real MovieLens files, plus small GENERATED files for the other
layouts (u.item, Amazon 2014/2018/2023, Yelp) and for every error."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from rnnrec.data.metadata import ItemColumns, read_item_metadata, read_item_titles
from rnnrec.errors import ConfigError, DataFormatError

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


# ----------------------------------------------------------------------------------------------------------
# read_item_metadata


def _schema(df: pl.DataFrame) -> dict[str, pl.DataType]:
    return dict(df.schema)


def _row(df: pl.DataFrame, item_id: str) -> dict[str, object]:
    rows = df.filter(pl.col(ItemColumns.ID) == item_id).to_dicts()
    assert len(rows) == 1, item_id
    return rows[0]


def test_metadata_movies_csv_real_with_tags() -> None:
    movies = _real("ml-latest-small/movies.csv")
    _real("ml-latest-small/tags.csv")
    df = read_item_metadata(movies)  # tags.csv in the same folder is picked up
    assert _schema(df) == {
        "item_id": pl.Utf8,
        "title": pl.Utf8,
        "year": pl.Int32,
        "genres": pl.List(pl.Utf8),
        "tags": pl.List(pl.Utf8),
    }
    assert df.height == 10_329 and df[ItemColumns.ID].is_unique().all()
    assert df[ItemColumns.ID][0] == "1"  # file order
    # movies.csv line 2: 1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
    assert _row(df, "1") == {
        "item_id": "1",
        "title": "Toy Story (1995)",
        "year": 1995,
        "genres": ["Adventure", "Animation", "Children", "Comedy", "Fantasy"],
        "tags": [],
    }
    # tags.csv lines 2-4 and more for movie 16 (Casino): "20060407", "robert de niro", "scorcese", ...
    assert _row(df, "16")["tags"] == [
        "20060407", "robert de niro", "scorcese", "indulgent", "muddled motivations", "slow", "stylish",
    ]  # fmt: skip
    # movie 8784: "Great Soundtrack", "Natalie Portman", "independent film", "natalie portman", "quirkiness",
    # "soundtrack", "Kate" -> lower-cased, case duplicates dropped, first appearance order kept
    assert _row(df, "8784")["tags"] == [
        "great soundtrack", "natalie portman", "independent film", "quirkiness", "soundtrack", "kate",
    ]  # fmt: skip
    # line 10174: 126929,Li'l Quinquin,(no genres listed) -> no year, no genres
    assert _row(df, "126929") == {
        "item_id": "126929", "title": "Li'l Quinquin", "year": None, "genres": [], "tags": [],
    }  # fmt: skip
    assert _row(df, "11")["title"] == "American President, The (1995)"
    tagged = df.filter(pl.col(ItemColumns.TAGS).list.len() > 0)
    assert tagged.height == 1_085
    assert int(df[ItemColumns.TAGS].list.len().sum()) == 6_035  # distinct (movie, tag) pairs of 6,138 rows
    assert df.filter(pl.col(ItemColumns.GENRES).list.len() == 0).height == 7
    # "Fawlty Towers (1975-1979)", "Big Bang Theory, The (2007-)" and two titles without a year
    assert df[ItemColumns.YEAR].null_count() == 4


def test_metadata_movies_csv_tags_switches(tmp_path: Path) -> None:
    movies = _real("ml-latest-small/movies.csv")
    tags = _real("ml-latest-small/tags.csv")
    assert "tags" not in read_item_metadata(movies, tags=False).columns
    copy = tmp_path / "movies.csv"
    copy.write_bytes(movies.read_bytes())
    assert "tags" not in read_item_metadata(copy).columns  # no tags.csv next to it
    with pytest.raises(DataFormatError, match="tags.csv: file not found"):
        read_item_metadata(copy, tags=True)
    df = read_item_metadata(copy, format="movielens-csv", tags=str(tags))
    assert _row(df, "16")["tags"][:3] == ["20060407", "robert de niro", "scorcese"]


def test_metadata_movies_csv_generated_tags(tmp_path: Path) -> None:
    # Generated rows in the ml-latest movies.csv / tags.csv layout (not real MovieLens rows).
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n10,"Generated, The (2001)",Drama|Comedy\n20,No Year,(no genres listed)\n'
        "30,Series (2007-),Comedy\n",
        encoding="utf-8",
    )
    (tmp_path / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n1,10, Funny ,100\n2,10,funny,101\n2,10,\"dark, slow\",102\n"
        "3,99,ignored,103\n4,10,,104\n",
        encoding="utf-8",
    )
    df = read_item_metadata(tmp_path / "movies.csv")
    assert df.to_dicts() == [
        {"item_id": "10", "title": "Generated, The (2001)", "year": 2001, "genres": ["Drama", "Comedy"],
         "tags": ["funny", "dark, slow"]},
        {"item_id": "20", "title": "No Year", "year": None, "genres": [], "tags": []},
        {"item_id": "30", "title": "Series (2007-)", "year": None, "genres": ["Comedy"], "tags": []},
    ]  # fmt: skip
    # read_item_titles never reads tags, so a broken tags.csv does not matter to it
    (tmp_path / "tags.csv").write_text("userId,movieId\n1,10\n", encoding="utf-8")
    assert read_item_titles(tmp_path / "movies.csv")["10"] == "Generated, The (2001)"
    with pytest.raises(DataFormatError, match="tags.csv: expected a tags.csv header"):
        read_item_metadata(tmp_path / "movies.csv")


def test_metadata_recbole_real() -> None:
    df = read_item_metadata(_real("ml-100k/ml-100k.item"))
    assert _schema(df) == {"item_id": pl.Utf8, "title": pl.Utf8, "year": pl.Int32, "genres": pl.List(pl.Utf8)}
    assert df.height == 1_682
    assert _row(df, "1") == {
        "item_id": "1", "title": "Toy Story (1995)", "year": 1995, "genres": ["Animation", "Children's", "Comedy"],
    }  # fmt: skip
    # line 268: 267<TAB>unkonwn<TAB>unkonwn<TAB>unknown (sic): the year is not a number
    assert _row(df, "267") == {"item_id": "267", "title": "unkonwn (unkonwn)", "year": None, "genres": ["unknown"]}


def test_metadata_recbole_generated_without_title(tmp_path: Path) -> None:
    path = tmp_path / "gen.item"
    path.write_text("item_id:token\tclass:token_seq\nb1\tSci-Fi Film-Noir\nb2\t\n", encoding="utf-8")
    df = read_item_metadata(path, format="recbole")
    assert df.to_dicts() == [{"item_id": "b1", "genres": ["Sci-Fi", "Film-Noir"]}, {"item_id": "b2", "genres": []}]


_U_ITEM_ROWS = [  # generated rows in the ml-100k u.item layout, latin-1 (not real MovieLens rows)
    "1|Generated Film (1995)|01-Jan-1995||http://example.invalid/1|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0",
    "2|Cité des Tests, La (1996)|01-Jan-1996||http://example.invalid/2|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0",
    "3|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0",
    "4|Last Genres (1997)|15-Mar-1997||x|0|0|0|0|0|0|0|0|0|0|1|0|0|0|0|1|0|0|1",
]


def test_metadata_u_item_generated(tmp_path: Path) -> None:
    path = tmp_path / "u.item"
    path.write_bytes(("\n".join(_U_ITEM_ROWS) + "\n").encode("latin-1"))
    df = read_item_metadata(path)
    assert _schema(df) == {"item_id": pl.Utf8, "title": pl.Utf8, "year": pl.Int32, "genres": pl.List(pl.Utf8)}
    assert df.to_dicts() == [
        {"item_id": "1", "title": "Generated Film (1995)", "year": 1995,
         "genres": ["Animation", "Children's", "Comedy"]},
        {"item_id": "2", "title": "Cité des Tests, La (1996)", "year": 1996, "genres": ["Drama"]},
        {"item_id": "3", "title": "unknown", "year": None, "genres": ["unknown"]},
        {"item_id": "4", "title": "Last Genres (1997)", "year": 1997, "genres": ["Film-Noir", "Sci-Fi", "Western"]},
    ]  # fmt: skip


# Generated rows in the Amazon 2014 meta_*.json layout (not real Amazon rows): one Python dict literal per
# line (single quotes, double quotes only where the text holds an apostrophe); line 3 happens to be strict JSON.
_AMAZON_2014 = [
    "{'asin': 'G000000001', 'title': 'Generated Tutu', 'price': 3.17, "
    "'imUrl': 'http://example.invalid/img/1.jpg', 'related': {'also_bought': ['G000000002']}, "
    "'salesRank': {'Toys & Games': 211836}, 'brand': 'GenBrand', "
    "'categories': [['Clothing', 'Girls', 'Dance'], ['Clothing', 'Costumes'], ['Sports', 'Dance']]}",
    "{'asin': 'G000000002', 'description': \"It's a generated description.\", 'title': \"Kid's Toy\", "
    "'categories': [['Toys']]}",
    '{"asin": "G000000003", "categories": [[]]}',
]

# Generated rows in the Amazon 2018 meta_*.json layout (not real Amazon rows), strict JSON lines.
_AMAZON_2018 = [
    '{"category": ["Books", "Literature & Fiction", "Books"], "tech1": "", "description": ["First part.", '
    '"<b>Second</b> part."], "fit": "", "title": "Generated Novel", "also_buy": [], "tech2": "", '
    '"brand": "Gen Press", "feature": [], "rank": "1,234 in Books (", "also_view": [], "main_cat": "Books", '
    '"similar_item": "", "date": "", "price": "$9.99", "asin": "0000000001", '
    '"imageURL": ["http://example.invalid/s1.jpg"], "imageURLHighRes": ["http://example.invalid/h1.jpg"]}',
    '{"category": [], "description": [], "title": "Plain Item", "brand": "", "asin": "0000000002", '
    '"imageURL": ["http://example.invalid/s2.jpg"], "imageURLHighRes": []}',
    '{"asin": "0000000003", "title": ""}',
]

# Generated rows in the Amazon 2023 meta_*.jsonl layout (not real Amazon rows).
_AMAZON_2023 = [
    '{"main_category": "All Beauty", "title": "Generated Cream", "average_rating": 4.8, "rating_number": 10, '
    '"features": [], "description": ["Soft.", "Smooth."], "price": null, "images": [{"thumb": '
    '"http://example.invalid/t1.jpg", "large": "http://example.invalid/l1.jpg", "variant": "MAIN", "hi_res": '
    '"http://example.invalid/h1.jpg"}, {"thumb": "http://example.invalid/t2.jpg", "large": '
    '"http://example.invalid/l2.jpg", "variant": "PT01", "hi_res": null}], "videos": [], "store": "Gen Store", '
    '"categories": ["Beauty", "Skin Care"], "details": {"Brand": "Gen"}, "parent_asin": "B0GEN00001", '
    '"asin": "B0GEN0000X", "bought_together": null}',
    '{"main_category": "All Beauty", "title": "Bare Item", "description": [], "images": [], "store": null, '
    '"categories": [], "parent_asin": "B0GEN00002"}',
]

_AMAZON_SCHEMA = {
    "item_id": pl.Utf8,
    "title": pl.Utf8,
    "description": pl.Utf8,
    "categories": pl.List(pl.Utf8),
    "brand": pl.Utf8,
    "image_urls": pl.List(pl.Utf8),
}


def test_metadata_amazon_2014_generated(tmp_path: Path) -> None:
    path = tmp_path / "meta_Generated.json"
    path.write_text("\n".join(_AMAZON_2014) + "\n", encoding="utf-8")
    df = read_item_metadata(path)
    assert _schema(df) == _AMAZON_SCHEMA
    assert df.to_dicts() == [
        {"item_id": "G000000001", "title": "Generated Tutu", "description": None,
         "categories": ["Clothing", "Girls", "Dance", "Costumes", "Sports"], "brand": "GenBrand",
         "image_urls": ["http://example.invalid/img/1.jpg"]},
        {"item_id": "G000000002", "title": "Kid's Toy", "description": "It's a generated description.",
         "categories": ["Toys"], "brand": None, "image_urls": []},
        {"item_id": "G000000003", "title": None, "description": None, "categories": [], "brand": None,
         "image_urls": []},
    ]  # fmt: skip
    assert read_item_titles(path) == {"G000000001": "Generated Tutu", "G000000002": "Kid's Toy"}


def test_metadata_amazon_2018_generated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "meta_Books.json.gz"
    path.write_bytes(gzip.compress(("\n".join(_AMAZON_2018) + "\n").encode("utf-8")))
    expected = [
        {"item_id": "0000000001", "title": "Generated Novel", "description": "First part. <b>Second</b> part.",
         "categories": ["Books", "Literature & Fiction"], "brand": "Gen Press",
         "image_urls": ["http://example.invalid/h1.jpg"]},
        {"item_id": "0000000002", "title": "Plain Item", "description": None, "categories": [], "brand": None,
         "image_urls": ["http://example.invalid/s2.jpg"]},
        {"item_id": "0000000003", "title": None, "description": None, "categories": [], "brand": None,
         "image_urls": []},
    ]  # fmt: skip
    df = read_item_metadata(path)
    assert _schema(df) == _AMAZON_SCHEMA
    assert df.to_dicts() == expected
    assert read_item_metadata(str(path), format="amazon").to_dicts() == expected


def test_metadata_amazon_2023_generated(tmp_path: Path) -> None:
    path = tmp_path / "meta_All_Beauty.jsonl"
    path.write_text("\n".join(_AMAZON_2023) + "\n", encoding="utf-8")
    df = read_item_metadata(path)
    assert _schema(df) == _AMAZON_SCHEMA
    assert df.to_dicts() == [
        {"item_id": "B0GEN00001", "title": "Generated Cream", "description": "Soft. Smooth.",
         "categories": ["Beauty", "Skin Care"], "brand": "Gen Store",
         "image_urls": ["http://example.invalid/h1.jpg", "http://example.invalid/l2.jpg"]},
        {"item_id": "B0GEN00002", "title": "Bare Item", "description": None, "categories": [], "brand": None,
         "image_urls": []},
    ]  # fmt: skip


def test_metadata_yelp_generated(tmp_path: Path) -> None:
    # Generated rows in the yelp_academic_dataset_business.json layout (not real Yelp rows).
    lines = [
        '{"business_id": "gen-biz-0001", "name": "Generated Diner", "address": "1 Test St", "city": "Testville", '
        '"state": "PA", "postal_code": "19000", "latitude": 39.9, "longitude": -75.1, "stars": 4.0, '
        '"review_count": 5, "is_open": 1, "attributes": {"WiFi": "u\'free\'"}, '
        '"categories": "Restaurants, Diners,  Breakfast & Brunch", "hours": {"Monday": "7:0-15:0"}}',
        "",
        '{"business_id": "gen-biz-0002", "name": "No Category Shop", "categories": null, "hours": null}',
    ]
    path = tmp_path / "yelp_academic_dataset_business.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    df = read_item_metadata(path)
    assert _schema(df) == {"item_id": pl.Utf8, "title": pl.Utf8, "categories": pl.List(pl.Utf8)}
    assert df.to_dicts() == [
        {"item_id": "gen-biz-0001", "title": "Generated Diner",
         "categories": ["Restaurants", "Diners", "Breakfast & Brunch"]},
        {"item_id": "gen-biz-0002", "title": "No Category Shop", "categories": []},
    ]  # fmt: skip


def test_metadata_item_attributes_real() -> None:
    df = read_item_metadata(_real("amazon-beauty-s3rec/Beauty_item2attributes.json"))
    assert df.height == 12_101
    assert _schema(df) == {"item_id": pl.Utf8, "categories": pl.List(pl.Utf8)}
    assert df.row(0) == ("4", ["1", "2", "3"])  # the file's first entry: "4": [1, 2, 3]


def test_metadata_item_attributes_generated(tmp_path: Path) -> None:
    # Generated item -> attribute map in the S3-Rec *_item2attributes.json layout (not real data).
    path = tmp_path / "attrs.json"  # no telling name: detected from the content
    path.write_text('{"10": [3, 1, 3], "7": ["b"], "8": []}', encoding="utf-8")
    df = read_item_metadata(path)
    assert df.to_dicts() == [
        {"item_id": "10", "categories": ["3", "1"]},
        {"item_id": "7", "categories": ["b"]},
        {"item_id": "8", "categories": []},
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"1": [1], "1": [2]}', r"item ID '1' appears twice"),
        ('{"1": [1], "2": 5}', r"item '2' has attributes 5; expected a list of attribute IDs"),
        ('{"1": [[1, 2]]}', r"item '1' has attributes \[\[1, 2\]\]"),
        ('[[1, 2]]', r"holds a JSON list"),
        ('{"1": [1],\n "2": [2,]}', r"line 2: invalid JSON"),
    ],
)
def test_metadata_item_attributes_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "Generated_item2attributes.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFormatError, match=expected) as info:
        read_item_metadata(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------------------------------------
# read_item_metadata errors: each names the file and, where there is one, the line


@pytest.mark.parametrize(
    ("name", "lines", "fmt", "expected"),
    [
        ("meta_x.json", ['{"asin": "a1"}', "not json at all"], "auto", r"line 2: neither JSON"),
        ("yelp.json", ['{"business_id": "b1", "name": "A"}', "{'business_id': 'b2'}"], "yelp", r"line 2: invalid JSON"),
        ("meta_x.json", ['{"asin": "a1"}', "[1, 2]"], "auto", r"line 2: expected one object per line, found list"),
        ("meta_x.json", ['{"asin": "a1"}', '{"title": "no id"}'], "auto", r"line 2: missing field 'asin'"),
        ("meta_x.jsonl", ['{"parent_asin": "p1"}', '{"asin": "a2"}'], "auto", r"line 2: missing field 'parent_asin'"),
        ("yelp.json", ['{"business_id": "b1", "name": "A"}', "", '{"name": "x"}'], "auto",
         r"line 3: missing field 'business_id'"),
        ("meta_x.json", ['{"asin": "a1"}', '{"asin": "  "}'], "auto", r"line 2: empty item ID"),
        ("meta_x.json", ['{"asin": "a1"}', '{"asin": null}'], "auto", r"line 2: empty item ID"),
        ("meta_x.json", ['{"asin": "a1"}', '{"asin": "a2"}', '{"asin": "a1"}'], "auto",
         r"line 3: item ID 'a1' appears twice \(first on line 1\)"),
        ("meta_x.json", ['{"asin": "a1", "categories": "Books"}'], "auto", r"line 1: field 'categories' is str"),
        ("meta_x.json", ['{"asin": "a1", "title": 5}'], "auto", r"line 1: field 'title' is int"),
        ("odd.json", ['{"id": 1, "name": "x"}'], "auto", r"line 1: JSON object with keys \['id', 'name'\]"),
        ("reviews.json", ['{"reviewerID": "u1", "asin": "a1", "overall": 5.0}'], "auto", r"line 1: .*reviews file"),
        ("review.json", ['{"review_id": "r1", "user_id": "u1", "business_id": "b1"}'], "auto", r"reviews file"),
        ("odd.txt", ["hello world", "nothing"], "auto", r"unknown item metadata layout \(line 1.*Amazon.*Yelp"),
        ("movies.csv", ["movieId,title,genres", "1,A (2000),Drama", "1,B (2001),Drama"], "auto",
         r"line 3: item ID '1' appears twice \(first on line 2\)"),
        ("movies.csv", ["movieId,title,genres", '1,"A (2000),Drama'], "auto", r"line 2: .*unbalanced quote"),
        ("u.item", ["1|A (1995)|01-Jan-1995||u|0|0"], "auto", r"line 1: expected 24 pipe-separated fields"),
        ("u.item", [_U_ITEM_ROWS[0].replace("|1|1|1|", "|1|x|1|")], "auto", r"line 1: genre flags must be 0 or 1"),
        ("x.item", ["movie_title:token_seq\trelease_year:token", "A\t1995"], "recbole", r"line 1: .*no item_id"),
        ("empty.json", [], "auto", r"file is empty"),
        ("blank.json", ["", "   "], "amazon", r"file is empty"),
    ],
)
def test_metadata_errors_name_file_and_line(
    tmp_path: Path, name: str, lines: list[str], fmt: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(DataFormatError, match=expected) as info:
        read_item_metadata(path, format=fmt)
    assert str(path) in str(info.value)


def test_metadata_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "meta_x.json.gz"
    path.write_bytes(gzip.compress(b'{"asin": "a1"}\n{"asin": "a2", "title": "Caf\xe9"}\n'))
    with pytest.raises(DataFormatError, match=r"line 2: not valid utf-8") as info:
        read_item_metadata(path)
    assert str(path) in str(info.value)
    movies = tmp_path / "movies.csv"
    movies.write_bytes(b"movieId,title,genres\n1,A (2000),Drama\n2,Caf\xe9 (2000),Drama\n")
    with pytest.raises(DataFormatError, match=r"movies.csv, line 3: not valid utf-8"):
        read_item_metadata(movies)


def test_metadata_broken_gzip_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "meta_x.json.gz"
    data = "".join(f'{{"asin": "a{i}"}}\n' for i in range(1000)).encode()
    path.write_bytes(gzip.compress(data)[:-200])  # truncated: the end of the stream is missing
    with pytest.raises(DataFormatError, match="cannot read the file") as info:
        read_item_metadata(path, format="amazon")
    assert str(path) in str(info.value)
    with pytest.raises(DataFormatError, match="nope.json: file not found"):
        read_item_metadata(tmp_path / "nope.json")


def test_metadata_bad_options(tmp_path: Path) -> None:
    path = tmp_path / "meta_x.json"
    path.write_text('{"asin": "a1"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown metadata format 'csv'"):
        read_item_metadata(path, format="csv")
    with pytest.raises(ConfigError, match="tags= applies to MovieLens movies.csv only"):
        read_item_metadata(path, tags=True)
