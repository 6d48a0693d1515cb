"""Item display titles from the MovieLens metadata files, so recommendations can be shown by name.

Three layouts are recognised (by header, then file name): GroupLens ``movies.csv`` (ml-latest*, ml-20m...),
RecBole atomic ``.item`` files, and the original ml-100k ``u.item``. Files are small, so the csv module
is enough and avoids type inference on titles.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from pathlib import Path

from rnnrec.errors import DataFormatError

logger = logging.getLogger(__name__)

__all__ = ["read_item_titles"]


def read_item_titles(path: str | Path) -> dict[str, str]:
    """Map external item ID (as a string, like the interaction files) -> display title.

    Titles carry the release year, e.g. ``"Toy Story (1995)"``: ``movies.csv`` and ``u.item`` already
    include it; for RecBole files it is appended from ``release_year`` when present.

    Raises:
        DataFormatError: the file matches none of the known layouts, or a row is malformed.
    """
    path = Path(path)
    with path.open("rb") as fh:
        first = fh.readline()
    if not first.strip():
        raise DataFormatError(f"{path}: file is empty, expected an item metadata file")
    head = first.removeprefix(codecs.BOM_UTF8).decode("latin-1").rstrip("\r\n")
    name = path.name.lower()

    if "\t" in head and any(f.split(":", 1)[0] == "item_id" and ":" in f for f in head.split("\t")):
        titles = _read_recbole(path)
    elif head.split(",", 1)[0] == "movieId" or name.endswith(".csv"):
        titles = _read_movielens_csv(path)
    elif name == "u.item" or (head.count("|") >= 2 and head.split("|", 1)[0].strip().isdigit()):
        titles = _read_u_item(path)
    else:
        raise DataFormatError(
            f"{path}: unknown item metadata layout (first line {head[:80]!r}); expected MovieLens movies.csv "
            "(movieId,title,genres), a RecBole .item file (header with item_id:token) or GroupLens u.item "
            "(id|title|release date|...)"
        )
    logger.debug("read %d item titles from %s", len(titles), path)
    return titles


def _read_text(path: Path, encoding: str) -> str:
    try:
        with path.open(encoding=encoding, newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not valid {encoding} text ({exc})") from exc


def _lines(text: str) -> list[str]:
    """Split on \\n only: str.splitlines would also break on characters such as U+0085 inside titles."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _add(titles: dict[str, str], path: Path, line_no: int, item_id: str, title: str) -> None:
    item_id = item_id.strip()
    if not item_id:
        raise DataFormatError(f"{path}, line {line_no}: empty item ID")
    if item_id in titles:
        raise DataFormatError(f"{path}, line {line_no}: item ID {item_id!r} appears twice")
    titles[item_id] = title.strip()


def _read_movielens_csv(path: Path) -> dict[str, str]:
    """GroupLens ``movies.csv``: UTF-8, quoted titles may contain commas."""
    text = _read_text(path, "utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if "movieId" not in header or "title" not in header:
        raise DataFormatError(f"{path}: expected a header with movieId and title columns, got {header}")
    id_col, title_col = header.index("movieId"), header.index("title")
    titles: dict[str, str] = {}
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataFormatError(f"{path}, line {line_no}: expected {len(header)} fields, got {len(row)}: {row}")
        _add(titles, path, line_no, row[id_col], row[title_col])
    return titles


def _read_recbole(path: Path) -> dict[str, str]:
    """RecBole atomic file: tab-separated, header ``name:type``; title = ``movie_title`` (+ `` (year)``)."""
    lines = _lines(_read_text(path, "utf-8-sig"))
    names = [f.split(":", 1)[0] for f in lines[0].split("\t")]
    title_name = next((n for n in ("movie_title", "title", "item_title", "name") if n in names), None)
    if title_name is None:
        raise DataFormatError(f"{path}: RecBole item file has no movie_title/title column (columns: {names})")
    id_col, title_col = names.index("item_id"), names.index(title_name)
    year_col = names.index("release_year") if "release_year" in names else None
    titles: dict[str, str] = {}
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(names):
            raise DataFormatError(
                f"{path}, line {line_no}: expected {len(names)} tab-separated fields, got {len(fields)}"
            )
        title = fields[title_col].strip()
        year = fields[year_col].strip() if year_col is not None else ""
        _add(titles, path, line_no, fields[id_col], f"{title} ({year})" if year else title)
    return titles


def _read_u_item(path: Path) -> dict[str, str]:
    """GroupLens ml-100k ``u.item``: latin-1, ``id|title|release date|video date|url|19 genre flags``."""
    titles: dict[str, str] = {}
    for line_no, line in enumerate(_lines(_read_text(path, "latin-1")), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 3:
            raise DataFormatError(
                f"{path}, line {line_no}: expected pipe-separated id|title|release date|..., got {line[:80]!r}"
            )
        _add(titles, path, line_no, fields[0], fields[1])
    return titles
