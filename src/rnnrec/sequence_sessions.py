"""Sequence models (plain or time-aware) under the session protocol (PROTOCOL.md §2).

A :class:`SequentialRecommender` reads each session as a short history, so every ``model.name``
(``gru4rec``, ``time_interval``, ``time_gated``, ``time_decay``) runs on session logs too. Session
files name no validation set, and early stopping needs one: the number of epochs is chosen the
way the published ``train_tr``/``train_valid`` pair is made (the last day of the training sessions
validates a first run), then the model is retrained on all training sessions for that many epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.sequences import Sequences
from rnnrec.data.sessions import session_targets, test_sessions
from rnnrec.data.split import EvalSet, Split
from rnnrec.recommender import SequentialRecommender
from rnnrec.trainer import TrainResult

__all__ = ["SessionFit", "session_eval_set", "fit_sequence_model_on_sessions", "SESSION_METRICS"]

SESSION_METRICS = ("Recall@", "MRR@")  # what the session protocol reports (PROTOCOL §2.4)


def _no_targets() -> EvalSet:
    return EvalSet(Sequences.from_lists([]), np.zeros(0, np.int64), np.zeros(0, np.int64))


def session_eval_set(sessions: SequenceDataset, train: SequenceDataset) -> EvalSet:
    """PROTOCOL §2.2–2.3: items unseen in ``train`` removed, sessions shorter than 2 dropped, every
    later event a target. ``sessions`` must be mapped with ``train``'s item map."""
    known = np.unique(train.sequences.items)
    return session_targets(test_sessions(sessions.sequences, known))


@dataclass
class SessionFit:
    recommender: SequentialRecommender  # trained on all training sessions
    selection: TrainResult  # the early-stopped run that chose the number of epochs


def fit_sequence_model_on_sessions(
    config: RecommenderConfig,
    train_tr: SequenceDataset,
    valid: EvalSet,
    train_full: SequenceDataset,
    monitor: str = "MRR@20",
) -> SessionFit:
    """Choose the epochs on ``train_tr`` → ``valid`` (early stopping on ``monitor``), then train on
    ``train_full`` for that many epochs. ``valid`` uses ``train_tr``'s item map."""
    selecting = config.with_overrides([f"train.monitor={monitor}"])
    selection = SequentialRecommender(selecting).fit(train_tr, Split("session", train_tr.sequences, valid, _no_targets()))
    assert selection.train_result is not None
    final_config = config.with_overrides([f"train.epochs={selection.train_result.best_epoch}"])
    final = SequentialRecommender(final_config)
    final.fit(train_full, Split("session", train_full.sequences, _no_targets(), _no_targets()))
    return SessionFit(final, selection.train_result)
