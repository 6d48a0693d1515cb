"""External ↔ internal ID maps. Everything past the dataset speaks internal IDs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from rnnrec.errors import DataFormatError, UnknownIdError

PADDING = 0


@dataclass
class IdMap:
    """A bijection between external string IDs and consecutive internal integers.

    With ``reserve_padding`` (item maps), internal ID 0 is padding and real IDs start at 1.
    """

    external: list[str]
    reserve_padding: bool = True
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        start = 1 if self.reserve_padding else 0
        self._index = {ext: i + start for i, ext in enumerate(self.external)}
        if len(self._index) != len(self.external):
            raise DataFormatError("IdMap: external IDs must be unique")

    @classmethod
    def from_ids(cls, ids: Iterable[str], reserve_padding: bool = True) -> "IdMap":
        return cls([str(x) for x in ids], reserve_padding)

    @property
    def offset(self) -> int:
        return 1 if self.reserve_padding else 0

    def __len__(self) -> int:
        """Number of real IDs (padding not counted)."""
        return len(self.external)

    @property
    def size(self) -> int:
        """Size of an embedding table indexed by internal ID (padding row included)."""
        return len(self.external) + self.offset

    def __contains__(self, external_id: object) -> bool:
        return str(external_id) in self._index

    def to_internal(self, external_id: str, kind: str = "item") -> int:
        try:
            return self._index[str(external_id)]
        except KeyError:
            raise UnknownIdError(f"unknown {kind} ID {external_id!r} (not in the model's {kind} map)") from None

    def to_internal_many(self, external_ids: Iterable[str], unknown: str = "raise", kind: str = "item") -> np.ndarray:
        """Map many IDs; ``unknown='raise'`` errors on the first unknown ID, ``'ignore'`` drops them."""
        if unknown not in ("raise", "ignore"):
            raise ValueError(f"unknown must be 'raise' or 'ignore', got {unknown!r}")
        out = []
        for ext in external_ids:
            idx = self._index.get(str(ext))
            if idx is None:
                if unknown == "raise":
                    raise UnknownIdError(f"unknown {kind} ID {ext!r} (not in the model's {kind} map)")
                continue
            out.append(idx)
        return np.asarray(out, dtype=np.int64)

    def lookup(self, external_ids: Iterable[str]) -> np.ndarray:
        """Internal ID of each external ID, -1 where the map does not know it (vectorised callers
        decide what unknown IDs mean)."""
        return np.array([self._index.get(str(ext), -1) for ext in external_ids], dtype=np.int64)

    def to_external(self, internal_ids: Iterable[int] | np.ndarray) -> list[str]:
        arr = np.asarray(internal_ids, dtype=np.int64) - self.offset
        if arr.size and (arr.min() < 0 or arr.max() >= len(self.external)):
            raise ValueError("internal ID out of range (padding or beyond the map)")
        ext = self.external
        return [ext[i] for i in arr.tolist()]

    def to_json(self) -> dict:
        return {"reserve_padding": self.reserve_padding, "external": self.external}

    @classmethod
    def from_json(cls, obj: dict) -> "IdMap":
        return cls(list(obj["external"]), bool(obj["reserve_padding"]))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "IdMap":
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
