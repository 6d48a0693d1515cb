"""Item metadata (titles, genres, tags, categories...) from public dataset files, as one canonical table.

Why: recommendations are shown by name, and content features (genres, categories, tags) come from files whose
layout differs per dataset. Every reader returns the same polars frame (see :class:`ItemColumns`) keyed by the
item ID exactly as the interaction files spell it, and every problem comes back as a :class:`DataFormatError`
naming the file and the line.

Layouts: GroupLens ``movies.csv`` (+ ``tags.csv``), RecBole atomic ``.item`` files, ml-100k ``u.item``,
Amazon metadata JSON lines (2014, 2018, 2023), Yelp ``business.json`` and item → attribute ID maps
(``*_item2attributes.json`` of the S3-Rec / ICLRec Amazon sets). MovieLens files are small and read
whole with the csv module (no type inference on titles); JSON files can be large and are read line by line
in one pass. Any of them may be gzip-compressed.
"""

from __future__ import annotations

import ast
import codecs
import csv
import io
import json
import logging
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from rnnrec.data.io import _open_binary  # gzip or plain, told by the magic bytes
from rnnrec.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

__all__ = ["METADATA_FORMATS", "ItemColumns", "read_item_metadata", "read_item_titles"]

METADATA_FORMATS: tuple[str, ...] = ("movielens-csv", "recbole", "u.item", "amazon", "yelp", "item-attributes")


class ItemColumns:
    """Names and dtypes of the canonical item metadata frame, in one place instead of string literals.

    ``item_id`` is always there (unique, non-empty); the others only when the format has them.
    """

    ID = "item_id"
    TITLE = "title"
    YEAR = "year"
    GENRES = "genres"
    TAGS = "tags"
    DESCRIPTION = "description"
    CATEGORIES = "categories"
    BRAND = "brand"
    IMAGE_URLS = "image_urls"

    DTYPES: dict[str, pl.DataType] = {
        ID: pl.Utf8(),
        TITLE: pl.Utf8(),
        YEAR: pl.Int32(),
        GENRES: pl.List(pl.Utf8),
        TAGS: pl.List(pl.Utf8),
        DESCRIPTION: pl.Utf8(),
        CATEGORIES: pl.List(pl.Utf8),
        BRAND: pl.Utf8(),
        IMAGE_URLS: pl.List(pl.Utf8),
    }


# The 19 genre flags of ml-100k u.item, in file order.
U_ITEM_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

_LAYOUTS = (
    "MovieLens movies.csv (movieId,title,genres), a RecBole .item file (header with item_id:token), "
    "GroupLens u.item (id|title|release date|...), Amazon metadata JSON lines (asin or parent_asin) "
    "Yelp business JSON lines (business_id, name, categories) "
    "or one JSON object mapping item ID -> list of attribute IDs (*_item2attributes.json)"
)
_AMAZON_OLD = "Amazon 2014/2018 metadata (one object per line with 'asin')"
_AMAZON_2023 = "Amazon 2023 metadata (one object per line with 'parent_asin')"
_YELP = "Yelp business JSON lines (business_id, name, categories)"
_ATTRIBUTES = "one JSON object mapping each item ID to a list of attribute IDs"
_TITLE_YEAR = re.compile(r"\(([0-9]{4})\)$")
_DATE_YEAR = re.compile(r"([0-9]{4})$")
_YEAR = re.compile(r"[0-9]{4}")
_NO_GENRES = "(no genres listed)"


# ----------------------------------------------------------------------------------------------------------
# public API


def read_item_metadata(
    path: str | Path, format: str = "auto", tags: str | Path | bool | None = None
) -> pl.DataFrame:
    """Read a whole item metadata file into the canonical frame, one row per item, in file order.

    ``format`` is one of :data:`METADATA_FORMATS` or ``"auto"`` (detected from the first line and the file
    name). ``tags`` applies to ``movielens-csv`` only: a ``tags.csv`` path to aggregate per movie; ``None``
    uses the ``tags.csv`` next to the movies file when there is one; ``True`` requires it; ``False`` reads
    no tags. Columns and dtypes: see :class:`ItemColumns`.

    Raises:
        DataFormatError: the file is missing or empty, matches no known layout, or a line is malformed.
        ConfigError: unknown ``format``, or ``tags`` given for a format that has no tags file.
    """
    p = _check_file(Path(path))
    if format != "auto" and format not in METADATA_FORMATS:
        expected = ", ".join(METADATA_FORMATS)
        raise ConfigError(f"unknown metadata format {format!r}; expected 'auto' or one of: {expected}")
    fmt = _detect(p) if format == "auto" else format
    tags_path = _tags_path(p, fmt, tags)
    df = _READERS[fmt](p)
    if tags_path is not None:
        df = _with_tags(df, tags_path)
    logger.debug("read %d items (%s, columns %s) from %s", df.height, fmt, df.columns, p)
    return df


