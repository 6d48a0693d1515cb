"""Save and load a trained recommender as a folder, without pickle.

    DIR/config.json     run configuration, model class, package version, training-data hash
    DIR/items.json      item ID map (internal 0 = padding)
    DIR/users.json      user ID map
    DIR/weights.pt      the model's state_dict, loaded with ``weights_only=True``
    DIR/histories.npz   known users' histories and item popularity (plain arrays, no pickle)
    DIR/item_features.npz   multimodal models only: the item feature blocks they read

Anything a server needs to rebuild the model is in the folder; nothing executes code on load.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnrec import __version__
from rnnrec.data.idmap import IdMap
from rnnrec.data.item_features import ItemFeatures
from rnnrec.data.sequences import Sequences
from rnnrec.errors import RnnrecError

FORMAT_VERSION = 1
FILES = ("config.json", "items.json", "users.json", "weights.pt", "histories.npz")
FEATURES_FILE = "item_features.npz"  # optional


@dataclass
class Artifact:
    model_class: str
    config: dict[str, Any]
    items: IdMap
    users: IdMap
    state_dict: dict[str, torch.Tensor]
    histories: Sequences
    item_counts: np.ndarray
    data_hash: str
    version: str = __version__
    extra: dict[str, Any] | None = None
    item_features: ItemFeatures | None = None


def save_artifact(artifact: Artifact, path: str | Path) -> Path:
    """Write to a temporary sibling folder, then swap it in: a crash never leaves half a model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        meta = {
            "format_version": FORMAT_VERSION,
            "rnnrec_version": artifact.version,
            "model_class": artifact.model_class,
            "data_hash": artifact.data_hash,
            "config": artifact.config,
            "extra": artifact.extra or {},
        }
        (tmp / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        artifact.items.save(tmp / "items.json")
        artifact.users.save(tmp / "users.json")
        torch.save({k: v.detach().cpu() for k, v in artifact.state_dict.items()}, tmp / "weights.pt")
        h = artifact.histories
        arrays = {"offsets": h.offsets, "items": h.items, "item_counts": artifact.item_counts}
        if h.times is not None:
            arrays["times"] = h.times
        np.savez(tmp / "histories.npz", **arrays)
        if artifact.item_features is not None:
            artifact.item_features.save(tmp / FEATURES_FILE)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_artifact_meta(path: str | Path) -> dict[str, Any]:
    """The folder's config.json (model class, configuration, versions), checked but nothing else loaded."""
    path = Path(path)
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise RnnrecError(f"{path} is not an rnnrec model folder: missing {', '.join(missing)}")
    try:
        meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RnnrecError(f"{path}/config.json: not valid JSON ({exc})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise RnnrecError(f"{path}/config.json: format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
    return meta


def load_artifact(path: str | Path) -> Artifact:
    path = Path(path)
    meta = load_artifact_meta(path)
    state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
    with np.load(path / "histories.npz", allow_pickle=False) as z:
        histories = Sequences(z["offsets"], z["items"], z["times"] if "times" in z.files else None)
        counts = z["item_counts"]
    return Artifact(
        model_class=meta["model_class"],
        config=meta["config"],
        items=IdMap.load(path / "items.json"),
        users=IdMap.load(path / "users.json"),
        state_dict=state,
        histories=histories,
        item_counts=counts,
        data_hash=meta["data_hash"],
        version=meta["rnnrec_version"],
        extra=meta.get("extra") or {},
        item_features=ItemFeatures.load(path / FEATURES_FILE) if (path / FEATURES_FILE).is_file() else None,
    )
