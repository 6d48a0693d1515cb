"""Readers for interaction logs in the common public layouts, all returning the canonical frame.

Why one module: every layout ends up as the same frame (see :class:`Columns`), and every problem a user
can hit (wrong delimiter, bad timestamp, truncated line, broken JSON) must come back as a
:class:`DataFormatError` naming the file and the line, never as a polars or json traceback.

The fast path is columnar: polars reads the whole file as strings and all checks are vectorised. Only when
a check fails does a slow line-by-line scan run, to find the line (1-based, header included) to report.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from rnnrec.data.columns import Columns
from rnnrec.errors import ConfigError, DataFormatError

__all__ = ["FORMATS", "detect_format", "read_interactions"]

FORMATS: tuple[str, ...] = (
    "csv",
    "parquet",
    "ml-100k",
    "recbole",
    "ml-1m",
    "ml-latest",
    "gru4rec",
    "sasrec",
    "s3rec",
    "amazon",
    "yelp",
)

# Header names recognised without a mapping (compared case-insensitively), in order of preference.
_RECOGNISED: dict[str, tuple[str, ...]] = {
    Columns.USER: ("user_id", "userid", "user", "session_id", "sessionid"),
    Columns.ITEM: ("item_id", "itemid", "item", "movieid"),
    Columns.TIME: ("timestamp", "time", "ts"),
}
_CANONICAL = (Columns.USER, Columns.ITEM, Columns.TIME)
_SNIFF_SEPS = ("\t", ",", ";", "|")
_SEP_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", "::": "'::'", " ": "space"}
# ISO-8601 variants tried in order; the first that parses the first value is used for the whole column.
_ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_HEAD_BYTES = 1 << 18
_LINE_SEP = "\x1f"  # ASCII unit separator: never in text logs, so polars reads whole lines as one field


# ----------------------------------------------------------------------------------------------------------
# public API


def read_interactions(
    path: str | Path,
    format: str = "auto",
    columns: dict[str, str] | None = None,
    sep: str | None = None,
    time_format: str | None = None,
) -> pl.DataFrame:
    """Read an interaction log into the canonical frame, rows in file order (never sorted).

    ``format`` is one of :data:`FORMATS` or ``"auto"`` (see :func:`detect_format`). ``columns`` maps canonical
    names (``user_id``, ``item_id``, optional ``timestamp``) to source columns; it applies to ``csv``,
    ``parquet`` and ``recbole`` (with ``format="auto"`` it selects one of those). ``sep`` applies to ``csv``
    (default: sniffed from the header). ``time_format`` is a strftime pattern for date strings (``csv``,
    ``parquet``, ``yelp``); without it date strings must be ISO-8601. Times become float seconds (UTC).

    Raises :class:`DataFormatError` naming the file and the line or column for every problem in the file,
    and :class:`ConfigError` for an unknown format or an option the format does not take.
    """
    p = _check_path(path)
    if columns is not None:
        columns = _check_mapping(columns)
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; expected 'auto' or one of: {', '.join(FORMATS)}")
    fmt = format
    try:
        if fmt == "auto":
            fmt = _detect_with_options(p, columns, sep)
        _check_options(fmt, columns, sep, time_format)
        return _READERS[fmt](p, columns=columns, sep=sep, time_format=time_format)
    except (DataFormatError, ConfigError):
        raise
    except _READ_ERRORS as exc:
        what = "detect the format" if fmt == "auto" else f"read as {fmt}"
        raise DataFormatError(f"{p}: could not {what}: {_one_line(exc)}") from exc


def detect_format(path: str | Path) -> str:
    """Guess the layout from the file name and first lines, so users rarely need ``format=``.

    Rules, in order: ``.parquet`` (or parquet magic bytes) -> parquet; ``.inter`` -> recbole; ``u.data``
    (and ``u1.base`` ...) -> ml-100k; ``ratings.dat`` or ``::`` in the first line -> ml-1m; JSON lines with
    ``reviewerID``/``asin`` or ``user_id``+``parent_asin`` -> amazon, with ``business_id``+``date`` -> yelp;
    header ``userId,movieId,rating,timestamp`` -> ml-latest; tab header with ``SessionId ItemId Time`` ->
    gru4rec; tab header of ``name:type`` fields -> recbole; headerless lines of 4 tab-separated numbers ->
    ml-100k; lines of 2 integer tokens -> sasrec; lines of >= 2 space-separated tokens (some >= 3) -> s3rec;
    a header with recognisable user/item columns -> csv. Otherwise raises :class:`DataFormatError`.
    """
    p = _check_path(path)
    try:
        return _detect(p)
    except DataFormatError:
        raise
    except _READ_ERRORS as exc:
        raise DataFormatError(f"{p}: could not read the first lines: {_one_line(exc)}") from exc


def _detect(p: Path) -> str:
    name = p.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    if base.endswith(".parquet") or _magic(p, 4) == b"PAR1":
        return "parquet"
    if base.endswith(".inter"):
        return "recbole"
    if base == "u.data" or re.fullmatch(r"u[1-5ab]\.(base|test)", base):
        return "ml-100k"
    if base == "ratings.dat":
        return "ml-1m"
    lines = _head_lines(p)
    if not lines:
        raise DataFormatError(f"{p}: file is empty (no lines with content)")
    first = lines[0]
    if first.lstrip().startswith("{"):
        return _detect_json(p, first)
    if "::" in first:
        return "ml-1m"
    comma = [f.strip().strip('"') for f in first.split(",")]
    if comma[:4] == ["userId", "movieId", "rating", "timestamp"]:
        return "ml-latest"
    tab = [f.strip() for f in first.split("\t")]
    if {"SessionId", "ItemId", "Time"} <= set(tab):
        return "gru4rec"
    if len(tab) > 1 and all(re.fullmatch(r"[^:\s]+:\w+", f) for f in tab):
        return "recbole"
    if all(len(ln.split("\t")) == 4 and all(_is_number(t) for t in ln.split("\t")) for ln in lines):
        return "ml-100k"
    if not any(c in ln for ln in lines for c in ",;|\t"):
        tokens = [ln.split() for ln in lines]
        if all(len(t) == 2 and all(_is_int(x) for x in t) for t in tokens):
            return "sasrec"
        header_like = any(x.lower() in _ALL_RECOGNISED for x in tokens[0])
        if not header_like and all(len(t) >= 2 for t in tokens) and max(len(t) for t in tokens) >= 3:
            return "s3rec"
    csv_sep = _sniff_sep(first)
    if csv_sep is not None:
        found = _split_header(first, csv_sep, '"')
        auto = _auto_mapping(found)
        if Columns.USER in auto and Columns.ITEM in auto:
            return "csv"
    raise DataFormatError(
        f"{p}: cannot tell the format from the file name or line 1 ({first[:80]!r}); "
        f"pass format= one of: {', '.join(FORMATS)} (and columns= for a csv with other column names)"
    )


# ----------------------------------------------------------------------------------------------------------
# argument checks and detection helpers

# What polars, gzip, csv and json raise on bad input; always re-raised as DataFormatError.
_READ_ERRORS = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    OSError,
    ValueError,
    EOFError,
    UnicodeError,
    csv.Error,
    zlib.error,
)
_ALL_RECOGNISED = frozenset(n for names in _RECOGNISED.values() for n in names)
_COLUMN_FORMATS = ("csv", "parquet", "recbole")
_TIME_FORMAT_FORMATS = ("csv", "parquet", "yelp")


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: file not found")
    if not p.is_file():
        raise DataFormatError(f"{p}: not a regular file (expected an interaction log)")
    if p.stat().st_size == 0:
        raise DataFormatError(f"{p}: file is empty (0 bytes)")
    return p


def _check_mapping(columns: Mapping[str, str]) -> dict[str, str]:
    unknown = [k for k in columns if k not in _CANONICAL]
    if unknown:
        raise ConfigError(f"columns= has unknown key(s) {unknown}; keys must be among {list(_CANONICAL)}")
    missing = [k for k in (Columns.USER, Columns.ITEM) if k not in columns]
    if missing:
        raise ConfigError(f"columns= must map {missing} to a source column (got {dict(columns)})")
    return {k: str(v) for k, v in columns.items()}


def _check_options(fmt: str, columns: dict[str, str] | None, sep: str | None, time_format: str | None) -> None:
    if columns is not None and fmt not in _COLUMN_FORMATS:
        raise ConfigError(f"columns= applies to formats {_COLUMN_FORMATS}, not to {fmt!r} (its columns are fixed)")
    if sep is not None and fmt != "csv":
        raise ConfigError(f"sep= applies to format 'csv' only, not to {fmt!r} (its delimiter is fixed)")
    if sep is not None and len(sep) != 1:
        raise ConfigError(f"sep= must be a single character, got {sep!r}")
    if time_format is not None and fmt not in _TIME_FORMAT_FORMATS:
        raise ConfigError(f"time_format= applies to formats {_TIME_FORMAT_FORMATS}, not to {fmt!r}")


def _detect_with_options(p: Path, columns: dict[str, str] | None, sep: str | None) -> str:
    """With a column mapping or a delimiter the user means a generic table: only pick which kind."""
    if columns is None and sep is None:
        return _detect(p)
    name = p.name.lower()
    if name.endswith(".parquet") or _magic(p, 4) == b"PAR1":
        return "parquet"
    if name.removesuffix(".gz").endswith(".inter") and sep is None:
        return "recbole"
    return "csv"


def _detect_json(p: Path, first: str) -> str:
    try:
        obj = json.loads(first)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{p}: line 1: invalid JSON ({exc.msg} at column {exc.colno})") from None
    keys = set(obj) if isinstance(obj, dict) else set()
    if {"reviewerID", "asin"} <= keys or {"user_id", "parent_asin"} <= keys:
        return "amazon"
    if {"user_id", "business_id", "date"} <= keys:
        return "yelp"
    raise DataFormatError(
        f"{p}: line 1 is a JSON object with keys {sorted(keys)}; expected Amazon reviews "
        "(reviewerID, asin, unixReviewTime or user_id, parent_asin, timestamp) or Yelp reviews "
        f"(user_id, business_id, date); pass format= one of: {', '.join(FORMATS)}"
    )


def _magic(p: Path, n: int) -> bytes:
    with open(p, "rb") as fh:
        return fh.read(n)


def _open_binary(p: Path):
    return gzip.open(p, "rb") if _magic(p, 2) == b"\x1f\x8b" else open(p, "rb")


def _head_lines(p: Path, max_lines: int = 20) -> list[str]:
    """The first non-blank lines (decoded leniently): enough to recognise a layout, cheap on huge files."""
    with _open_binary(p) as fh:
        data = fh.read(_HEAD_BYTES)
        truncated = bool(fh.read(1))
    lines = data.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
    if truncated and len(lines) > 1:
        lines = lines[:-1]
    return [ln for ln in lines if ln.strip()][:max_lines]


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _is_int(tok: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", tok) is not None


def _sniff_sep(header: str) -> str | None:
    counts = {s: header.count(s) for s in _SNIFF_SEPS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] > 0 else None


def _split_header(line: str, sep: str, quote: str | None) -> list[str]:
    if quote is None:
        fields = line.split(sep)
    else:
        fields = next(csv.reader([line], delimiter=sep, quotechar=quote), [""])
    return [f.strip() for f in fields]


def _auto_mapping(found: list[str]) -> dict[str, str]:
    lowered = {f.lower(): f for f in reversed(found)}  # first occurrence wins
    out: dict[str, str] = {}
    for canon, names in _RECOGNISED.items():
        for n in names:
            if n in lowered:
                out[canon] = lowered[n]
                break
    return out


def _missing_columns(mapping: Mapping[str, str], found: list[str]) -> list[str]:
    """Mapped source columns absent from the file, and required canonical columns left unmapped."""
    missing = [f"{canon} -> {src!r}" for canon, src in mapping.items() if src not in found]
    return missing + [canon for canon in (Columns.USER, Columns.ITEM) if canon not in mapping]


def _sep_name(sep: str) -> str:
    return f"{sep!r} ({_SEP_NAMES[sep]})" if sep in _SEP_NAMES else repr(sep)


def _delimiter_hint(text: str, sep: str) -> str:
    """'; is the delimiter ','?' when a line split on ``sep`` gave one field but another delimiter is there."""
    for cand in ("\t", ",", ";", "|", "::", " "):
        if cand != sep and cand in text.strip():
            return f"; is the delimiter {_sep_name(cand)}?"
    return ""


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg[:300] or type(exc).__name__


# ----------------------------------------------------------------------------------------------------------
# slow scans, only on the error path


def _iter_lines(p: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without end of line); a line that is not UTF-8 is itself an error."""
    with _open_binary(p) as fh:
        for no, raw in enumerate(fh, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(
                    f"{p}: line {no}: not valid UTF-8 ({exc.reason} at byte {exc.start}); expected UTF-8 text"
                ) from None
            if no == 1:
                text = text.lstrip("\ufeff")
            yield no, text.rstrip("\r\n")


def _iter_records(p: Path, sep: str, quote: str | None) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, fields), splitting exactly as polars does (blank line = one record)."""
    if quote is None:
        for no, text in _iter_lines(p):
            yield no, text.split(sep)
        return
    current = [0]

    def feed() -> Iterator[str]:
        for no, text in _iter_lines(p):
            current[0] = no
            yield text

    reader = csv.reader(feed(), delimiter=sep, quotechar=quote, strict=True)
    start = 1
    try:
        for fields in reader:
            yield start, fields
            start = current[0] + 1
    except csv.Error as exc:
        raise DataFormatError(f"{p}: line {start}: {exc} (unbalanced quote {quote!r}?)") from None


# ----------------------------------------------------------------------------------------------------------
# timestamps


def _to_seconds(raw: pl.Series, mode: str, time_format: str | None) -> tuple[pl.Series, str]:
    """Parse a string column to float epoch seconds; nulls mark values that did not parse.

    ``mode`` is "numeric" (seconds), "dates" (strings) or "auto" (numeric if the first value is a number).
    Also returns what was expected, for error messages.
    """
    if mode == "auto":
        if time_format is not None:
            mode = "dates"
        else:
            first = _first_nonempty(raw)
            mode = "numeric" if first is None or _is_number(first) else "dates"
    if mode == "numeric":
        out = raw.cast(pl.Float64, strict=False)
        if out.null_count() > 0:
            out = raw.str.strip_chars().cast(pl.Float64, strict=False)
        out = pl.select(pl.when(out.is_finite()).then(out)).to_series()
        return out, "a number of seconds since the Unix epoch"
    if time_format is not None:
        parsed = raw.str.to_datetime(time_format, strict=False, time_unit="us", time_zone="UTC")
        expected = f"a date in time_format {time_format!r}"
    else:
        expected = "an ISO-8601 date such as '2020-01-31' or '2020-01-31T12:00:00Z' (or pass time_format=)"
        first = _first_nonempty(raw)
        order = list(_ISO_FORMATS)
        if first is not None:
            probe = pl.Series([first])
            for fmt in _ISO_FORMATS:
                if probe.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")[0] is not None:
                    order.remove(fmt)
                    order.insert(0, fmt)
                    break
        parsed = raw.str.to_datetime(order[0], strict=False, time_unit="us", time_zone="UTC")
        if parsed.null_count() > 0:  # mixed ISO variants: slower, but only for such files
            parsed = pl.select(
                pl.coalesce(
                    [raw.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in order]
                )
            ).to_series()
    return parsed.dt.epoch("us").cast(pl.Float64) / 1e6, expected


def _first_nonempty(raw: pl.Series) -> str | None:
    for chunk in (raw.head(1000), raw):  # the head almost always has one: avoid a pass over the column
        nonempty = chunk.filter(chunk.str.strip_chars().str.len_bytes() > 0)
        if len(nonempty):
            return nonempty[0].strip()
    return None


def _empty(s: pl.Series) -> pl.Series:
    return s.is_null() | (s.str.len_bytes() == 0)


def _bad_time(ts: pl.Series) -> pl.Series:
    return ts.is_null()  # _to_seconds already turned NaN/inf into nulls


# ----------------------------------------------------------------------------------------------------------
# delimited text layouts (csv, ml-latest, gru4rec, recbole, ml-100k, ml-1m)


@dataclass
class _Delimited:
    """How one delimited layout is read; ``names`` is None when the file has a header."""

    fmt: str
    sep: str  # the delimiter as written in the file ("::" for ml-1m)
    quote: str | None
    names: tuple[str, ...] | None
    mapping: dict[str, str]  # canonical -> source column; may be filled from the header
    time_mode: str = "numeric"
    clean: str | None = None  # regex whose first match is stripped from header names (recbole ':type')
    description: str = ""
    header: list[str] = field(default_factory=list)

    @property
    def has_header(self) -> bool:
        return self.names is None


def _read_delimited(p: Path, spec: _Delimited, time_format: str | None) -> pl.DataFrame:
    if spec.has_header:
        _read_header(p, spec)
        fields = spec.header
    else:
        fields = list(spec.names or ())
    pos = {canon: fields.index(src) for canon, src in spec.mapping.items()}
    multi = len(spec.sep) > 1  # '::': polars splits on ':' and every other field must be empty
    n_physical = 2 * len(fields) - 1 if multi else len(fields)
    phys = {canon: (2 * i if multi else i) for canon, i in pos.items()}
    schema = {f"_c{i}": pl.String for i in range(n_physical)}
    try:
        df = pl.read_csv(
            p,
            has_header=False,
            skip_rows=1 if spec.has_header else 0,
            separator=spec.sep[0] if multi else spec.sep,
            quote_char=spec.quote,
            schema=schema,
            empty_string_is_null=False,
            raise_if_empty=False,
            truncate_ragged_lines=False,
            missing_columns="insert",  # a short first line must not fix the column count
            encoding="utf8",
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        _scan_delimited(p, spec, len(fields))
        raise DataFormatError(f"{p}: could not read as {spec.fmt}: {_one_line(exc)}") from exc

    user = df[f"_c{phys[Columns.USER]}"]
    item = df[f"_c{phys[Columns.ITEM]}"]
    bad = _empty(user) | _empty(item)
    if multi:
        for i in range(1, n_physical, 2):
            bad = bad | (df[f"_c{i}"].str.len_bytes() > 0)
    ts = expected = None
    if Columns.TIME in phys:
        ts, expected = _to_seconds(df[f"_c{phys[Columns.TIME]}"], spec.time_mode, time_format)
        bad = bad | _bad_time(ts)
    if bad.any():
        blank = df.select(pl.all_horizontal(pl.all().str.len_bytes() == 0)).to_series()
        real = bad & ~blank
        if real.any():
            _diagnose_delimited_row(p, spec, fields, int(real.arg_true()[0]), expected)
        keep = ~blank
        user, item = user.filter(keep), item.filter(keep)
        ts = ts.filter(keep) if ts is not None else None
    if user.len() == 0:
        what = "only a header line and no interactions" if spec.has_header else "no interactions"
        raise DataFormatError(f"{p}: file has {what} (expected {spec.description})")
    return _frame(user, item, ts)


def _read_header(p: Path, spec: _Delimited) -> None:
    """Read line 1, check the delimiter and the mapped columns before the (much larger) body is read."""
    first = next(iter(_head_lines_raw(p)), None)
    if first is None or not first.strip():
        raise DataFormatError(f"{p}: line 1 is empty; expected a header line ({spec.description})")
    header = _split_header(first, spec.sep, spec.quote)
    if spec.clean:
        header = [re.sub(spec.clean, "", h) for h in header]
    spec.header = header
    needed = len(spec.mapping) if spec.mapping else 2
    if len(header) == 1 and needed > 1:
        raise DataFormatError(
            f"{p}: line 1: expected {_SEP_NAMES.get(spec.sep, repr(spec.sep))}-separated columns "
            f"({spec.description}) but found a single column {header[0]!r}{_delimiter_hint(first, spec.sep)}"
        )
    mapping = spec.mapping or _auto_mapping(header)
    missing = _missing_columns(mapping, header)
    if missing:
        raise DataFormatError(
            f"{p}: line 1 (header): missing required column(s) {missing}; columns found: {header}; "
            f"mapping used: {mapping or '(none recognised)'}; recognised names without columns=: "
            f"user {list(_RECOGNISED[Columns.USER])}, item {list(_RECOGNISED[Columns.ITEM])}, "
            f"timestamp {list(_RECOGNISED[Columns.TIME])}"
        )
    spec.mapping = dict(mapping)


def _head_lines_raw(p: Path) -> Iterator[str]:
    with _open_binary(p) as fh:
        raw = fh.readline()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{p}: line 1: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    yield text.lstrip("\ufeff").rstrip("\r\n")


def _field_count_error(p: Path, no: int, text: str, n: int, spec: _Delimited, n_expected: int) -> DataFormatError:
    columns = spec.header if spec.has_header else list(spec.names or ())
    msg = (
        f"{p}: line {no}: found {n} field(s), expected {n_expected} "
        f"{_SEP_NAMES.get(spec.sep, repr(spec.sep))}-separated fields ({', '.join(columns)})"
    )
    if n == n_expected and len(spec.sep) > 1:
        msg = (
            f"{p}: line {no}: a field contains a single {spec.sep[0]!r}; expected {n_expected} fields "
            f"separated by {spec.sep!r} ({', '.join(columns)})"
        )
    elif n == 1:
        msg += _delimiter_hint(text, spec.sep)
    return DataFormatError(msg)


def _scan_delimited(p: Path, spec: _Delimited, n_fields: int) -> None:
    """After polars failed: find the first record with the wrong number of fields, and raise about it."""
    start = 1 if spec.has_header else 0
    for idx, (no, fields) in enumerate(_iter_records(p, spec.sep, spec.quote)):
        if idx < start or fields in ([], [""]):
            continue
        if len(fields) != n_fields or (len(spec.sep) > 1 and any(spec.sep[0] in f for f in fields)):
            raise _field_count_error(p, no, spec.sep.join(fields), len(fields), spec, n_fields)


def _diagnose_delimited_row(
    p: Path, spec: _Delimited, fields: list[str], row: int, expected: str | None
) -> None:
    """Raise about data row ``row`` (0-based, as polars counted it), naming its line and the problem."""
    skip = 1 if spec.has_header else 0
    for idx, (no, values) in enumerate(_iter_records(p, spec.sep, spec.quote)):
        if idx != row + skip:
            continue
        text = spec.sep.join(values)
        if len(values) != len(fields) or (len(spec.sep) > 1 and any(spec.sep[0] in v for v in values)):
            raise _field_count_error(p, no, text, len(values), spec, len(fields))
        for canon in (Columns.USER, Columns.ITEM):
            src = spec.mapping[canon]
            if not values[fields.index(src)]:
                raise DataFormatError(f"{p}: line {no}: empty {canon} (column {src!r}); expected an ID")
        src = spec.mapping.get(Columns.TIME)
        if src is not None:
            value = values[fields.index(src)]
            raise DataFormatError(
                f"{p}: line {no}: cannot parse timestamp {value!r} in column {src!r}; expected {expected}"
            )
        break
    raise DataFormatError(f"{p}: data row {row + 1} is malformed (expected {spec.description})")


def _read_csv(p: Path, *, columns: dict[str, str] | None, sep: str | None, time_format: str | None,
              **_: object) -> pl.DataFrame:  # fmt: skip
    if sep is None:
        first = next(iter(_head_lines_raw(p)), "")
        sep = _sniff_sep(first) or ","
    spec = _Delimited(
        "csv", sep, '"', None, dict(columns or {}), time_mode="auto",
        description="a CSV/TSV with a header row; pass columns={'user_id': ..., 'item_id': ..., 'timestamp': ...}",
    )  # fmt: skip
    return _read_delimited(p, spec, time_format)


def _read_recbole(p: Path, *, columns: dict[str, str] | None, **_: object) -> pl.DataFrame:
    spec = _Delimited(
        "recbole", "\t", None, None, dict(columns or {}), clean=r":[^:]*$",
        description="RecBole atomic file: tab-separated header 'user_id:token<TAB>item_id:token<TAB>...'",
    )  # fmt: skip
    return _read_delimited(p, spec, None)


def _read_ml_latest(p: Path, **_: object) -> pl.DataFrame:
    spec = _Delimited(
        "ml-latest", ",", '"', None, {Columns.USER: "userId", Columns.ITEM: "movieId", Columns.TIME: "timestamp"},
        description="MovieLens ratings.csv with header userId,movieId,rating,timestamp",
    )  # fmt: skip
    return _read_delimited(p, spec, None)


def _read_gru4rec(p: Path, **_: object) -> pl.DataFrame:
    spec = _Delimited(
        "gru4rec", "\t", None, None, {Columns.USER: "SessionId", Columns.ITEM: "ItemId", Columns.TIME: "Time"},
        description="GRU4Rec session file with tab-separated header SessionId, ItemId, Time",
    )  # fmt: skip
    return _read_delimited(p, spec, None)


_ML_NAMES = ("user", "item", "rating", "timestamp")
_ML_MAPPING = {Columns.USER: "user", Columns.ITEM: "item", Columns.TIME: "timestamp"}


def _read_ml_100k(p: Path, **_: object) -> pl.DataFrame:
    spec = _Delimited(
        "ml-100k", "\t", None, _ML_NAMES, dict(_ML_MAPPING),
        description="MovieLens 100K u.data: user<TAB>item<TAB>rating<TAB>timestamp, no header",
    )  # fmt: skip
    return _read_delimited(p, spec, None)


def _read_ml_1m(p: Path, **_: object) -> pl.DataFrame:
    spec = _Delimited(
        "ml-1m", "::", None, _ML_NAMES, dict(_ML_MAPPING),
        description="MovieLens 1M/10M ratings.dat: UserID::MovieID::Rating::Timestamp, no header",
    )  # fmt: skip
    return _read_delimited(p, spec, None)


# ----------------------------------------------------------------------------------------------------------
# whole-line layouts (sasrec, s3rec)


def _read_tokens(p: Path, fmt: str) -> tuple[pl.Series, pl.Series]:
    """Each line's whitespace-separated tokens (vectorised) and a mask of blank lines."""
    try:
        df = pl.read_csv(
            p,
            has_header=False,
            separator=_LINE_SEP,
            quote_char=None,
            schema={"line": pl.String},
            empty_string_is_null=False,
            raise_if_empty=False,
            encoding="utf8",
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        for no, text in _iter_lines(p):
            if _LINE_SEP in text:
                raise DataFormatError(f"{p}: line {no}: contains the control character \\x1f") from exc
        raise DataFormatError(f"{p}: could not read as {fmt}: {_one_line(exc)}") from exc
    tokens = df["line"].str.extract_all(r"\S+")
    counts = tokens.list.len()
    return tokens, counts == 0


def _read_sasrec(p: Path, **_: object) -> pl.DataFrame:
    tokens, blank = _read_tokens(p, "sasrec")
    bad = (tokens.list.len() != 2) & ~blank
    if bad.any():
        row = int(bad.arg_true()[0])
        raise DataFormatError(
            f"{p}: line {row + 1}: found {len(tokens[row])} field(s) {tokens[row].to_list()[:5]}; "
            "expected 2 space-separated fields 'user item' (sasrec layout)"
        )
    tokens = tokens.filter(~blank)
    if tokens.len() == 0:
        raise DataFormatError(f"{p}: file has no interactions (expected lines 'user item')")
    return _frame(tokens.list.get(0), tokens.list.get(1), None)


def _read_s3rec(p: Path, **_: object) -> pl.DataFrame:
    tokens, blank = _read_tokens(p, "s3rec")
    bad = (tokens.list.len() < 2) & ~blank
    if bad.any():
        row = int(bad.arg_true()[0])
        raise DataFormatError(
            f"{p}: line {row + 1}: found only the user ID {tokens[row].to_list()}; "
            "expected 'user item_1 item_2 ...' (s3rec layout, space-separated)"
        )
    frame = (
        pl.DataFrame({"t": tokens.filter(~blank)})
        .select(pl.col("t").list.first().alias(Columns.USER), pl.col("t").list.slice(1).alias(Columns.ITEM))
        .explode(Columns.ITEM)
    )
    if frame.height == 0:
        raise DataFormatError(f"{p}: file has no interactions (expected lines 'user item_1 item_2 ...')")
    return frame


# ----------------------------------------------------------------------------------------------------------
# JSON lines (amazon, yelp)


def _first_json(p: Path) -> tuple[int, dict]:
    for no, text in _iter_lines(p):
        if not text.strip():
            continue
        obj = _parse_json_line(p, no, text)
        return no, obj
    raise DataFormatError(f"{p}: file is empty (no JSON lines)")


def _parse_json_line(p: Path, no: int, text: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{p}: line {no}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{p}: line {no}: expected a JSON object, found {type(obj).__name__}")
    return obj


def _read_json_lines(p: Path, fmt: str, keys: tuple[str, str, str], time_mode: str, scale: float,
                     time_format: str | None, layout: str) -> pl.DataFrame:  # fmt: skip
    """Columnar NDJSON read of three fields; a slow json scan runs only to name a bad line."""
    ukey, ikey, tkey = keys
    schema = {ukey: pl.String, ikey: pl.String, tkey: pl.Float64 if time_mode == "numeric" else pl.String}
    try:
        df = pl.read_ndjson(p, schema=schema)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        _scan_json(p, keys, time_mode, layout)
        raise DataFormatError(f"{p}: could not read as {fmt}: {_one_line(exc)}") from exc
    if df.height == 0:
        raise DataFormatError(f"{p}: file has no JSON lines (expected {layout})")
    user, item = df[ukey], df[ikey]
    if time_mode == "numeric":
        raw_t = df[tkey]
        ts = pl.select(pl.when(raw_t.is_finite()).then(raw_t)).to_series() * scale
        expected = "a number (Unix time)"
    else:
        ts, expected = _to_seconds(df[tkey], "dates", time_format)
    bad = _empty(user) | _empty(item) | _bad_time(ts)
    if bad.any():
        _diagnose_json_row(p, int(bad.arg_true()[0]), keys, expected, layout)
    return _frame(user, item, ts)


def _scan_json(p: Path, keys: tuple[str, str, str], time_mode: str, layout: str) -> None:
    """After polars failed: name the first invalid JSON line or the first field of the wrong type."""
    for no, text in _iter_lines(p):
        if not text.strip():
            continue
        obj = _parse_json_line(p, no, text)
        for i, key in enumerate(keys):
            value = obj.get(key)
            if value is None:
                continue  # reported by the row check if polars gets that far
            numeric = i == 2 and time_mode == "numeric"
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if numeric else (
                isinstance(value, (str, int)) and not isinstance(value, bool)
            )  # fmt: skip
            if not ok:
                want = "a number" if numeric else "a string or integer"
                raise DataFormatError(f"{p}: line {no}: field {key!r} is {value!r}; expected {want} ({layout})")


def _diagnose_json_row(p: Path, row: int, keys: tuple[str, str, str], expected: str, layout: str) -> None:
    idx = -1
    for no, text in _iter_lines(p):
        if not text.strip():
            continue  # polars skips blank lines, so they are not rows
        idx += 1
        if idx != row:
            continue
        obj = _parse_json_line(p, no, text)
        for i, key in enumerate(keys):
            if key not in obj:
                raise DataFormatError(
                    f"{p}: line {no}: missing field {key!r}; found keys {sorted(obj)}; expected {layout}"
                )
            value = obj[key]
            if value is None or value == "":
                raise DataFormatError(f"{p}: line {no}: field {key!r} is {'null' if value is None else 'empty'}")
            if i == 2:
                raise DataFormatError(f"{p}: line {no}: cannot parse {key!r} value {value!r}; expected {expected}")
        break
    raise DataFormatError(f"{p}: JSON record {row + 1} is malformed (expected {layout})")


_AMAZON_2014 = ("reviewerID", "asin", "unixReviewTime")
_AMAZON_2023 = ("user_id", "parent_asin", "timestamp")


def _read_amazon(p: Path, **_: object) -> pl.DataFrame:
    no, first = _first_json(p)
    if "reviewerID" in first:
        keys, scale, layout = _AMAZON_2014, 1.0, "Amazon 2014/2018 reviews: reviewerID, asin, unixReviewTime"
    elif "user_id" in first and "parent_asin" in first:
        keys, scale, layout = _AMAZON_2023, 1e-3, "Amazon 2023 reviews: user_id, parent_asin, timestamp (ms)"
    else:
        raise DataFormatError(
            f"{p}: line {no}: JSON keys {sorted(first)}; expected Amazon reviews with reviewerID, asin, "
            "unixReviewTime (2014/2018) or user_id, parent_asin, timestamp (2023)"
        )
    return _read_json_lines(p, "amazon", keys, "numeric", scale, None, layout)


def _read_yelp(p: Path, *, time_format: str | None, **_: object) -> pl.DataFrame:
    layout = "Yelp reviews: user_id, business_id, date ('YYYY-MM-DD HH:MM:SS')"
    return _read_json_lines(p, "yelp", ("user_id", "business_id", "date"), "dates", 1.0, time_format, layout)


# ----------------------------------------------------------------------------------------------------------
# parquet


def _read_parquet(p: Path, *, columns: dict[str, str] | None, time_format: str | None,
                  **_: object) -> pl.DataFrame:  # fmt: skip
    try:
        schema = pl.read_parquet_schema(p)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as exc:
        raise DataFormatError(f"{p}: not a readable parquet file ({_one_line(exc)})") from exc
    found = list(schema)
    mapping = dict(columns) if columns is not None else _auto_mapping(found)
    missing = _missing_columns(mapping, found)
    if missing:
        raise DataFormatError(
            f"{p}: missing required column(s) {missing}; columns found: {found}; "
            f"mapping used: {mapping or '(none recognised)'}; pass columns={{'user_id': ..., 'item_id': ...}}"
        )
    df = pl.read_parquet(p, columns=list(dict.fromkeys(mapping.values())))
    if df.height == 0:
        raise DataFormatError(f"{p}: parquet file has no rows")
    user = _ids_as_str(p, df[mapping[Columns.USER]])
    item = _ids_as_str(p, df[mapping[Columns.ITEM]])
    for canon, s in ((Columns.USER, user), (Columns.ITEM, item)):
        bad = _empty(s)
        if bad.any():
            row = int(bad.arg_true()[0])
            raise DataFormatError(f"{p}: row {row + 1}: {canon} (column {mapping[canon]!r}) is null or empty")
    ts = None
    if Columns.TIME in mapping:
        src = mapping[Columns.TIME]
        ts, expected = _parquet_time(p, df[src], time_format)
        bad = _bad_time(ts)
        if bad.any():
            row = int(bad.arg_true()[0])
            raise DataFormatError(
                f"{p}: row {row + 1}: cannot use timestamp {df[src][row]!r} in column {src!r}; expected {expected}"
            )
    return _frame(user, item, ts)


def _ids_as_str(p: Path, s: pl.Series) -> pl.Series:
    if s.dtype == pl.String:
        return s
    if s.dtype.is_float():
        whole = s.drop_nulls()
        if whole.len() and bool((whole == whole.floor()).all()):  # pandas ints with NaN became floats
            return s.cast(pl.Int64).cast(pl.String)
    if s.dtype.is_nested():
        raise DataFormatError(f"{p}: column {s.name!r} has type {s.dtype}; expected IDs (string or integer)")
    return s.cast(pl.String)


def _parquet_time(p: Path, s: pl.Series, time_format: str | None) -> tuple[pl.Series, str]:
    if s.dtype.is_numeric():
        f = s.cast(pl.Float64)
        return pl.select(pl.when(f.is_finite()).then(f)).to_series(), "a number of seconds"
    if s.dtype == pl.Datetime:
        return s.dt.epoch("us").cast(pl.Float64) / 1e6, "a datetime"
    if s.dtype == pl.Date:
        return s.cast(pl.Int64).cast(pl.Float64) * 86400.0, "a date"
    if s.dtype == pl.String:
        return _to_seconds(s, "auto", time_format)
    raise DataFormatError(f"{p}: column {s.name!r} has type {s.dtype}; expected seconds, a datetime or a date")


# ----------------------------------------------------------------------------------------------------------


def _frame(user: pl.Series, item: pl.Series, ts: pl.Series | None) -> pl.DataFrame:
    cols = [user.cast(pl.String).alias(Columns.USER), item.cast(pl.String).alias(Columns.ITEM)]
    if ts is not None:
        cols.append(ts.cast(pl.Float64).alias(Columns.TIME))
    return pl.DataFrame(cols)


_READERS = {
    "csv": _read_csv,
    "parquet": _read_parquet,
    "ml-100k": _read_ml_100k,
    "recbole": _read_recbole,
    "ml-1m": _read_ml_1m,
    "ml-latest": _read_ml_latest,
    "gru4rec": _read_gru4rec,
    "sasrec": _read_sasrec,
    "s3rec": _read_s3rec,
    "amazon": _read_amazon,
    "yelp": _read_yelp,
}
assert tuple(_READERS) == FORMATS
