"""Session-based recommender: anonymous sessions in, next items out (GRU4Rec's setting).

Nothing is known about a visitor but the current session, so ``recommend`` takes the session's
items so far. Training follows GRU4Rec's recipe (:mod:`rnnrec.session_trainer`); evaluation
follows PROTOCOL.md §2 (:mod:`rnnrec.session_evaluate`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl
import torch

from rnnrec.artifact import Artifact, load_artifact, save_artifact
from rnnrec.config import SectionedConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.idmap import IdMap
from rnnrec.data.io import read_interactions
from rnnrec.data.sequences import Sequences
from rnnrec.data.sessions import split_frame_last_days, split_sessions, test_sessions
from rnnrec.errors import ConfigError, DataFormatError, RnnrecError
from rnnrec.models.session_gru import SessionGRU, SessionGRUConfig
from rnnrec.recommender import Recommendation, check_request, top_k
from rnnrec.session_evaluate import evaluate_sessions
from rnnrec.session_trainer import SessionTrainConfig, SessionTrainResult, fit_sessions

log = logging.getLogger("rnnrec")


@dataclass
class SessionDataConfig:
    """How a log becomes sessions, and how one file is split when no test file is given."""

    session_gap: float = 0.0  # > 0: cut each user's history where events are this many seconds apart
    test_days: float = 1.0  # one file only: sessions ending in the last `test_days` days are the test set

    def __post_init__(self) -> None:
        if self.session_gap < 0 or not self.test_days > 0:
            raise ConfigError("data.session_gap must be >= 0 and data.test_days > 0")


@dataclass
class SessionConfig(SectionedConfig):
    """A session-based run. The defaults are the published best RSC15 setting of GRU4Rec
    (cross-entropy with logQ, shared embedding, 100 units, batch 32, Adagrad at 0.1), a setting
    for click logs of any catalogue size since cross-entropy scales where BPR-max does not."""

    model: SessionGRUConfig = field(default_factory=SessionGRUConfig)
    train: SessionTrainConfig = field(default_factory=SessionTrainConfig)
    data: SessionDataConfig = field(default_factory=SessionDataConfig)


def read_session_frame(path: str | Path, format: str = "auto", columns: dict[str, str] | None = None,
                       session_gap: float = 0.0) -> pl.DataFrame:
    """Read a log; with ``session_gap`` > 0, cut users' histories into sessions first."""
    frame = read_interactions(path, format=format, columns=columns)
    if session_gap > 0:
        frame = split_sessions(frame, session_gap)
    return frame


