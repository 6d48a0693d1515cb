"""Find MovieLens latest-small on disk, or fetch it once into the user cache.

GroupLens's terms do not let us ship the data, so the library looks for a copy the user already has
and only downloads (with a checksum check) when none is found.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from rnnrec.errors import DownloadError

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_DIR_ENV",
    "CACHE_DIR_ENV",
    "ML_LATEST_SMALL_NAME",
    "ML_LATEST_SMALL_URL",
    "ML_LATEST_SMALL_SHA256",
    "ML_LATEST_SMALL_SIZE",
    "default_cache_dir",
    "locate_movielens_small",
]

DATA_DIR_ENV = "RNNREC_DATA_DIR"
CACHE_DIR_ENV = "RNNREC_CACHE_DIR"
ML_LATEST_SMALL_NAME = "ml-latest-small"
ML_LATEST_SMALL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
# SHA-256 and size of GroupLens's current ml-latest-small.zip (the 2018-09-26 release: 610 users,
# 100,836 ratings, 9,742 movies). Source: TensorFlow Datasets, tensorflow/datasets
# tensorflow_datasets/url_checksums/movielens.txt (the same value is pinned by several other public
# projects). No MD5 value from a public source could be confirmed, so only SHA-256 is pinned; pass
# ``md5=`` to check one as well. Note: the copy under shared/datasets is the older 2016 release,
# which is a different zip and would not match this checksum.
ML_LATEST_SMALL_SHA256 = "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"
ML_LATEST_SMALL_SIZE = 978_202

_REQUIRED_FILES = ("ratings.csv", "movies.csv")
_CHUNK = 1 << 16
_TIMEOUT_S = 60.0


def default_cache_dir() -> Path:
    """``$RNNREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/rnnrec``, else ``~/.cache/rnnrec`` (XDG convention)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rnnrec"


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in _REQUIRED_FILES)


def _find_in(root: Path) -> Path | None:
    """Accept either the data folder itself or a parent that holds ``ml-latest-small/``."""
    for candidate in (root, root / ML_LATEST_SMALL_NAME):
        if _is_complete(candidate):
            return candidate
    return None


def _manual_hint(url: str) -> str:
    return (
        f"To install it by hand, download {url}, unzip it so that <dir>/{ML_LATEST_SMALL_NAME}/ratings.csv "
        f"and movies.csv exist, then pass data_dir=<dir> or set {DATA_DIR_ENV}=<dir>."
    )


