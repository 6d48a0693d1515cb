"""Precomputed dense item vectors (image embeddings, text embeddings made elsewhere), keyed by item ID.

Three layouts are read, chosen by the file extension:

* ``.npy`` with a separate ID list (``ids=``: one ID per line, or a ``.json`` list), row i for ID i;
* Parquet: an ID column plus one list/array column, or plus numeric columns (one per dimension);
* CSV/TSV with a header: an ID column plus numeric columns.

IDs come back as strings, spelled as the interaction files spell them, so they can be looked up in the
same ID map. Every check is vectorised; only when one fails is the offending row located and reported as a
:class:`DataFormatError` naming the file, the row or line (1-based), the item ID and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from rnnrec.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

__all__ = ["npy_ids_path", "read_item_vectors"]

_EXTENSIONS = {".npy": "npy", ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
_POLARS_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, UnicodeError)

Where = Callable[[int], str]  # 0-based row index -> "row 3" / "line 4"


def npy_ids_path(path: str | Path) -> Path:
    """Where the item IDs of a ``.npy`` vector file live: ``<stem>.ids.txt`` beside it."""
    return Path(path).with_suffix(".ids.txt")


def read_item_vectors(
    path: str | Path,
    ids: str | Path | None = None,
    id_column: str = "item_id",
    vector_column: str | None = None,
) -> tuple[list[str], np.ndarray]:
    """Read item vectors: returns (IDs as strings, float32 array of shape (n, d)), row i for ``ids[i]``.

    ``ids`` is required for ``.npy`` and refused otherwise. ``id_column`` names the ID column of Parquet and
    CSV files. ``vector_column`` picks a Parquet list column; without it the only list column is used, or,
    when there is none, every numeric column except the ID, in file order.

    Raises :class:`DataFormatError` for a problem in a file and :class:`ConfigError` for options that do
    not fit the layout.
    """
    p = _check_file(path, "item vector file")
    kind = _EXTENSIONS.get(p.suffix.lower())
    if kind is None:
        raise DataFormatError(
            f"{p}: unknown extension {p.suffix!r}; expected one of {', '.join(sorted(_EXTENSIONS))} "
            "(.npy needs ids=, a file listing one item ID per row)"
        )
    if kind == "npy":
        if ids is None:
            raise ConfigError(f"{p}: a .npy file holds no IDs; pass ids= (a text file with one ID per line, or .json)")
        if vector_column is not None:
            raise ConfigError(f"{p}: vector_column= applies to Parquet files only")
        return _read_npy(p, _check_file(ids, "item ID list"))
    if ids is not None:
        raise ConfigError(f"{p}: ids= applies to .npy files only; this file has its own ID column {id_column!r}")
    if kind == "parquet":
        return _read_parquet(p, id_column, vector_column)
    if vector_column is not None:
        raise ConfigError(
            f"{p}: vector_column= applies to Parquet files only; in CSV every non-ID column is a dimension"
        )
    return _read_delimited(p, id_column, "\t" if kind == "tsv" else ",")


# ----------------------------------------------------------------------------------------------------------
# .npy + ID list


def _read_npy(p: Path, ids_path: Path) -> tuple[list[str], np.ndarray]:
    try:
        array = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFormatError(
            f"{p}: not a readable numeric .npy array ({_one_line(exc)}); expected a 2-D array saved with numpy.save"
        ) from exc
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        raise DataFormatError(f"{p}: holds an .npz archive; expected a single 2-D array saved with numpy.save")
    if array.ndim != 2:
        raise DataFormatError(f"{p}: array has shape {array.shape}; expected 2-D (one row per item)")
    if array.dtype.kind not in "iuf":
        raise DataFormatError(f"{p}: array has dtype {array.dtype}; expected numbers (float or integer)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataFormatError(f"{p}: array has shape {array.shape}; expected at least one row and one column")

    item_ids, where_id = _read_id_list(ids_path)
    if len(item_ids) != array.shape[0]:
        raise DataFormatError(
            f"{p}: {array.shape[0]} rows but {ids_path} lists {len(item_ids)} IDs; expected one ID per row"
        )
    _check_ids(ids_path, item_ids, where_id)
    vectors = _finite_float32(p, array, item_ids, lambda i: f"row {i + 1}", lambda j: f"column {j + 1}")
    return item_ids.to_list(), vectors


def _read_id_list(path: Path) -> tuple[pl.Series, Where]:
    """A .json list of IDs, or text with one ID per line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not valid UTF-8 text ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}: not valid JSON ({exc}); expected a list of item IDs") from exc
        if not isinstance(entries, list):
            raise DataFormatError(f"{path}: JSON holds a {type(entries).__name__}; expected a list of item IDs")
        kinds = {type(e) for e in entries}
        if not kinds <= {str, int}:
            k = next(k for k, e in enumerate(entries) if type(e) not in (str, int))
            raise DataFormatError(
                f"{path}: entry {k + 1}: {entries[k]!r} is not an item ID; expected a string or integer"
            )
        return pl.Series("item_id", [str(e) for e in entries], dtype=pl.String), lambda i: f"entry {i + 1}"
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return pl.Series("item_id", lines, dtype=pl.String).str.strip_suffix("\r"), lambda i: f"line {i + 1}"


