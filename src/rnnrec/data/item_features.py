"""Item features aligned to the item ID map: every modality becomes one dense block whose row ``i``
describes internal item ``i`` (row 0 = padding), ready for a model to project and fuse.

Modalities (each one block, named after its source):

- ``text``: the chosen text columns of each item (title, tags, description...) joined into one
  string and encoded once (TF-IDF + SVD offline by default, or a local sentence-transformers model),
  cached on disk by content hash. A trailing "(1995)" is cut from titles when the table has a
  ``year`` column, which the numeric block carries.
- one block per categorical column (``genres``, ``categories``, ``brand``): multi-hot over the
  column's most frequent values, divided by the item's number of values.
- ``numeric``: numeric columns (``year``) standardised to mean 0, variance 1, each followed by a
  one-hot of its quantile bin.
- one block per vector source (``image`` ...): precomputed dense vectors, as given.

Missing-feature policy: an item with no row in a source gets zeros in that source's blocks, and
``present`` records whether the item has any feature at all; models add a learned "no features"
vector for items where it is False. Items of a source that the item map does not know are
ignored here (:meth:`SequenceDataset.with_items` adds them to the catalogue first, as cold items).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from rnnrec.data.idmap import IdMap
from rnnrec.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)

__all__ = ["FeatureConfig", "ItemFeatures", "build_item_features"]

ITEM_ID = "item_id"
DEFAULT_TEXT = ("title", "tags", "description")
DEFAULT_CATEGORICAL = ("genres", "categories", "brand")
DEFAULT_NUMERIC = ("year",)
TEXT_ENCODERS = ("tfidf", "sentence-transformers")


@dataclass
class FeatureConfig:
    """How item metadata becomes feature blocks. Empty column lists mean "the defaults present in
    the table": text = title, tags, description; categorical = genres, categories, brand; numeric = year."""

    text_columns: list[str] = field(default_factory=list)
    categorical_columns: list[str] = field(default_factory=list)
    numeric_columns: list[str] = field(default_factory=list)
    text_encoder: str = "tfidf"  # "tfidf" (offline, TF-IDF + SVD) | "sentence-transformers" (local model)
    text_dim: int = 64  # tfidf: SVD components
    text_model: str = "all-MiniLM-L6-v2"  # sentence-transformers: model name or local folder
    max_categories: int = 500  # per categorical column: most frequent values kept
    numeric_bins: int = 10  # per numeric column: one-hot quantile bins next to the value (<= 1: value only)
    cache_dir: str = ""  # where text encodings are cached ("" = no cache)

    def __post_init__(self) -> None:
        if self.text_encoder not in TEXT_ENCODERS:
            raise ConfigError(f"features.text_encoder must be one of {TEXT_ENCODERS}, got {self.text_encoder!r}")
        if self.text_dim < 1 or self.max_categories < 1:
            raise ConfigError("features.text_dim and features.max_categories must be >= 1")


@dataclass
class ItemFeatures:
    blocks: dict[str, np.ndarray]  # modality → (I+1, d) float32
    present: np.ndarray  # (I+1,) bool: the item has at least one feature

    def __post_init__(self) -> None:
        rows = {name: b.shape[0] for name, b in self.blocks.items()}
        if not self.blocks:
            raise DataFormatError("item features: no feature block (no usable column or vector source)")
        if len(set(rows.values()) | {len(self.present)}) != 1:
            raise DataFormatError(f"item feature blocks disagree on the number of items: {rows}, present {len(self.present)}")

    @property
    def n_rows(self) -> int:
        """Internal item IDs covered (padding row included)."""
        return len(self.present)

    @property
    def dims(self) -> dict[str, int]:
        return {name: int(b.shape[1]) for name, b in self.blocks.items()}

    def save(self, path: str | Path) -> None:
        np.savez(path, present=self.present, **{f"block_{name}": b for name, b in self.blocks.items()})

    @classmethod
    def load(cls, path: str | Path) -> "ItemFeatures":
        with np.load(path, allow_pickle=False) as z:
            blocks = {k.removeprefix("block_"): z[k] for k in z.files if k.startswith("block_")}
            return cls(blocks, z["present"])


