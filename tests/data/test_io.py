"""read_interactions / detect_format: every layout on real files (when present) and on small written files,
plus the error messages users see (file name + line or column + what was expected)."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rnnrec.data.columns import Columns
from rnnrec.data.io import FORMATS, detect_format, read_interactions
from rnnrec.errors import ConfigError, DataFormatError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def shared_file(rel: str) -> Path:
    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"{path} not found (shared datasets are not available here)")
    return path


def frame(users: list[str], items: list[str], times: list[float] | None = None) -> pl.DataFrame:
    data: dict[str, pl.Series] = {
        Columns.USER: pl.Series(users, dtype=pl.String),
        Columns.ITEM: pl.Series(items, dtype=pl.String),
    }
    if times is not None:
        data[Columns.TIME] = pl.Series(times, dtype=pl.Float64)
    return pl.DataFrame(data)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(gzip.compress(text) if path.name.endswith(".gz") else text)
    return path


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def raises(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(DataFormatError, match=match) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------------------------------------- real files


def test_recbole_real_ml100k() -> None:
    path = shared_file("ml-100k/ml-100k.inter")
    assert detect_format(path) == "recbole"
    df = read_interactions(path)
    assert df.schema == pl.Schema({Columns.USER: pl.String, Columns.ITEM: pl.String, Columns.TIME: pl.Float64})
    assert df.height == 100_000
    assert df[Columns.USER].n_unique() == 943
    assert df[Columns.ITEM].n_unique() == 1_682
    assert df.head(3).rows() == [("196", "242", 881250949.0), ("186", "302", 891717742.0), ("22", "377", 878887116.0)]
    assert_frame_equal(read_interactions(path, format="recbole"), df)


def test_ml_latest_real_small() -> None:
    path = shared_file("ml-latest-small/ratings.csv")
    assert detect_format(path) == "ml-latest"
    df = read_interactions(path)
    assert df.height == 105_339
    assert df[Columns.USER].n_unique() == 668
    assert df[Columns.ITEM].n_unique() == 10_325
    assert df.head(2).rows() == [("1", "16", 1217897793.0), ("1", "24", 1217895807.0)]
    t = df[Columns.TIME]
    assert datetime.fromtimestamp(t.min(), timezone.utc).date().isoformat() == "1996-04-03"
    assert datetime.fromtimestamp(t.max(), timezone.utc).date().isoformat() == "2016-01-10"


def test_gru4rec_real_rsc15() -> None:
    train = shared_file("rsc15-100k/yoochoose-clicks-100k_train_full.txt")
    assert detect_format(train) == "gru4rec"
    df = read_interactions(train)
    assert df.height == 70_278
    assert df[Columns.USER].n_unique() == 17_794
    assert df[Columns.ITEM].n_unique() == 2_933
    assert df.head(2).rows() == [("3", "214716935", 1396437466.94), ("3", "214832672", 1396438212.318)]
    test = read_interactions(shared_file("rsc15-100k/yoochoose-clicks-100k_test.txt"), format="gru4rec")
    assert (test.height, test[Columns.USER].n_unique()) == (13_568, 3_416)


def test_s3rec_real_beauty() -> None:
    path = shared_file("amazon-beauty-s3rec/Beauty.txt")
    assert detect_format(path) == "s3rec"
    df = read_interactions(path)
    assert df.columns == [Columns.USER, Columns.ITEM]  # no time in this layout
    assert df.height == 198_502
    assert df[Columns.USER].n_unique() == 22_363
    assert df[Columns.ITEM].n_unique() == 12_101
    assert df.head(6).rows() == [("1", "1"), ("1", "2"), ("1", "3"), ("1", "4"), ("1", "5"), ("2", "6")]
    assert df.group_by(Columns.USER).len()["len"].min() == 5


# ------------------------------------------------------------------------------------- small written files


def test_ml_1m_dat(tmp_path: Path) -> None:
    text = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n"
    expected = frame(["1", "1", "2"], ["1193", "661", "1357"], [978300760.0, 978302109.0, 978298709.0])
    path = write(tmp_path / "ratings.dat", text)
    assert detect_format(path) == "ml-1m"
    assert_frame_equal(read_interactions(path), expected)
    other = write(tmp_path / "ml10m.txt", text)  # detected from the '::' separator
    assert detect_format(other) == "ml-1m"
    assert_frame_equal(read_interactions(other, format="ml-1m"), expected)


def test_ml_100k_u_data(tmp_path: Path) -> None:
    path = write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n")
    assert detect_format(path) == "ml-100k"
    assert_frame_equal(
        read_interactions(path), frame(["196", "186", "22"], ["242", "302", "377"], [881250949.0, 891717742.0, 878887116.0])
    )
    split = write(tmp_path / "u1.base", "1\t1\t5\t874965758\n")
    assert detect_format(split) == "ml-100k"
    headerless = write(tmp_path / "log.tsv", "1\t1\t5\t874965758\n2\t3\t4\t874965759\n")
    assert detect_format(headerless) == "ml-100k"


def test_sasrec(tmp_path: Path) -> None:
    path = write(tmp_path / "ml-1m.txt", "1 10\n1 11\n2 10\n\n1 12\n")  # a blank line is skipped
    assert detect_format(path) == "sasrec"
    assert_frame_equal(read_interactions(path), frame(["1", "1", "2", "1"], ["10", "11", "10", "12"]))


def test_s3rec_small(tmp_path: Path) -> None:
    path = write(tmp_path / "seqs.txt", "u1 a b c\r\nu2 b  a\r\n")  # CRLF and a double space
    assert detect_format(path) == "s3rec"
    assert_frame_equal(read_interactions(path), frame(["u1", "u1", "u1", "u2", "u2"], ["a", "b", "c", "b", "a"]))


def amazon_2014_lines() -> str:
    rows = [
        {"reviewerID": "A2SUAM1J3GNN3B", "asin": "0000013714", "helpful": [2, 3], "overall": 5.0,
         "unixReviewTime": 1393545600, "reviewTime": "02 28, 2014", "style": {"Format:": " Hardcover"}},
        {"reviewerID": "A14VAT5EAX3D9S", "asin": "0000031887", "overall": 4.0, "unixReviewTime": 1363392000},
    ]  # fmt: skip
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_amazon_2014(tmp_path: Path) -> None:
    expected = frame(["A2SUAM1J3GNN3B", "A14VAT5EAX3D9S"], ["0000013714", "0000031887"], [1393545600.0, 1363392000.0])
    path = write(tmp_path / "reviews_Beauty_5.json", amazon_2014_lines())
    assert detect_format(path) == "amazon"
    assert_frame_equal(read_interactions(path), expected)
    gz = write(tmp_path / "reviews_Beauty_5.json.gz", amazon_2014_lines())
    assert detect_format(gz) == "amazon"
    assert_frame_equal(read_interactions(gz), expected)


def test_amazon_2023_milliseconds(tmp_path: Path) -> None:
    rows = [
        {"rating": 5.0, "title": "Great", "asin": "B00YQ6X8EO", "parent_asin": "B00YQ6X8EO",
         "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588687728923, "helpful_vote": 0},
        {"rating": 4.0, "asin": "B081TJ8YS3", "parent_asin": "B08BBQ29N5",
         "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588615855070},
    ]  # fmt: skip
    path = write(tmp_path / "All_Beauty.jsonl.gz", "".join(json.dumps(r) + "\n" for r in rows))
    assert detect_format(path) == "amazon"
    assert_frame_equal(
        read_interactions(path),
        frame(["AGKHLEW2SOWHNMFQIJGBECAF7INQ"] * 2, ["B00YQ6X8EO", "B08BBQ29N5"], [1588687728.923, 1588615855.070]),
    )


def yelp_lines() -> str:
    rows = [
        {"review_id": "r1", "user_id": "mh_-eMZ6K5RLWhZyISBhwA", "business_id": "XQfwVwDr-v0ZS3_CbbE5Xw",
         "stars": 3.0, "text": "If you decide to eat here, just be aware...", "date": "2018-07-07 22:09:11"},
        {"review_id": "r2", "user_id": "OyoGAe7OKpv6SyGZT5g77Q", "business_id": "7ATYjTIgM3jUlt4UM3IypQ",
         "stars": 5.0, "text": "I've taken a lot of spin classes", "date": "2012-01-03 15:28:18"},
    ]  # fmt: skip
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_yelp_dates(tmp_path: Path) -> None:
    expected = frame(
        ["mh_-eMZ6K5RLWhZyISBhwA", "OyoGAe7OKpv6SyGZT5g77Q"],
        ["XQfwVwDr-v0ZS3_CbbE5Xw", "7ATYjTIgM3jUlt4UM3IypQ"],
        [utc(2018, 7, 7, 22, 9, 11), utc(2012, 1, 3, 15, 28, 18)],
    )
    for name in ("yelp_academic_dataset_review.json", "review.json.gz"):
        path = write(tmp_path / name, yelp_lines())
        assert detect_format(path) == "yelp"
        assert_frame_equal(read_interactions(path), expected)


def test_csv_with_mapping_keeps_file_order_and_string_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", "uid;sku;price;ts\n007;B;1.5;30\n007;A;2;10\nx9;B;3;20.5\n")
    df = read_interactions(path, columns={"user_id": "uid", "item_id": "sku", "timestamp": "ts"})
    assert_frame_equal(df, frame(["007", "007", "x9"], ["B", "A", "B"], [30.0, 10.0, 20.5]))
    no_time = read_interactions(path, format="csv", columns={"user_id": "uid", "item_id": "sku"}, sep=";")
    assert_frame_equal(no_time, frame(["007", "007", "x9"], ["B", "A", "B"]))


def test_csv_recognised_names_and_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.tsv",
        "session_id\titem\ttime\n"
        "s1\ti1\t2020-01-31\n"
        "s1\ti2\t2020-01-31T12:00:00Z\n"
        "s2\ti1\t2020-01-31 12:00:00.5+02:00\n",
    )
    assert detect_format(path) == "csv"
    assert_frame_equal(
        read_interactions(path),
        frame(["s1", "s1", "s2"], ["i1", "i2", "i1"], [utc(2020, 1, 31), utc(2020, 1, 31, 12), utc(2020, 1, 31, 10) + 0.5]),
    )


def test_csv_time_format_and_quotes(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", 'user,item,when\n1,"a,b",31/01/2020 12:00\n2,c,01/02/2020 00:30\n')
    df = read_interactions(path, columns={"user_id": "user", "item_id": "item", "timestamp": "when"},
                           time_format="%d/%m/%Y %H:%M")  # fmt: skip
    assert_frame_equal(df, frame(["1", "2"], ["a,b", "c"], [utc(2020, 1, 31, 12), utc(2020, 2, 1, 0, 30)]))


def test_csv_gz_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv.gz", "userId,itemId,timestamp\n1,2,3\n\n4,5,6\n\n")
    assert detect_format(path) == "csv"
    assert_frame_equal(read_interactions(path), frame(["1", "4"], ["2", "5"], [3.0, 6.0]))


def test_recbole_session_file(tmp_path: Path) -> None:
    path = write(tmp_path / "diginetica.inter", "session_id:token\titem_id:token\ttimestamp:float\n1\t81766\t1462060800.0\n1\t31331\t1462060801\n")
    assert detect_format(path) == "recbole"
    assert_frame_equal(read_interactions(path), frame(["1", "1"], ["81766", "31331"], [1462060800.0, 1462060801.0]))
    no_ext = write(tmp_path / "data.txt", path.read_text())
    assert detect_format(no_ext) == "recbole"


def test_gru4rec_small(tmp_path: Path) -> None:
    path = write(tmp_path / "train.txt", "SessionId\tItemId\tTime\n3\t214716935\t1396437466.94\n")
    assert detect_format(path) == "gru4rec"
    assert_frame_equal(read_interactions(path), frame(["3"], ["214716935"], [1396437466.94]))


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pl.DataFrame({"uid": [10, 11, 10], "sku": ["a", "b", "c"], "ts": [3, 1, 2], "rating": [1.0, 2.0, 3.0]}).write_parquet(path)
    assert detect_format(path) == "parquet"
    df = read_interactions(path, columns={"user_id": "uid", "item_id": "sku", "timestamp": "ts"})
    assert_frame_equal(df, frame(["10", "11", "10"], ["a", "b", "c"], [3.0, 1.0, 2.0]))

    named = tmp_path / "named.parquet"
    pl.DataFrame(
        {"user_id": ["u", "v"], "item_id": [1.0, 2.0], "timestamp": [datetime(2020, 1, 31, 12), datetime(1970, 1, 1)]}
    ).write_parquet(named)
    assert_frame_equal(read_interactions(named), frame(["u", "v"], ["1", "2"], [utc(2020, 1, 31, 12), 0.0]))


def test_auto_detection_table(tmp_path: Path) -> None:
    cases = {
        "a.inter": "user_id:token\titem_id:token\n1\t2\n",
        "u.data": "1\t2\t3\t4\n",
        "ratings.dat": "1::2::3::4\n",
        "ratings.csv": "userId,movieId,rating,timestamp\n1,2,3.5,4\n",
        "clicks.tsv": "SessionId\tItemId\tTime\n1\t2\t3.5\n",
        "pairs.txt": "1 2\n3 4\n",
        "seq.txt": "1 2 3\n2 4\n",
        "plain.csv": "user_id,item_id\n1,2\n",
        "r.json": '{"reviewerID": "a", "asin": "b", "unixReviewTime": 1}\n',
        "y.json": '{"user_id": "a", "business_id": "b", "date": "2020-01-01 00:00:00"}\n',
    }
    expected = ["recbole", "ml-100k", "ml-1m", "ml-latest", "gru4rec", "sasrec", "s3rec", "csv", "amazon", "yelp"]
    for (name, text), fmt in zip(cases.items(), expected):
        assert detect_format(write(tmp_path / name, text)) == fmt, name
        assert read_interactions(tmp_path / name).height >= 1
    assert set(expected) | {"parquet"} == set(FORMATS)


# ------------------------------------------------------------------------------------------------- errors


def test_error_file_not_found(tmp_path: Path) -> None:
    raises(r"missing\.csv: file not found", read_interactions, tmp_path / "missing.csv")
    raises(r"missing\.csv: file not found", detect_format, tmp_path / "missing.csv")


def test_error_empty_and_header_only(tmp_path: Path) -> None:
    raises(r"empty\.csv: file is empty", read_interactions, write(tmp_path / "empty.csv", ""))
    raises(r"blank\.txt: file is empty", read_interactions, write(tmp_path / "blank.txt", "\n\n"))
    header = write(tmp_path / "header.csv", "userId,movieId,rating,timestamp\n")
    raises(r"header\.csv: file has only a header line and no interactions", read_interactions, header)
    raises(r"only a header line", read_interactions, write(tmp_path / "h.tsv", "SessionId\tItemId\tTime\n\n"), format="gru4rec")
    raises(r"e\.json: file has no JSON lines", read_interactions, write(tmp_path / "e.json", "\n"), format="yelp")
    raises(r"s\.txt: file has no interactions", read_interactions, write(tmp_path / "s.txt", "\n \n"), format="s3rec")


def test_error_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", "uid,sku,ts\n1,2,3\n")
    msg = raises(r"log\.csv: line 1 \(header\): missing required column", read_interactions, path,
                 columns={"user_id": "uid", "item_id": "item", "timestamp": "ts"})  # fmt: skip
    assert "item_id -> 'item'" in msg
    assert "columns found: ['uid', 'sku', 'ts']" in msg
    assert "mapping used: {'user_id': 'uid', 'item_id': 'item', 'timestamp': 'ts'}" in msg
    msg = raises(r"ratings\.csv: line 1 \(header\): missing", read_interactions,
                 write(tmp_path / "ratings.csv", "userId,itemId,rating,timestamp\n1,2,3,4\n"), format="ml-latest")  # fmt: skip
    assert "movieId" in msg and "columns found: ['userId', 'itemId', 'rating', 'timestamp']" in msg
    parquet = tmp_path / "p.parquet"
    pl.DataFrame({"a": [1], "b": [2]}).write_parquet(parquet)
    msg = raises(r"p\.parquet: missing required column", read_interactions, parquet)
    assert "columns found: ['a', 'b']" in msg


def test_error_wrong_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", "uid,sku,ts\n1,2,3\n")
    msg = raises(r"log\.csv: line 1: expected tab-separated", read_interactions, path, format="csv", sep="\t",
                 columns={"user_id": "uid", "item_id": "sku"})  # fmt: skip
    assert "found a single column 'uid,sku,ts'" in msg and "is the delimiter ','" in msg
    gru = write(tmp_path / "train.txt", "SessionId,ItemId,Time\n1,2,3\n")
    raises(r"train\.txt: line 1: expected tab-separated.*single column.*is the delimiter ','", read_interactions, gru, format="gru4rec")
    udata = write(tmp_path / "u.data", "196,242,3,881250949\n")
    raises(r"u\.data: line 1: found 1 field\(s\), expected 4 tab-separated.*is the delimiter ','", read_interactions, udata)


def test_error_unparsable_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,100\n1,3,4,12x\n")
    msg = raises(r"ratings\.csv: line 3: cannot parse timestamp '12x' in column 'timestamp'", read_interactions, path)
    assert "expected a number of seconds" in msg
    dates = write(tmp_path / "d.csv", "user,item,time\n1,2,2020-01-01\n\n1,3,yesterday\n")
    raises(r"d\.csv: line 4: cannot parse timestamp 'yesterday' in column 'time'; expected an ISO-8601", read_interactions, dates)
    fmt = write(tmp_path / "f.csv", "user,item,time\n1,2,01/02/2020\n")
    raises(r"f\.csv: line 2: cannot parse timestamp '01/02/2020'.*time_format '%Y'", read_interactions, fmt,
           columns={"user_id": "user", "item_id": "item", "timestamp": "time"}, time_format="%Y")  # fmt: skip
    yelp = write(tmp_path / "y.json", yelp_lines() + '{"user_id": "u", "business_id": "b", "date": "soon"}\n')
    raises(r"y\.json: line 3: cannot parse 'date' value 'soon'", read_interactions, yelp)


def test_error_line_after_quoted_newline(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'user,item,time\n1,"multi\nline",5\n2,b,oops\n')
    raises(r"q\.csv: line 4: cannot parse timestamp 'oops'", read_interactions, path)


def test_error_wrong_number_of_fields(tmp_path: Path) -> None:
    too_many = write(tmp_path / "many.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n1,2,3,4,5\n")
    raises(r"many\.csv: line 3: found 5 field\(s\), expected 4 comma-separated", read_interactions, too_many)
    too_few = write(tmp_path / "few.tsv", "SessionId\tItemId\tTime\n1\t2\t3\n1\t2\n")
    raises(r"few\.tsv: line 3: found 2 field\(s\), expected 3 tab-separated", read_interactions, too_few)
    dat = write(tmp_path / "ratings.dat", "1::2::3::4\n1::2::3\n")
    raises(r"ratings\.dat: line 2: found 3 field\(s\), expected 4 '::'-separated", read_interactions, dat)
    sasrec = write(tmp_path / "pairs.txt", "1 2\n3 4\n5 6 7\n")
    raises(r"pairs\.txt: line 3: found 3 field\(s\).*expected 2 space-separated", read_interactions, sasrec, format="sasrec")
    s3rec = write(tmp_path / "seq.txt", "1 2 3\n4\n")
    raises(r"seq\.txt: line 2: found only the user ID", read_interactions, s3rec, format="s3rec")


def test_error_empty_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", "user,item,time\n1,2,3\n,2,3\n")
    raises(r"log\.csv: line 3: empty user_id \(column 'user'\)", read_interactions, path)
    item = write(tmp_path / "u.data", "1\t2\t3\t4\n1\t\t3\t4\n")
    raises(r"u\.data: line 2: empty item_id", read_interactions, item)
    parquet = tmp_path / "n.parquet"
    pl.DataFrame({"user_id": ["a", None], "item_id": ["x", "y"]}).write_parquet(parquet)
    raises(r"n\.parquet: row 2: user_id \(column 'user_id'\) is null", read_interactions, parquet)


def test_error_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", amazon_2014_lines() + "\n" + '{"reviewerID": "a", "asin": \n')
    raises(r"r\.json: line 4: invalid JSON", read_interactions, path)
    first = write(tmp_path / "bad.json", "{not json\n")
    raises(r"bad\.json: line 1: invalid JSON", read_interactions, first)
    raises(r"bad\.json: line 1: invalid JSON", read_interactions, first, format="amazon")
    array = write(tmp_path / "arr.json", amazon_2014_lines() + "[1, 2]\n")
    raises(r"arr\.json: line 3: expected a JSON object", read_interactions, array, format="amazon")
    typed = write(tmp_path / "t.json", amazon_2014_lines() + '{"reviewerID": "a", "asin": "b", "unixReviewTime": "x"}\n')
    raises(r"t\.json: line 3: field 'unixReviewTime' is 'x'; expected a number", read_interactions, typed)


def test_error_json_missing_field(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json.gz", amazon_2014_lines() + "\n" + '{"reviewerID": "a", "overall": 5}\n')
    msg = raises(r"r\.json\.gz: line 4: missing field 'asin'", read_interactions, path)
    assert "found keys ['overall', 'reviewerID']" in msg
    null = write(tmp_path / "y.json", yelp_lines() + '{"user_id": null, "business_id": "b", "date": "2020-01-01"}\n')
    raises(r"y\.json: line 3: field 'user_id' is null", read_interactions, null)
    keys = write(tmp_path / "k.json", '{"user": "a", "item": "b"}\n')
    raises(r"k\.json: line 1: JSON keys \['item', 'user'\]; expected Amazon", read_interactions, keys, format="amazon")


def test_error_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "bin.csv", b"user,item\n1,2\n3,\xff\xfe\n")
    raises(r"bin\.csv: line 3: not valid UTF-8", read_interactions, path)


def test_error_undecidable_and_bad_options(tmp_path: Path) -> None:
    path = write(tmp_path / "movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation\n")
    msg = raises(r"movies\.csv: cannot tell the format", read_interactions, path)
    assert all(f in msg for f in FORMATS)
    with pytest.raises(ConfigError, match="unknown format 'tsv'"):
        read_interactions(path, format="tsv")
    with pytest.raises(ConfigError, match="columns= applies to"):
        read_interactions(path, format="ml-1m", columns={"user_id": "a", "item_id": "b"})
    with pytest.raises(ConfigError, match="must map"):
        read_interactions(path, columns={"user_id": "movieId"})
    not_parquet = write(tmp_path / "x.parquet", "hello\n")
    raises(r"x\.parquet: not a readable parquet file", read_interactions, not_parquet)


def test_no_raw_polars_error_escapes(tmp_path: Path) -> None:
    """Whatever polars trips over comes back as a DataFormatError naming the file."""
    path = write(tmp_path / "q.csv", 'user,item\n1,"unterminated\n2,3\n')
    msg = raises(r"q\.csv", read_interactions, path)
    assert re.search(r"line \d|could not read", msg)


def test_error_ml_1m_single_colon(tmp_path: Path) -> None:
    path = write(tmp_path / "ratings.dat", "1::2::3::4\n1::2:x::3::4\n")
    raises(r"ratings\.dat: line 2: a field contains a single ':'", read_interactions, path)


def test_error_corrupt_gzip(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv.gz", b"")
    path.write_bytes(gzip.compress(b"user,item\n1,2\n" * 100)[:40])  # truncated stream
    raises(r"log\.csv\.gz: could not detect the format", read_interactions, path)
    raises(r"log\.csv\.gz: could not read as csv", read_interactions, path, format="csv")
    raises(r"log\.csv\.gz: could not read the first lines", detect_format, path)