# ----------------------------------------------------------------------------------------------------------
# Parquet


def _read_parquet(p: Path, id_column: str, vector_column: str | None) -> tuple[list[str], np.ndarray]:
    try:
        schema = dict(pl.read_parquet_schema(p))
    except _POLARS_ERRORS as exc:
        raise DataFormatError(f"{p}: not a readable parquet file ({_one_line(exc)})") from exc
    found = ", ".join(map(repr, schema))
    if id_column not in schema:
        raise DataFormatError(f"{p}: no ID column {id_column!r}; columns found: {found} (pass id_column=)")
    lists = [c for c, t in schema.items() if c != id_column and t.base_type() in (pl.List, pl.Array)]
    if vector_column is not None:
        if vector_column not in schema:
            raise DataFormatError(f"{p}: no vector column {vector_column!r}; columns found: {found}")
        if vector_column not in lists:
            raise DataFormatError(
                f"{p}: column {vector_column!r} has type {schema[vector_column]}; vector_column= must name a "
                "list column (leave it out to use every numeric column)"
            )
        lists = [vector_column]
    if len(lists) > 1:
        raise DataFormatError(f"{p}: several list columns ({', '.join(map(repr, lists))}); pass vector_column=")
    numeric = [c for c, t in schema.items() if c != id_column and t.is_numeric()]
    if not lists and not numeric:
        raise DataFormatError(
            f"{p}: no vector columns; expected one list column or numeric columns besides {id_column!r}; "
            f"columns found: {found}"
        )
    wanted = lists or numeric
    ignored = [c for c in schema if c != id_column and c not in wanted]
    if ignored:
        logger.info("%s: ignoring columns %s (not vector columns)", p, ignored)
    try:
        df = pl.read_parquet(p, columns=[id_column, *wanted])
    except _POLARS_ERRORS as exc:
        raise DataFormatError(f"{p}: not a readable parquet file ({_one_line(exc)})") from exc
    if df.height == 0:
        raise DataFormatError(f"{p}: parquet file has no rows; expected one row per item")

    def where(i: int) -> str:
        return f"row {i + 1}"

    item_ids = _ids_as_str(p, df[id_column])
    _check_ids(p, item_ids, where)
    if lists:
        matrix = _list_column(p, df[lists[0]], item_ids, where)
        column: Where = lambda j: f"value {j + 1} of column {lists[0]!r}"  # noqa: E731
    else:
        matrix = _numeric_columns(p, df.select(numeric), item_ids, where)
        column = lambda j: f"column {numeric[j]!r}"  # noqa: E731
    return item_ids.to_list(), _finite_float32(p, matrix, item_ids, where, column)