def _rows_of(items: IdMap, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Internal row of each external ID, and which IDs the map knows."""
    rows = items.lookup(ids)
    return rows, rows >= 0


def _as_text(series: pl.Series) -> list[str]:
    if series.dtype == pl.List(pl.Utf8):
        return [", ".join(v) if v is not None else "" for v in series.to_list()]
    return ["" if v is None else str(v) for v in series.cast(pl.Utf8).to_list()]


def _text_encoder(config: FeatureConfig):
    from rnnrec.data.text_encoders import SentenceTransformerEncoder, TfidfSvdEncoder

    if config.text_encoder == "tfidf":
        return TfidfSvdEncoder(dim=config.text_dim)
    return SentenceTransformerEncoder(model=config.text_model)


def _text_block(table: pl.DataFrame, columns: list[str], config: FeatureConfig) -> np.ndarray:
    from rnnrec.data.text_encoders import encode_texts

    if "title" in columns and "year" in table.columns:
        # The numeric block carries the year; left in the title, "(1995)" dominates the text encoding.
        table = table.with_columns(pl.col("title").str.replace(r"\s*\(\d{4}\)\s*$", ""))
    parts = [_as_text(table[c]) for c in columns]
    texts = [" . ".join(p for p in row if p) for row in zip(*parts)]
    return encode_texts(texts, _text_encoder(config), config.cache_dir or None).astype(np.float32)


def _categorical_block(column: pl.Series, max_categories: int) -> tuple[np.ndarray, list[str]]:
    """Multi-hot over the ``max_categories`` most frequent values, each row divided by its count."""
    values = column.to_list() if column.dtype == pl.List(pl.Utf8) else [[v] if v else [] for v in column.to_list()]
    values = [[v for v in dict.fromkeys(vs or []) if v] for vs in values]
    counts: dict[str, int] = {}
    for vs in values:
        for v in vs:
            counts[v] = counts.get(v, 0) + 1
    vocab = sorted(counts, key=lambda v: (-counts[v], v))[:max_categories]
    index = {v: j for j, v in enumerate(vocab)}
    block = np.zeros((len(values), len(vocab)), dtype=np.float32)
    for r, vs in enumerate(values):
        cols = [index[v] for v in vs if v in index]
        if cols:
            block[r, cols] = 1.0 / len(cols)
    return block, vocab


def _numeric_block(table: pl.DataFrame, columns: list[str], bins: int) -> np.ndarray:
    """Per numeric column: the standardised value (a missing value becomes the mean, 0), then a
    one-hot of its quantile bin (all zeros when missing), so a linear layer can also learn effects
    that are not monotone in the value (a release year's popularity peaks at the end of the log)."""
    out = []
    for c in columns:
        x = table[c].cast(pl.Float64, strict=False).to_numpy().astype(np.float64)
        finite = np.isfinite(x)
        if not finite.any():
            continue
        mean, std = x[finite].mean(), x[finite].std()
        out.append(np.where(finite, (x - mean) / (std if std > 0 else 1.0), 0.0)[:, None])
        edges = np.unique(np.quantile(x[finite], np.linspace(0, 1, bins + 1)[1:-1])) if bins > 1 else np.empty(0)
        if len(edges):
            onehot = np.zeros((len(x), len(edges) + 1))
            onehot[np.flatnonzero(finite), np.searchsorted(edges, x[finite], side="right")] = 1.0
            out.append(onehot)
    return np.concatenate(out, axis=1).astype(np.float32) if out else np.zeros((table.height, 0), np.float32)


def _pick(requested: list[str], defaults: tuple[str, ...], table: pl.DataFrame, kind: str) -> list[str]:
    missing = [c for c in requested if c not in table.columns]
    if missing:
        raise DataFormatError(f"item features: {kind} column(s) {missing} not in the metadata (columns: {table.columns})")
    return list(requested) if requested else [c for c in defaults if c in table.columns]


def build_item_features(
    items: IdMap,
    metadata: pl.DataFrame | None = None,
    vectors: dict[str, tuple[list[str], np.ndarray]] | None = None,
    config: FeatureConfig | None = None,
) -> ItemFeatures:
    """Blocks for every internal item of ``items`` from a metadata table (``item_id`` + columns, as
    :func:`rnnrec.data.metadata.read_item_metadata` returns) and named vector sources
    (``{"image": (ids, (n, d) array)}``). Encoders are fitted on the whole catalogue's metadata,
    which holds no interaction, so no split leaks into them."""
    config = config or FeatureConfig()
    n_rows = items.size
    blocks: dict[str, np.ndarray] = {}
    present = np.zeros(n_rows, dtype=bool)

    if metadata is not None:
        if ITEM_ID not in metadata.columns:
            raise DataFormatError(f"item metadata has no {ITEM_ID!r} column (columns: {metadata.columns})")
        ids = metadata[ITEM_ID].cast(pl.Utf8).to_list()
        rows, known = _rows_of(items, ids)
        if not known.all():
            log.info("%d of %d metadata items are not in the catalogue and are ignored", int((~known).sum()), len(ids))
        table = metadata.filter(pl.Series(known))
        rows = rows[known]
        present[rows] = True
        text_cols = _pick(config.text_columns, DEFAULT_TEXT, table, "text")
        cat_cols = [c for c in _pick(config.categorical_columns, DEFAULT_CATEGORICAL, table, "categorical")
                    if c not in text_cols or config.categorical_columns]
        num_cols = _pick(config.numeric_columns, DEFAULT_NUMERIC, table, "numeric")

        def place(values: np.ndarray) -> np.ndarray:
            full = np.zeros((n_rows, values.shape[1]), dtype=np.float32)
            full[rows] = values
            return full

        if text_cols:
            blocks["text"] = place(_text_block(table, text_cols, config))
        for c in cat_cols:
            block, vocab = _categorical_block(table[c], config.max_categories)
            if vocab:
                blocks[c] = place(block)
        if num_cols:
            numeric = _numeric_block(table, num_cols, config.numeric_bins)
            if numeric.shape[1]:
                blocks["numeric"] = place(numeric)

    for name, (ids, values) in (vectors or {}).items():
        if name in blocks:
            raise ConfigError(f"vector source name {name!r} clashes with a metadata block ({sorted(blocks)})")
        rows, known = _rows_of(items, [str(i) for i in ids])
        full = np.zeros((n_rows, values.shape[1]), dtype=np.float32)
        full[rows[known]] = values[known]
        present[rows[known]] = True
        blocks[name] = full
        log.info("vectors %r: %d of %d catalogue items covered", name, int(known.sum()), len(items))

    present[0] = False
    n_missing = len(items) - int(present[1:].sum())
    if n_missing:
        log.info("%d of %d items have no features (they get the learned 'no features' vector)", n_missing, len(items))
    return ItemFeatures(blocks, present)
