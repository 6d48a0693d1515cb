"""SequenceDataset: ID maps + each user's time-ordered item sequence. Built once from the canonical frame."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from rnnrec.data.columns import Columns
from rnnrec.data.idmap import IdMap
from rnnrec.data.sequences import Sequences
from rnnrec.errors import DataFormatError

if TYPE_CHECKING:
    from rnnrec.data.item_features import ItemFeatures

log = logging.getLogger(__name__)


@dataclass
class SequenceDataset:
    """Users' histories in internal IDs; the only place external IDs are mapped.

    ``sequences[u]`` holds user ``u``'s items sorted by timestamp (ties keep file order).
    Users are internal 0..U-1 (no padding); items are internal 1..I with 0 = padding.
    ``item_features``, when attached, has one row per internal item (multimodal models).
    """

    users: IdMap
    items: IdMap
    sequences: Sequences
    item_features: "ItemFeatures | None" = None

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def has_time(self) -> bool:
        return self.sequences.times is not None

    @classmethod
    def from_interactions(cls, frame: pl.DataFrame, items: IdMap | None = None) -> "SequenceDataset":
        """Map IDs and sort each user's events by time, stably (file order breaks ties).

        Users and items get internal IDs in order of first appearance in the file. Pass ``items``
        to reuse an existing item map (events with unknown items are then dropped).
        """
        for col in (Columns.USER, Columns.ITEM):
            if col not in frame.columns:
                raise DataFormatError(f"interaction table has no {col!r} column (columns: {frame.columns})")
        if frame.height == 0:
            raise DataFormatError("interaction table is empty")
        has_time = Columns.TIME in frame.columns
        df = frame.select(
            pl.col(Columns.USER).cast(pl.Utf8),
            pl.col(Columns.ITEM).cast(pl.Utf8),
            *( [pl.col(Columns.TIME).cast(pl.Float64)] if has_time else [] ),
        ).with_row_index("_row")
        if has_time:
            bad_time = pl.col(Columns.TIME).is_null() | ~pl.col(Columns.TIME).is_finite()
            bad = df.filter(bad_time)["_row"]
            if len(bad):
                value = df[Columns.TIME][bad[0]]
                raise DataFormatError(f"row {bad[0]}: timestamp {value} is missing or not finite (drop the column or fix it)")

        user_ext = df[Columns.USER].unique(maintain_order=True)
        users = IdMap(user_ext.to_list(), reserve_padding=False)
        if items is None:
            items = IdMap(df[Columns.ITEM].unique(maintain_order=True).to_list(), reserve_padding=True)
        item_table = pl.DataFrame(
            {Columns.ITEM: items.external, "_iid": np.arange(items.offset, items.size, dtype=np.int64)}
        )
        user_table = pl.DataFrame({Columns.USER: users.external, "_uid": np.arange(len(users), dtype=np.int64)})
        df = df.join(item_table, on=Columns.ITEM, how="inner").join(user_table, on=Columns.USER, how="left")
        sort_cols = ["_uid", Columns.TIME, "_row"] if has_time else ["_uid", "_row"]
        df = df.sort(sort_cols)
        uid = df["_uid"].to_numpy()
        counts = np.bincount(uid, minlength=len(users))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        times = df[Columns.TIME].to_numpy().astype(np.float64) if has_time else None
        return cls(users, items, Sequences(offsets, df["_iid"].to_numpy().astype(np.int64), times))

    def with_items(self, item_ids: list[str]) -> "SequenceDataset":
        """The catalogue plus items known only from metadata, appended so existing internal IDs stay:
        items nobody has interacted with yet, which feature-based models can still recommend."""
        new = [i for i in dict.fromkeys(str(x) for x in item_ids) if i not in self.items]
        if not new:
            return self
        if self.item_features is not None:
            raise DataFormatError("add items to the catalogue before attaching item features")
        log.info("%d items with features but no interactions added to the catalogue", len(new))
        return replace(self, items=IdMap(self.items.external + new, reserve_padding=True))

    def with_item_features(self, features: "ItemFeatures") -> "SequenceDataset":
        if features.n_rows != self.items.size:
            raise DataFormatError(f"item features cover {features.n_rows - 1} items, the catalogue has {self.n_items}")
        return replace(self, item_features=features)

    def fingerprint(self) -> str:
        """A SHA-256 of the mapped data (IDs, order, times): identifies the training data in artifacts."""
        h = hashlib.sha256()
        h.update("\n".join(self.users.external).encode())
        h.update(b"\0")
        h.update("\n".join(self.items.external).encode())
        h.update(self.sequences.offsets.tobytes())
        h.update(self.sequences.items.tobytes())
        if self.sequences.times is not None:
            h.update(self.sequences.times.tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        """Counts, time span and sequence-length distribution (``rnnrec data inspect``)."""
        lengths = self.sequences.lengths
        out: dict = {
            "users": self.n_users,
            "items": self.n_items,
            "events": self.sequences.n_events,
            "sequence_length": {
                "min": int(lengths.min()),
                "p25": float(np.percentile(lengths, 25)),
                "median": float(np.median(lengths)),
                "mean": float(lengths.mean()),
                "p75": float(np.percentile(lengths, 75)),
                "p95": float(np.percentile(lengths, 95)),
                "max": int(lengths.max()),
            },
            "density": self.sequences.n_events / max(1, self.n_users * self.n_items),
        }
        if self.sequences.times is not None:
            out["time_min"] = float(self.sequences.times.min())
            out["time_max"] = float(self.sequences.times.max())
        return out