class SessionRecommender:
    """Next-item recommendations for anonymous sessions.

    >>> rec = SessionRecommender().fit(train)               # doctest: +SKIP
    >>> rec.recommend(["214716935", "214832672"], k=5)       # doctest: +SKIP
    """

    def __init__(self, config: SessionConfig | None = None) -> None:
        self.config = config or SessionConfig()
        self.model: SessionGRU | None = None
        self.items: IdMap | None = None
        self.item_counts: np.ndarray | None = None
        self.data_hash = ""
        self.train_result: SessionTrainResult | None = None

    def fit(self, train: SequenceDataset) -> "SessionRecommender":
        """Train on the sessions of ``train`` (its "users" are sessions); the catalogue is its items."""
        sessions = train.sequences.subset(np.flatnonzero(train.sequences.lengths >= 2))
        if len(sessions) == 0:
            raise DataFormatError("no training session has 2 or more events")
        self.items = train.items
        self.item_counts = np.bincount(train.sequences.items, minlength=train.items.size).astype(np.int64)
        torch.manual_seed(self.config.train.seed)  # initialisation is part of the seeded run
        self.model = SessionGRU(train.items.size, self.config.model)
        self.train_result = fit_sessions(self.model, sessions, self.item_counts, self.config.train)
        self.data_hash = train.fingerprint()
        return self

    def _require_model(self) -> SessionGRU:
        if self.model is None or self.items is None:
            raise RnnrecError("the recommender is not trained: call fit() or load() first")
        return self.model

    def prepare_test(self, test: SequenceDataset | Sequences) -> Sequences:
        """Test sessions in this model's internal IDs, with PROTOCOL §2.2 applied."""
        self._require_model()
        seqs = test.sequences if isinstance(test, SequenceDataset) else test
        assert self.item_counts is not None
        return test_sessions(seqs, np.flatnonzero(self.item_counts > 0))

    def evaluate(self, test: SequenceDataset | Sequences) -> dict[str, float]:
        """Recall@k and MRR@k (k = 1, 5, 10, 20) over every next event of the test sessions.

        ``test`` must use this model's item map (``SequenceDataset.from_interactions(frame, items=rec.items)``).
        """
        model = self._require_model()
        sessions = self.prepare_test(test)
        if len(sessions) == 0:
            raise DataFormatError("no test session keeps 2 or more events with items known to the model")
        return evaluate_sessions(model, sessions)

    @torch.no_grad()
    def recommend(self, history: Sequence[str], k: int = 20, exclude_seen: bool = False,
                  unknown: str = "raise") -> list[Recommendation]:
        """Top-``k`` next items for a session's items so far (oldest first), as external IDs.

        ``unknown="ignore"`` drops items the model does not know; an empty session gets the most
        popular training items (scores = training counts).
        """
        model = self._require_model()
        assert self.items is not None and self.item_counts is not None
        check_request(unknown, k)
        internal = self.items.to_internal_many(list(history), unknown=unknown, kind="item")
        if len(internal) == 0:
            scores = torch.from_numpy(self.item_counts.astype(np.float32))
        else:
            items = torch.as_tensor(internal, device=model.item_out.device).view(1, -1)
            scores = model.score_all(model.encode(items)[:, -1]).squeeze(0).float().cpu()
        return top_k(scores.unsqueeze(0), [internal], self.items, k, exclude_seen)[0]

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        model = self._require_model()
        assert self.items is not None and self.item_counts is not None
        return save_artifact(
            Artifact(
                model_class=SessionGRU.__name__,
                config=self.config.to_dict(),
                items=self.items,
                users=IdMap([], reserve_padding=False),
                state_dict=model.state_dict(),
                histories=Sequences(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)),
                item_counts=self.item_counts,
                data_hash=self.data_hash,
                extra=extra,
            ),
            path,
        )

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "SessionRecommender":
        art = load_artifact(path)
        if art.model_class != SessionGRU.__name__:
            raise RnnrecError(f"{path}: holds a {art.model_class!r} model, not a session model")
        rec = cls(SessionConfig.from_dict(art.config, source=f"{path}/config.json"))
        rec.items, rec.item_counts, rec.data_hash = art.items, art.item_counts, art.data_hash
        rec.model = SessionGRU(art.items.size, rec.config.model)
        rec.model.load_state_dict(art.state_dict)
        rec.model.to(torch.device(device)).eval()
        return rec


def load_session_frames(
    train_path: str | Path,
    test_path: str | Path | None,
    session_gap: float = 0.0,
    test_days: float = 1.0,
    format: str = "auto",
    columns: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train and test logs as sessions. Without ``test_path`` the sessions ending in the last
    ``test_days`` of the training file are the test set."""
    frame = read_session_frame(train_path, format, columns, session_gap)
    if test_path is None:
        return split_frame_last_days(frame, test_days)
    return frame, read_session_frame(test_path, format, columns, session_gap)


def load_session_data(
    train_path: str | Path,
    test_path: str | Path | None,
    config: SessionConfig,
    format: str = "auto",
    columns: dict[str, str] | None = None,
) -> tuple[SequenceDataset, SequenceDataset]:
    """Train and test sessions; the test set uses the training item map (unknown items dropped).

    Without ``test_path`` the last ``data.test_days`` of the training file are the test set.
    """
    frame, test_frame = load_session_frames(train_path, test_path, config.data.session_gap, config.data.test_days,
                                            format, columns)
    train = SequenceDataset.from_interactions(frame)
    test = SequenceDataset.from_interactions(test_frame, items=train.items)
    return train, test