def read_item_titles(path: str | Path) -> dict[str, str]:
    """Map external item ID (as a string, like the interaction files) -> display title.

    A view over :func:`read_item_metadata`, for callers that only print names. MovieLens titles carry the
    release year, e.g. ``"Toy Story (1995)"``; items without a title (possible in Amazon files) are left out.

    Raises:
        DataFormatError: the file matches none of the known layouts, has no title column, or a row is malformed.
    """
    df = read_item_metadata(path, tags=False)
    if ItemColumns.TITLE not in df.columns:
        raise DataFormatError(
            f"{path}: item file has no title column (RecBole: movie_title, title, item_title or name); "
            f"found {df.columns}"
        )
    ids, titles = df[ItemColumns.ID].to_list(), df[ItemColumns.TITLE].to_list()
    return {i: t for i, t in zip(ids, titles) if t is not None}


# ----------------------------------------------------------------------------------------------------------
# detection and file access


def _check_file(p: Path) -> Path:
    if not p.exists():
        raise DataFormatError(f"{p}: file not found")
    if not p.is_file():
        raise DataFormatError(f"{p}: not a regular file (expected an item metadata file)")
    return p


def _detect(p: Path) -> str:
    """JSON objects by their keys; then a RecBole header, a movieId header or .csv name, u.item; then meta_*.json."""
    first = _first_line(p)
    if first is None:
        raise DataFormatError(f"{p}: file is empty, expected an item metadata file")
    no, raw = first
    head = raw.removeprefix(codecs.BOM_UTF8).decode("latin-1").rstrip("\r\n")
    name = _base_name(p)
    if "item2attributes" in name:
        return "item-attributes"
    if head.lstrip().startswith("{"):
        obj = _parse_object(p, no, raw.decode("utf-8", errors="replace"), python_literals=True)
        if "user_id" in obj or "reviewerID" in obj:
            raise DataFormatError(
                f"{p}, line {no}: this looks like a reviews file (it has a user ID), not item metadata; "
                "read it with rnnrec.data.io.read_interactions"
            )
        if "business_id" in obj and "name" in obj:
            return "yelp"
        if "asin" in obj or "parent_asin" in obj:
            return "amazon"
        if obj and all(isinstance(v, list) for v in obj.values()):
            return "item-attributes"
        raise DataFormatError(
            f"{p}, line {no}: JSON object with keys {sorted(obj)[:20]}; expected Amazon metadata "
            f"(asin or parent_asin) or Yelp businesses (business_id, name); or one of: {_LAYOUTS}"
        )
    if "\t" in head and any(f.split(":", 1)[0] == "item_id" and ":" in f for f in head.split("\t")):
        return "recbole"
    if head.split(",", 1)[0] == "movieId" or name.endswith(".csv"):
        return "movielens-csv"
    if name == "u.item" or (head.count("|") >= 2 and head.split("|", 1)[0].strip().isdigit()):
        return "u.item"
    if name.startswith("meta_") and name.endswith((".json", ".jsonl")):
        return "amazon"
    raise DataFormatError(f"{p}: unknown item metadata layout (line {no}: {head[:80]!r}); expected {_LAYOUTS}")


def _base_name(p: Path) -> str:
    name = p.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _unreadable(p: Path, exc: BaseException) -> DataFormatError:
    return DataFormatError(f"{p}: cannot read the file ({exc or type(exc).__name__}); broken gzip file?")


