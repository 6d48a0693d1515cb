"""Image files → item vectors with a torchvision model whose weights are on local disk.

The vectors are written as ``.npy`` + ``<stem>.ids.txt``, the layout ``--vectors`` reads
(:mod:`rnnrec.data.item_vectors`), so an image modality joins a model like any other dense block.
Nothing is downloaded: the weights are a file the user has (a ``state_dict`` saved with
``torch.save``, e.g. torchvision's ``resnet50-*.pth``); torchvision and Pillow are an optional
extra (``pip install 'rnnrec[image]'``), and without them this module says so instead of failing
deep inside an import.

One image per item: the file name without its extension is the item ID (``posters/1193.jpg`` →
item ``1193``), as the interaction log spells it. The classification head is replaced by the
identity, so a vector is the network's pooled features (2,048 numbers for ResNet-50).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnrec.data.item_vectors import npy_ids_path
from rnnrec.errors import ConfigError, DataFormatError

__all__ = ["IMAGE_EXTENSIONS", "encode_images", "find_images", "write_vectors"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
_HEADS = ("fc", "classifier", "heads", "head")  # the classification layer's name across torchvision models
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet normalisation of torchvision's weights


def _vision():
    """torchvision and Pillow, or a clear error naming the extra to install."""
    try:
        import torchvision
        from PIL import Image
    except Exception as e:  # ImportError, or a torchvision build that does not match the installed torch
        raise ConfigError(
            f"encoding images needs torchvision and Pillow ({type(e).__name__}: {e}); install them with "
            "pip install 'rnnrec[image]' (torchvision must match the installed torch), or pass precomputed "
            "vectors with --vectors image=FILE.npy"
        ) from None
    return torchvision, Image


def find_images(folder: str | Path) -> tuple[list[str], list[Path]]:
    """(item IDs, image paths) of the image files directly in ``folder``, sorted by ID."""
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(f"{root}: not a folder of images")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataFormatError(f"{root}: no image files (expected one per item, named <item id>{IMAGE_EXTENSIONS[0]}; "
                              f"extensions {', '.join(IMAGE_EXTENSIONS)})")
    ids = [p.stem for p in files]
    seen: dict[str, Path] = {}
    for item_id, p in zip(ids, files):
        if item_id in seen:
            raise DataFormatError(f"{p}: item {item_id!r} already has an image, {seen[item_id].name}; expected one per item")
        seen[item_id] = p
    return ids, files


def _load_model(torchvision, arch: str, weights: str | Path) -> nn.Module:
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(f"{path}: weights file not found; expected a state_dict saved with torch.save "
                          f"for torchvision's {arch!r} (nothing is downloaded)")
    try:
        model = torchvision.models.get_model(arch, weights=None)
    except ValueError:
        raise ConfigError(f"unknown torchvision model {arch!r}; expected one of torchvision.models.list_models(), "
                          "e.g. resnet50") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # unpickling refused, or keys/shapes of another architecture
        raise ConfigError(f"{path}: not a state_dict of torchvision's {arch!r} ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:300]})") from None
    for name in _HEADS:
        if isinstance(getattr(model, name, None), nn.Module):
            setattr(model, name, nn.Identity())
            return model.eval()
    raise ConfigError(f"torchvision's {arch!r} has none of the heads {', '.join(_HEADS)} to remove; "
                      "choose a classification model such as resnet50")


def encode_images(
    paths: list[Path],
    weights: str | Path,
    arch: str = "resnet50",
    batch_size: int = 32,
    size: int = 224,
    device: str = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """(N, D) float32 vectors, row i for ``paths[i]``: resized (shorter side to ``size`` × 8/7),
    centre-cropped to ``size``, normalised as torchvision's ImageNet weights expect."""
    torchvision, Image = _vision()
    from torchvision.transforms import v2
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    model = _load_model(torchvision, arch, weights).to(device)
    prepare = v2.Compose([v2.ToImage(), v2.Resize(round(size * 8 / 7), antialias=True), v2.CenterCrop(size),
                          v2.ToDtype(torch.float32, scale=True), v2.Normalize(_MEAN, _STD)])
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(paths), batch_size), desc="images", unit="batch", disable=not progress):
            batch = []
            for p in paths[start:start + batch_size]:
                try:
                    with Image.open(p) as image:
                        batch.append(prepare(image.convert("RGB")))
                except Exception as e:  # unreadable or truncated file
                    raise DataFormatError(f"{p}: not a readable image ({type(e).__name__}: {e})") from None
            out.append(model(torch.stack(batch).to(device)).flatten(1).float().cpu().numpy())
    return np.concatenate(out)


def write_vectors(path: str | Path, ids: list[str], vectors: np.ndarray) -> Path:
    """``path`` (.npy) and ``<stem>.ids.txt`` beside it: what ``--vectors NAME=path`` reads."""
    p = Path(path)
    if p.suffix != ".npy":
        raise ConfigError(f"{p}: the output must be a .npy file (its IDs go to {npy_ids_path(p).name} beside it)")
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} IDs for {len(vectors)} vectors")
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, vectors)
    npy_ids_path(p).write_text("".join(f"{i}\n" for i in ids))
    return p