def _list_column(p: Path, s: pl.Series, item_ids: pl.Series, where: Where) -> np.ndarray:
    inner = s.dtype.inner  # type: ignore[attr-defined]
    if not inner.is_numeric():
        raise DataFormatError(f"{p}: column {s.name!r} has type {s.dtype}; expected lists of numbers")
    if s.dtype.base_type() == pl.Array:
        s = s.cast(pl.List(inner))
    missing = s.is_null()
    if missing.any():
        i = _first(missing)
        raise DataFormatError(f"{p}: {_at(where, i, item_ids)}: no vector (null) in column {s.name!r}")
    lengths = s.list.len()
    width = int(lengths[0])
    if width == 0:
        raise DataFormatError(f"{p}: {_at(where, 0, item_ids)}: empty vector in column {s.name!r}")
    unequal = lengths != width
    if unequal.any():
        i = _first(unequal)
        raise DataFormatError(
            f"{p}: {_at(where, i, item_ids)}: vector in column {s.name!r} has {lengths[i]} values, "
            f"expected {width} like {where(0)}"
        )
    flat = s.explode()
    holes = flat.is_null()
    if holes.any():
        k = _first(holes)
        raise DataFormatError(
            f"{p}: {_at(where, k // width, item_ids)}: value {k % width + 1} of column {s.name!r} is null; "
            "expected a number"
        )
    return flat.cast(pl.Float64).to_numpy().reshape(len(s), width)


# ----------------------------------------------------------------------------------------------------------
# CSV / TSV


def _read_delimited(p: Path, id_column: str, sep: str) -> tuple[list[str], np.ndarray]:
    header = _header(p, sep)
    if id_column not in header:
        raise DataFormatError(
            f"{p}: line 1: no ID column {id_column!r}; columns found: {', '.join(map(repr, header))} (pass id_column=)"
        )
    dims = [c for c in header if c != id_column]
    if not dims:
        raise DataFormatError(f"{p}: line 1: only the ID column {id_column!r}; expected numeric columns after it")
    try:
        df = pl.read_csv(p, separator=sep, infer_schema=False, encoding="utf8", raise_if_empty=False)
    except _POLARS_ERRORS as exc:
        _find_ragged_line(p, sep, len(header))
        raise DataFormatError(f"{p}: could not read as CSV ({_one_line(exc)})") from exc
    # Blank lines come back as all-null rows: drop them, but keep every row's line number for messages.
    blank = df.select(pl.all_horizontal(pl.all().is_null())).to_series()
    lines = np.flatnonzero(~blank.to_numpy()) + 2
    df = df.filter(~blank)
    if df.height == 0:
        raise DataFormatError(f"{p}: only a header line and no rows; expected one row per item")

    def where(i: int) -> str:
        return f"line {int(lines[i])}"

    item_ids = df[id_column]
    _check_ids(p, item_ids, where)
    cells = df.select(pl.col(dims).str.strip_chars())
    numbers = cells.select(pl.all().cast(pl.Float64, strict=False))
    for name in dims:  # a loop over columns, not rows
        bad = numbers[name].is_null()
        if bad.any():
            i = _first(bad)
            raw = cells[name][i]
            what = "empty value" if raw is None or raw == "" else f"{raw!r} is not a number"
            raise DataFormatError(f"{p}: {_at(where, i, item_ids)}: {what} in column {name!r}; expected a number")
    matrix = numbers.to_numpy()
    return item_ids.to_list(), _finite_float32(p, matrix, item_ids, where, lambda j: f"column {dims[j]!r}")


def _header(p: Path, sep: str) -> list[str]:
    with p.open(encoding="utf-8-sig", newline="") as fh:
        try:
            first = fh.readline()
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"{p}: line 1 is not valid UTF-8 ({exc})") from exc
    if not first.strip():
        raise DataFormatError(f"{p}: line 1 is empty; expected a header with the ID column and numeric columns")
    header = next(csv.reader(io.StringIO(first), delimiter=sep))
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataFormatError(f"{p}: line 1: column {name!r} appears twice in the header")
        seen.add(name)
    return header