def locate_movielens_small(
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    url: str = ML_LATEST_SMALL_URL,
    sha256: str | None = ML_LATEST_SMALL_SHA256,
    md5: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Return the folder holding MovieLens latest-small ``ratings.csv`` and ``movies.csv``.

    Looks, in order, in ``data_dir``, ``$RNNREC_DATA_DIR`` (each may be the folder itself or its parent),
    then ``<cache>/ml-latest-small`` (``cache_dir`` or :func:`default_cache_dir`). If nothing is found and
    ``download`` is true, fetches ``url`` into the cache, checks ``sha256``/``md5`` before extracting, and
    moves the extracted folder into place atomically so a failure never leaves a partial copy.

    Raises:
        DownloadError: nothing found and ``download`` is false, or the download/verification failed.
    """
    searched: list[str] = []
    sources: list[tuple[str, Path]] = []
    if data_dir is not None:
        sources.append(("data_dir", Path(data_dir).expanduser()))
    env_dir = os.environ.get(DATA_DIR_ENV)
    if env_dir:
        sources.append((f"${DATA_DIR_ENV}", Path(env_dir).expanduser()))
    for label, root in sources:
        found = _find_in(root)
        if found is not None:
            logger.debug("MovieLens latest-small found via %s at %s", label, found)
            return found
        logger.warning("%s=%s holds no %s (looked for %s there and in %s/)", label, root,
                       ML_LATEST_SMALL_NAME, " + ".join(_REQUIRED_FILES), ML_LATEST_SMALL_NAME)
        searched.append(f"{label}: {root} and {root / ML_LATEST_SMALL_NAME}")

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / ML_LATEST_SMALL_NAME
    if _is_complete(target):
        logger.debug("MovieLens latest-small found in cache at %s", target)
        return target
    searched.append(f"cache: {target}")

    if not download:
        raise DownloadError(
            f"MovieLens {ML_LATEST_SMALL_NAME} (ratings.csv + movies.csv) not found and download=False. "
            f"Searched: {'; '.join(searched)}. {_manual_hint(url)}"
        )
    if target.exists():
        # Never overwrite or delete something we did not create in this call.
        raise DownloadError(
            f"{target} exists but lacks {' or '.join(_REQUIRED_FILES)}; remove or repair it and retry. "
            f"{_manual_hint(url)}"
        )
    if sha256 is None and md5 is None:
        logger.warning("downloading %s without a checksum: the archive cannot be verified", url)
    return _download_and_extract(url, cache, sha256=sha256, md5=md5, progress=progress)


def _download_and_extract(url: str, cache: Path, *, sha256: str | None, md5: str | None,
                          progress: bool) -> Path:
    """Stream to a temp file, verify, extract to a temp folder, rename into place; clean up on any failure."""
    created_cache = not cache.exists()
    target = cache / ML_LATEST_SMALL_NAME
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{ML_LATEST_SMALL_NAME}-", suffix=".zip.part", dir=cache)
    except OSError as exc:
        raise DownloadError(
            f"cannot write to the cache folder {cache} ({exc}); set {CACHE_DIR_ENV} to a writable folder. "
            f"{_manual_hint(url)}"
        ) from exc
    tmp_zip = Path(tmp_name)
    tmp_extract: Path | None = None
    try:
        with os.fdopen(fd, "wb") as out:
            digests = _fetch(url, out, progress=progress)
        _verify(url, digests, sha256=sha256, md5=md5)
        tmp_extract = Path(tempfile.mkdtemp(prefix=f".{ML_LATEST_SMALL_NAME}-extract-", dir=cache))
        extracted = _extract(url, tmp_zip, tmp_extract)
        try:
            os.replace(extracted, target)
        except OSError as exc:
            if _is_complete(target):  # another process finished first: keep its copy
                logger.info("%s appeared while downloading; using it", target)
                return target
            raise DownloadError(f"could not move the extracted data to {target}: {exc}") from exc
        logger.info("MovieLens latest-small downloaded to %s", target)
        return target
    finally:
        tmp_zip.unlink(missing_ok=True)
        if tmp_extract is not None:
            shutil.rmtree(tmp_extract, ignore_errors=True)
        if created_cache and not _is_complete(target):
            try:
                cache.rmdir()  # only if empty: leave no trace of a failed first download
            except OSError:
                pass


def _fetch(url: str, out, *, progress: bool) -> dict[str, str]:
    """Stream ``url`` into ``out``, hashing as it goes; network/HTTP failures become DownloadError."""
    hashers = {"sha256": hashlib.sha256(), "md5": hashlib.md5(usedforsecurity=False)}
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=ML_LATEST_SMALL_NAME, disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    for h in hashers.values():
                        h.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise DownloadError(f"download of {url} was cut short: got {received} of {total} bytes. "
                                    f"Retry later. {_manual_hint(url)}")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}. {_manual_hint(url)}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"download of {url} failed: {reason}. {_manual_hint(url)}") from exc
    return {name: h.hexdigest() for name, h in hashers.items()}


def _verify(url: str, digests: dict[str, str], *, sha256: str | None, md5: str | None) -> None:
    for name, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        got = digests[name]
        if got.lower() != expected.strip().lower():
            raise DownloadError(
                f"checksum mismatch for {url}: expected {name} {expected}, got {got}. The file may be "
                f"corrupt or GroupLens may have published a new release; nothing was kept. {_manual_hint(url)}"
            )
        logger.debug("%s of %s verified: %s", name, url, got)


def _extract(url: str, zip_path: Path, dest: Path) -> Path:
    """Extract into ``dest`` (refusing paths that escape it) and return ``dest/ml-latest-small``."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            root = dest.resolve()
            for member in zf.namelist():
                if not (root / member).resolve().is_relative_to(root):
                    raise DownloadError(f"archive from {url} has an unsafe member path {member!r}")
            zf.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{url} did not return a valid zip archive ({exc}). {_manual_hint(url)}") from exc
    extracted = dest / ML_LATEST_SMALL_NAME
    if not _is_complete(extracted):
        raise DownloadError(
            f"archive from {url} has no {ML_LATEST_SMALL_NAME}/ folder with {' and '.join(_REQUIRED_FILES)}. "
            f"{_manual_hint(url)}"
        )
    return extracted