def _first_line(p: Path) -> tuple[int, bytes] | None:
    """First non-blank line (1-based number, raw bytes), or None for an empty file."""
    try:
        with _open_binary(p) as fh:
            for no, raw in enumerate(fh, 1):
                if raw.strip():
                    return no, raw
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(p, exc) from exc
    return None


def _read_text(p: Path, encoding: str) -> str:
    """Whole file as text; a byte that is not valid in ``encoding`` is reported with its line."""
    try:
        with _open_binary(p) as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(p, exc) from exc
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise DataFormatError(
            f"{p}, line {line_no}: not valid {encoding} text ({exc.reason} at byte {exc.start}); "
            f"expected {encoding} text"
        ) from None
    if not text.strip():
        raise DataFormatError(f"{p}: file is empty, expected an item metadata file")
    return text.removeprefix("\ufeff")


def _lines(text: str) -> list[str]:
    """Split on \\n only: str.splitlines would also break on characters such as U+0085 inside titles."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _iter_lines(p: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of the non-blank lines, decoded as UTF-8 one line at a time."""
    try:
        with _open_binary(p) as fh:
            for no, raw in enumerate(fh, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataFormatError(
                        f"{p}, line {no}: not valid utf-8 text ({exc.reason} at byte {exc.start}); "
                        "expected utf-8 text"
                    ) from None
                if no == 1:
                    text = text.removeprefix("\ufeff")
                if text.strip():
                    yield no, text
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(p, exc) from exc


def _csv_records(p: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, fields); quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for fields in reader:
            yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataFormatError(f"{p}, line {start}: {exc} (unbalanced quote?)") from None


# ----------------------------------------------------------------------------------------------------------
# row collection


class _Rows:
    """Column lists filled row by row; IDs are checked as they come, so errors can name the line."""

    def __init__(self, p: Path, columns: tuple[str, ...]) -> None:
        self.path = p
        self.first_line: dict[str, int] = {}
        self.data: dict[str, list[Any]] = {ItemColumns.ID: [], **{c: [] for c in columns}}

    def add(self, line_no: int, item_id: str, values: tuple[Any, ...]) -> None:
        item_id = item_id.strip()
        if not item_id:
            raise DataFormatError(f"{self.path}, line {line_no}: empty item ID")
        if item_id in self.first_line:
            raise DataFormatError(
                f"{self.path}, line {line_no}: item ID {item_id!r} appears twice "
                f"(first on line {self.first_line[item_id]})"
            )
        self.first_line[item_id] = line_no
        lists = iter(self.data.values())
        next(lists).append(item_id)
        for column, value in zip(lists, values, strict=True):
            column.append(value)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([pl.Series(n, v, dtype=ItemColumns.DTYPES[n]) for n, v in self.data.items()])


def _distinct(values: list[str]) -> list[str]:
    """Stripped, non-empty, first occurrence kept."""
    return list(dict.fromkeys(s for s in (v.strip() for v in values) if s))


# ----------------------------------------------------------------------------------------------------------
# MovieLens and RecBole


def _read_movielens_csv(p: Path) -> pl.DataFrame:
    """GroupLens ``movies.csv``: UTF-8, quoted titles may contain commas, genres joined by ``|``."""
    records = _csv_records(p, _read_text(p, "utf-8"))
    header = next(records, (1, []))[1]
    if "movieId" not in header or "title" not in header:
        raise DataFormatError(f"{p}: expected a header with movieId and title columns, got {header}")
    id_col, title_col = header.index("movieId"), header.index("title")
    genre_col = header.index("genres") if "genres" in header else None
    columns = (ItemColumns.TITLE, ItemColumns.YEAR) + ((ItemColumns.GENRES,) if genre_col is not None else ())
    rows = _Rows(p, columns)
    for line_no, row in records:
        if not row:
            continue
        if len(row) != len(header):
            raise DataFormatError(f"{p}, line {line_no}: expected {len(header)} fields, got {len(row)}: {row}")
        title = row[title_col].strip()
        match = _TITLE_YEAR.search(title)
        values: tuple[Any, ...] = (title, int(match.group(1)) if match else None)
        if genre_col is not None:
            genres = row[genre_col].strip()
            values += ([] if genres in ("", _NO_GENRES) else _distinct(genres.split("|")),)
        rows.add(line_no, row[id_col], values)
    return rows.frame()


def _read_recbole(p: Path) -> pl.DataFrame:
    """RecBole atomic file: tab-separated, header ``name:type``; title = ``movie_title`` (+ `` (year)``)."""
    lines = _lines(_read_text(p, "utf-8"))
    names = [f.split(":", 1)[0].strip() for f in lines[0].split("\t")]
    if "item_id" not in names:
        raise DataFormatError(f"{p}, line 1: RecBole item file has no item_id column (columns: {names})")
    title_name = next((n for n in ("movie_title", "title", "item_title", "name") if n in names), None)
    genre_name = next((n for n in ("class", "genre", "genres") if n in names), None)
    id_col = names.index("item_id")
    title_col = names.index(title_name) if title_name else None
    year_col = names.index("release_year") if "release_year" in names else None
    genre_col = names.index(genre_name) if genre_name else None
    columns = tuple(
        c
        for c, col in ((ItemColumns.TITLE, title_col), (ItemColumns.YEAR, year_col), (ItemColumns.GENRES, genre_col))
        if col is not None
    )
    rows = _Rows(p, columns)
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(names):
            raise DataFormatError(f"{p}, line {line_no}: expected {len(names)} tab-separated fields, got {len(fields)}")
        year = fields[year_col].strip() if year_col is not None else ""
        values: list[Any] = []
        if title_col is not None:
            title = fields[title_col].strip()
            values.append(f"{title} ({year})" if year else title)
        if year_col is not None:
            values.append(int(year) if _YEAR.fullmatch(year) else None)
        if genre_col is not None:
            values.append(_distinct(fields[genre_col].split()))
        rows.add(line_no, fields[id_col], tuple(values))
    return rows.frame()


def _read_u_item(p: Path) -> pl.DataFrame:
    """GroupLens ml-100k ``u.item``: latin-1, ``id|title|release date|video date|url|19 genre flags``."""
    n_fields = 5 + len(U_ITEM_GENRES)
    rows = _Rows(p, (ItemColumns.TITLE, ItemColumns.YEAR, ItemColumns.GENRES))
    for line_no, line in enumerate(_lines(_read_text(p, "latin-1")), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != n_fields:
            raise DataFormatError(
                f"{p}, line {line_no}: expected {n_fields} pipe-separated fields (id|title|release date|"
                f"video release date|IMDb URL|19 genre flags), got {len(fields)}: {line[:80]!r}"
            )
        flags = [f.strip() for f in fields[5:]]
        if any(f not in ("0", "1") for f in flags):
            raise DataFormatError(f"{p}, line {line_no}: genre flags must be 0 or 1, got {'|'.join(flags)}")
        match = _DATE_YEAR.search(fields[2].strip())
        genres = [g for g, f in zip(U_ITEM_GENRES, flags) if f == "1"]
        rows.add(line_no, fields[0], (fields[1].strip(), int(match.group(1)) if match else None, genres))
    return rows.frame()


# ----------------------------------------------------------------------------------------------------------
# MovieLens tags


def _tags_path(p: Path, fmt: str, tags: str | Path | bool | None) -> Path | None:
    if tags is None or tags is False:
        candidate = p.parent / "tags.csv"
        if tags is None and fmt == "movielens-csv" and candidate.is_file() and candidate.resolve() != p.resolve():
            return candidate
        return None
    if fmt != "movielens-csv":
        raise ConfigError(f"tags= applies to MovieLens movies.csv only, not to {fmt} ({p})")
    if tags is True:
        return _check_file(p.parent / "tags.csv")
    return _check_file(Path(tags))


def _read_tags(p: Path) -> dict[str, dict[str, None]]:
    """ml-latest ``tags.csv`` (userId,movieId,tag,timestamp) -> movie ID -> distinct tags in first-seen order."""
    records = _csv_records(p, _read_text(p, "utf-8"))
    header = next(records, (1, []))[1]
    if "movieId" not in header or "tag" not in header:
        raise DataFormatError(f"{p}: expected a tags.csv header with movieId and tag columns, got {header}")
    id_col, tag_col = header.index("movieId"), header.index("tag")
    per_movie: dict[str, dict[str, None]] = {}
    for line_no, row in records:
        if not row:
            continue
        if len(row) != len(header):
            raise DataFormatError(f"{p}, line {line_no}: expected {len(header)} fields, got {len(row)}: {row}")
        movie, tag = row[id_col].strip(), row[tag_col].strip().lower()
        if not movie:
            raise DataFormatError(f"{p}, line {line_no}: empty movieId")
        if tag:
            per_movie.setdefault(movie, {})[tag] = None
    return per_movie


def _with_tags(df: pl.DataFrame, tags_path: Path) -> pl.DataFrame:
    per_movie = _read_tags(tags_path)
    ids = df[ItemColumns.ID].to_list()
    unknown = len(per_movie.keys() - set(ids))
    if unknown:
        logger.warning("%s: %d tagged movie IDs are not in the movies file; their tags are ignored", tags_path, unknown)
    tags = [list(per_movie.get(i, ())) for i in ids]
    return df.with_columns(pl.Series(ItemColumns.TAGS, tags, dtype=ItemColumns.DTYPES[ItemColumns.TAGS]))


# ----------------------------------------------------------------------------------------------------------
# JSON lines (Amazon, Yelp)


def _parse_object(p: Path, no: int, text: str, python_literals: bool) -> dict[str, Any]:
    """One JSON object; with ``python_literals`` a Python dict literal too (Amazon 2014 uses single quotes)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if not python_literals:
            raise DataFormatError(f"{p}, line {no}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        try:
            obj = ast.literal_eval(text.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise DataFormatError(
                f"{p}, line {no}: neither JSON ({exc.msg} at column {exc.colno}) nor a Python dict literal"
            ) from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{p}, line {no}: expected one object per line, found {type(obj).__name__}")
    return obj


def _json_objects(p: Path, python_literals: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    found = False
    for no, text in _iter_lines(p):
        found = True
        yield no, _parse_object(p, no, text, python_literals)
    if not found:
        raise DataFormatError(f"{p}: file is empty, expected an item metadata file")


def _item_id(p: Path, no: int, obj: dict[str, Any], key: str, layout: str) -> str:
    if key not in obj:
        raise DataFormatError(f"{p}, line {no}: missing field {key!r} (the item ID); found keys {sorted(obj)[:20]}; "
                              f"expected {layout}")  # fmt: skip
    value = obj[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise DataFormatError(f"{p}, line {no}: empty item ID (field {key!r} is null)")
    if not isinstance(value, str):
        raise DataFormatError(f"{p}, line {no}: field {key!r} is {value!r}; expected the item ID as a string")
    return value


def _opt_str(p: Path, no: int, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataFormatError(f"{p}, line {no}: field {key!r} is {type(value).__name__}; expected a string")
    return value.strip() or None


def _str_list(p: Path, no: int, key: str, value: Any) -> list[str]:
    """A list of strings; nested lists (Amazon 2014 category paths) are flattened."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataFormatError(f"{p}, line {no}: field {key!r} is {type(value).__name__}; expected a list of strings")
    out: list[str] = []
    for v in value:
        for s in v if isinstance(v, list) else (v,):
            if not isinstance(s, str):
                raise DataFormatError(f"{p}, line {no}: field {key!r} holds {s!r}; expected strings")
            out.append(s)
    return _distinct(out)


def _description(p: Path, no: int, value: Any) -> str | None:
    """2014: one string; 2018/2023: a list of paragraphs, joined with a space (HTML kept)."""
    if not isinstance(value, list):
        return _opt_str(p, no, "description", value)
    if not all(isinstance(v, str) for v in value):
        raise DataFormatError(f"{p}, line {no}: field 'description' must be a string or a list of strings")
    return " ".join(s for s in (v.strip() for v in value) if s) or None


def _amazon_images(p: Path, no: int, obj: dict[str, Any], v2023: bool) -> list[str]:
    if v2023:
        images = obj.get("images")
        if images is None:
            return []
        if not isinstance(images, list):
            raise DataFormatError(f"{p}, line {no}: field 'images' is {type(images).__name__}; expected a list")
        urls: list[str] = []
        for image in images:
            if not isinstance(image, dict):
                raise DataFormatError(f"{p}, line {no}: field 'images' holds {image!r}; expected objects")
            url = _opt_str(p, no, "images.hi_res", image.get("hi_res")) or _opt_str(
                p, no, "images.large", image.get("large")
            )
            if url:
                urls.append(url)
        return _distinct(urls)
    if "imUrl" in obj:
        url = _opt_str(p, no, "imUrl", obj["imUrl"])
        return [url] if url else []
    return _str_list(p, no, "imageURLHighRes", obj.get("imageURLHighRes")) or _str_list(
        p, no, "imageURL", obj.get("imageURL")
    )


_JSON_COLUMNS = (
    ItemColumns.TITLE,
    ItemColumns.DESCRIPTION,
    ItemColumns.CATEGORIES,
    ItemColumns.BRAND,
    ItemColumns.IMAGE_URLS,
)


def _read_amazon(p: Path) -> pl.DataFrame:
    """Amazon metadata: 2014 (Python literals, ``asin``), 2018 (JSON, ``asin``), 2023 (JSON, ``parent_asin``).

    The layout is fixed by the first line: ``parent_asin`` there means 2023, where it is the item ID.
    """
    rows = _Rows(p, _JSON_COLUMNS)
    v2023: bool | None = None
    for no, obj in _json_objects(p, python_literals=True):
        if v2023 is None:
            v2023 = "parent_asin" in obj
        id_key, layout = ("parent_asin", _AMAZON_2023) if v2023 else ("asin", _AMAZON_OLD)
        item_id = _item_id(p, no, obj, id_key, layout)
        categories_key = "categories" if "categories" in obj else "category"
        brand_key = "store" if v2023 else "brand"
        values = (
            _opt_str(p, no, "title", obj.get("title")),
            _description(p, no, obj.get("description")),
            _str_list(p, no, categories_key, obj.get(categories_key)),
            _opt_str(p, no, brand_key, obj.get(brand_key)),
            _amazon_images(p, no, obj, v2023),
        )
        rows.add(no, item_id, values)
    return rows.frame()


def _read_yelp(p: Path) -> pl.DataFrame:
    """Yelp ``business.json``: ``name`` is the title, ``categories`` one comma-separated string or null."""
    rows = _Rows(p, (ItemColumns.TITLE, ItemColumns.CATEGORIES))
    for no, obj in _json_objects(p, python_literals=False):
        item_id = _item_id(p, no, obj, "business_id", _YELP)
        categories = obj.get("categories")
        if isinstance(categories, str):
            categories = _distinct(categories.split(","))
        values = (_opt_str(p, no, "name", obj.get("name")), _str_list(p, no, "categories", categories))
        rows.add(no, item_id, values)
    return rows.frame()


def _read_item_attributes(p: Path) -> pl.DataFrame:
    """``{"item": [attribute, ...], ...}``: the anonymous category and brand IDs of the S3-Rec / ICLRec Amazon
    sets. They become ``categories`` (a multi-valued categorical column); there is no title or text."""
    text = _read_text(p, "utf-8")

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise DataFormatError(f"{p}: item ID {key!r} appears twice; expected {_ATTRIBUTES}")
            seen[key] = value
        return seen

    try:
        obj = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{p}, line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}); "
                              f"expected {_ATTRIBUTES}") from None  # fmt: skip
    if not isinstance(obj, dict):
        raise DataFormatError(f"{p}: the file holds a JSON {type(obj).__name__}; expected {_ATTRIBUTES}")
    rows = _Rows(p, (ItemColumns.CATEGORIES,))
    for item_id, attributes in obj.items():
        if not isinstance(attributes, list) or not all(
            isinstance(a, (str, int)) and not isinstance(a, bool) for a in attributes
        ):
            raise DataFormatError(f"{p}: item {item_id!r} has attributes {attributes!r}; "
                                  "expected a list of attribute IDs (strings or integers)")  # fmt: skip
        rows.add(1, item_id, (_distinct([str(a) for a in attributes]),))
    return rows.frame()


_READERS = {
    "movielens-csv": _read_movielens_csv,
    "recbole": _read_recbole,
    "u.item": _read_u_item,
    "amazon": _read_amazon,
    "yelp": _read_yelp,
    "item-attributes": _read_item_attributes,
}