def _find_ragged_line(p: Path, sep: str, width: int) -> None:
    """After polars failed: find the line whose field count differs from the header's, to report it."""
    with p.open(encoding="utf-8-sig", newline="", errors="replace") as fh:
        for line_no, row in enumerate(csv.reader(fh, delimiter=sep), start=1):
            if row and len(row) > width:
                raise DataFormatError(f"{p}: line {line_no} has {len(row)} fields; expected {width} like the header")


# ----------------------------------------------------------------------------------------------------------
# shared checks


def _check_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: file not found (expected an {what})")
    if not p.is_file():
        raise DataFormatError(f"{p}: not a regular file (expected an {what})")
    if p.stat().st_size == 0:
        raise DataFormatError(f"{p}: file is empty (0 bytes); expected an {what}")
    return p


def _ids_as_str(p: Path, s: pl.Series) -> pl.Series:
    """Spell IDs as the interaction readers do: integers as digits, whole floats (pandas ints with NaN) too."""
    if s.dtype == pl.String:
        return s
    if s.dtype.is_float():
        whole = s.drop_nulls()
        if whole.len() == 0 or bool((whole == whole.floor()).all()):
            return s.cast(pl.Int64).cast(pl.String)
        raise DataFormatError(f"{p}: ID column {s.name!r} holds fractional numbers; expected strings or integers")
    if s.dtype.is_nested():
        raise DataFormatError(f"{p}: ID column {s.name!r} has type {s.dtype}; expected strings or integers")
    return s.cast(pl.String)


def _check_ids(source: Path, item_ids: pl.Series, where: Where) -> None:
    """Every ID present, non-blank and unique: each row must map to exactly one item."""
    empty = item_ids.is_null() | (item_ids.str.strip_chars().str.len_bytes() == 0)
    if empty.any():
        raise DataFormatError(f"{source}: {where(_first(empty))}: empty item ID")
    repeated = ~item_ids.is_first_distinct()
    if repeated.any():
        i = _first(repeated)
        first = _first(item_ids == item_ids[i])
        raise DataFormatError(f"{source}: {where(i)}: item ID {item_ids[i]!r} appears twice (first at {where(first)})")


def _numeric_columns(p: Path, df: pl.DataFrame, item_ids: pl.Series, where: Where) -> np.ndarray:
    for name in df.columns:  # a loop over columns, not rows
        missing = df[name].is_null()
        if missing.any():
            i = _first(missing)
            raise DataFormatError(f"{p}: {_at(where, i, item_ids)}: empty value in column {name!r}; expected a number")
    return df.select(pl.all().cast(pl.Float64)).to_numpy()


def _finite_float32(p: Path, matrix: np.ndarray, item_ids: pl.Series, where: Where, column: Where) -> np.ndarray:
    """Reject NaN and infinity (they would poison every score they touch), also after rounding to float32."""

    def check(values: np.ndarray, problem: str) -> None:
        bad = ~np.isfinite(values)
        if bad.any():
            i, j = (int(k) for k in np.argwhere(bad)[0])
            raise DataFormatError(
                f"{p}: {_at(where, i, item_ids)}: {column(j)} {problem} {float(matrix[i, j])!r}; "
                "expected finite numbers"
            )

    check(matrix, "is")
    with np.errstate(over="ignore"):  # reported just below, with the row
        vectors = np.ascontiguousarray(matrix, dtype=np.float32)
    check(vectors, "is too large for float32:")
    return vectors


def _at(where: Where, i: int, item_ids: pl.Series) -> str:
    return f"{where(i)} (item ID {item_ids[i]!r})"


def _first(mask: pl.Series) -> int:
    return int(mask.arg_true()[0])


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg[:300] or type(exc).__name__
