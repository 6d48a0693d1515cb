"""Raw log → filtered canonical frame → SequenceDataset, the path every entry point shares."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.filters import drop_consecutive_repeats, k_core, min_sequence_length
from rnnrec.data.idmap import IdMap
from rnnrec.data.io import read_interactions

if TYPE_CHECKING:
    from rnnrec.config import DataConfig
    from rnnrec.data.item_features import FeatureConfig

log = logging.getLogger(__name__)


def load_dataset(
    path: str | Path,
    format: str = "auto",
    columns: dict[str, str] | None = None,
    data: "DataConfig | None" = None,
    items: IdMap | None = None,
) -> SequenceDataset:
    """Read ``path``, apply the optional filters of ``data`` (repeats, then k-core, then minimum
    length), and map IDs. With ``items``, the item map is reused and unknown items are dropped."""
    frame = read_interactions(path, format=format, columns=columns)
    n0 = frame.height
    if data is not None:
        if data.drop_repeats:
            frame = drop_consecutive_repeats(frame)
        if data.k_core:
            frame = k_core(frame, data.k_core)
        if data.min_length:
            frame = min_sequence_length(frame, data.min_length)
        if frame.height != n0:
            log.info("filters kept %d of %d events", frame.height, n0)
    dataset = SequenceDataset.from_interactions(frame, items=items)
    if items is not None and dataset.sequences.n_events < frame.height:
        log.warning("%d events with items unknown to the model were dropped", frame.height - dataset.sequences.n_events)
    return dataset


def attach_item_features(
    dataset: SequenceDataset,
    metadata: str | Path | None = None,
    vectors: dict[str, str | Path] | None = None,
    config: "FeatureConfig | None" = None,
    metadata_format: str = "auto",
    add_items: bool = True,
) -> SequenceDataset:
    """Read item metadata (MovieLens, Amazon, Yelp, ...) and vector files (``{"image": "img.npy"}``;
    an ``.npy`` takes its IDs from ``<stem>.ids.txt`` beside it), encode them, and attach the feature
    blocks to ``dataset``. With ``add_items``, items that have features but no interactions join the
    catalogue (cold items a feature-based model can recommend)."""
    from rnnrec.data.item_features import build_item_features
    from rnnrec.data.item_vectors import npy_ids_path, read_item_vectors
    from rnnrec.data.metadata import read_item_metadata

    table = read_item_metadata(metadata, format=metadata_format) if metadata is not None else None
    sources = {}
    for name, path in (vectors or {}).items():
        path = Path(path)
        ids = npy_ids_path(path) if path.suffix == ".npy" else None
        sources[name] = read_item_vectors(path, ids=ids)
    if add_items:
        extra = [] if table is None else table["item_id"].to_list()
        for ids, _ in sources.values():
            extra += list(ids)
        dataset = dataset.with_items(extra)
    features = build_item_features(dataset.items, table, sources, config)
    return dataset.with_item_features(features)
