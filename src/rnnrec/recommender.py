"""The class users call: fit on a dataset, evaluate, recommend in external IDs, save/load.

Everything inside speaks internal IDs; conversion to and from external IDs happens here, once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from rnnrec.artifact import Artifact, load_artifact, save_artifact
from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.idmap import IdMap
from rnnrec.data.item_features import ItemFeatures
from rnnrec.data.sequences import Sequences
from rnnrec.data.split import EvalSet, Split, leave_one_out
from rnnrec.data.time_features import event_time_features, query_time_features
from rnnrec.device import resolve_device
from rnnrec.errors import ConfigError, RnnrecError, UnknownIdError
from rnnrec.evaluate import MAX_PADDED_EVENTS, evaluate, length_batches
from rnnrec.models.gru4rec import GRU4Rec
from rnnrec.models.session_recipe_gru import SessionRecipeGRU
from rnnrec.models.registry import build_model, is_session_recipe, model_name_of_class, uses_features
from rnnrec.objective import NextItemObjective
from rnnrec.session_trainer import fit_session_recipe
from rnnrec.trainer import Trainer, TrainResult

log = logging.getLogger(__name__)

UNKNOWN_POLICIES = ("raise", "ignore")


class Recommendation(NamedTuple):
    item_id: str
    score: float


def check_request(unknown: str, k: int) -> None:
    """The arguments every ``recommend`` takes: an unknown-ID policy and a positive integer k."""
    if unknown not in UNKNOWN_POLICIES:
        raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def top_k(
    scores: torch.Tensor, seen: Sequence[np.ndarray], items: IdMap, k: int, exclude_seen: bool
) -> list[list[Recommendation]]:
    """Top-``k`` external items per row of ``scores`` (B, I+1) on CPU; padding and, with
    ``exclude_seen``, each row's ``seen`` items are never recommended."""
    scores[:, 0] = float("-inf")
    if exclude_seen:
        for row, s in enumerate(seen):
            if len(s):
                scores[row, torch.from_numpy(np.asarray(s, dtype=np.int64))] = float("-inf")
    top_scores, top_items = torch.topk(scores, min(int(k), len(items)), dim=1)
    out = []
    for row in range(scores.shape[0]):
        keep = torch.isfinite(top_scores[row])
        ids = items.to_external(top_items[row][keep].numpy())
        out.append([Recommendation(i, float(v)) for i, v in zip(ids, top_scores[row][keep].tolist())])
    return out


class SequentialRecommender:
    """Next-item recommender over users' histories.

    >>> rec = SequentialRecommender().fit(dataset)          # doctest: +SKIP
    >>> rec.recommend(user="196", k=5)                       # doctest: +SKIP
    [Recommendation(item_id='50', score=7.1), ...]

    Unknown IDs follow ``unknown``: ``"raise"`` (default) raises :class:`UnknownIdError`;
    ``"ignore"`` drops unknown items from a history, and a user with nothing known left gets the
    most popular items of the training data (scores = training counts).

    The default model (``session_gru``) trains by GRU4Rec's session recipe
    (:func:`~rnnrec.session_trainer.fit_session_recipe`), the others on windows
    (:class:`~rnnrec.trainer.Trainer`). Time-aware models (``model.name`` ``time_interval``,
    ``time_gated``, ``time_decay``) predict at a moment ``at`` (Unix seconds; default: the time of
    the history's last event).
    """

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        self.config = config or RecommenderConfig()
        self.model: SessionRecipeGRU | GRU4Rec | None = None  # GRU4Rec: the window-trained models
        self.items: IdMap | None = None
        self.users: IdMap | None = None
        self.histories: Sequences | None = None
        self.item_counts: np.ndarray | None = None
        self.data_hash: str = ""
        self.train_result: TrainResult | None = None
        self.item_features: ItemFeatures | None = None  # what a multimodal model reads
        self.device = torch.device("cpu")

    # ------------------------------------------------------------------ training
    def fit(self, dataset: SequenceDataset, split: Split | None = None) -> "SequentialRecommender":
        """Train on ``split.train`` (default: the ``loo`` split of ``dataset``), early-stopping on
        ``split.valid``. Afterwards, known users' whole histories are available to ``recommend``."""
        c = self.config
        split = split if split is not None else leave_one_out(dataset)
        torch.manual_seed(c.train.seed)  # model initialisation is part of the seeded run
        self.model = build_model(dataset.n_items, c.model, dataset.item_features)
        features = None
        if self.model.uses_time:
            if not dataset.has_time:
                raise ConfigError(f"model.name = {c.model.name!r} reads time, but this data has no timestamps "
                                  "(use model.name = 'gru4rec')")
            features = event_time_features(split.train, "training events")
        self.device = resolve_device(c.train.device)
        has_valid = len(split.valid) > 0
        validate = (lambda m: evaluate(m, split.valid, c.history_len, device=self.device)) if has_valid else None
        if is_session_recipe(self.model):
            self.train_result = fit_session_recipe(self.model, split.train, c.train, validate)
            self.item_counts = np.bincount(split.train.items, minlength=dataset.n_items + 1).astype(np.int64)
        else:
            objective = NextItemObjective(split.train, dataset.n_items, c.objective, c.train.batch_size, features)
            if hasattr(self.model, "set_training_counts"):  # cold-start models: which items have interactions
                self.model.set_training_counts(objective.item_counts)
            self.train_result = Trainer(c.train).fit(self.model, objective, validate)
            self.item_counts = objective.item_counts
        self.items, self.users, self.histories = dataset.items, dataset.users, dataset.sequences
        self.item_features = dataset.item_features if uses_features(self.model) else None
        self.data_hash = dataset.fingerprint()
        return self

    def _require_model(self) -> SessionRecipeGRU | GRU4Rec:
        if self.model is None:
            raise RnnrecError("the recommender is not fitted: call fit() or load() first")
        return self.model

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, eval_set: EvalSet, exclude_seen: bool = False, batch_size: int = 512) -> dict[str, float]:
        """Full-ranking metrics (pessimistic ties) at 1, 5, 10, 20 over ``eval_set``."""
        model = self._require_model()
        return evaluate(model, eval_set, self.config.history_len, batch_size, exclude_seen=exclude_seen, device=self.device)

    # ------------------------------------------------------------ recommendation
    def recommend(
        self,
        user: str | None = None,
        history: Sequence[str] | None = None,
        k: int = 10,
        exclude_seen: bool = False,
        unknown: str = "raise",
        at: float | None = None,
        history_times: Sequence[float] | None = None,
    ) -> list[Recommendation]:
        """Top-``k`` next items for a known ``user`` (their whole stored history) or for an explicit
        ``history`` of external item IDs (oldest first). Returns external IDs with scores.

        ``at``: when the recommendation is made (Unix seconds), for time-aware models; without it,
        the last event's time. ``history_times``: timestamps of ``history`` (without them, a
        time-aware model sees its gaps and calendar as unknown). Plain models ignore both.
        """
        return self.recommend_many(
            [user] if history is None else None,
            [history] if history is not None else None,
            k, exclude_seen, unknown,
            at=None if at is None else [at],
            history_times=None if history_times is None else [history_times],
        )[0]

    def recommend_many(
        self,
        users: Sequence[str] | None = None,
        histories: Sequence[Sequence[str]] | None = None,
        k: int = 10,
        exclude_seen: bool = False,
        unknown: str = "raise",
        at: Sequence[float | None] | None = None,
        history_times: Sequence[Sequence[float] | None] | None = None,
    ) -> list[list[Recommendation]]:
        """Batched :meth:`recommend`: one list per user (or per history), scored in one pass;
        ``at`` and ``history_times``, when given, hold one entry per user or history."""
        model = self._require_model()
        assert self.items is not None and self.users is not None and self.histories is not None
        check_request(unknown, k)
        seqs, nonempty, vectors = self.query_vectors(users, histories, unknown, at, history_times)
        popularity = torch.from_numpy(self.item_counts.astype(np.float32))
        scores = popularity.repeat(len(seqs), 1)  # (B, I+1) cold-start fallback
        if len(nonempty):
            with torch.no_grad():
                weights, bias = model.output_layer()
                scores[torch.from_numpy(nonempty)] = (vectors @ weights.T + bias).float().cpu()
        return top_k(scores, seqs, self.items, k, exclude_seen)

    def query_vectors(
        self,
        users: Sequence[str] | None = None,
        histories: Sequence[Sequence[str]] | None = None,
        unknown: str = "raise",
        at: Sequence[float | None] | None = None,
        history_times: Sequence[Sequence[float] | None] | None = None,
    ) -> tuple[list[np.ndarray], np.ndarray, torch.Tensor]:
        """What :meth:`recommend_many` scores the items with, for a caller with its own item search
        (the server's index): each row's internal item IDs (its whole history, what
        ``exclude_seen`` leaves out), the rows with at least one known event, and those rows'
        (R, D) output vectors after their last ``config.history_len`` events (on the model's
        device), read in batches of at most ``MAX_PADDED_EVENTS`` padded events. Arguments as
        in :meth:`recommend_many`."""
        model = self._require_model()
        assert self.items is not None and self.users is not None and self.histories is not None
        check_request(unknown, 1)
        if (users is None) == (histories is None):
            raise ValueError("give exactly one of users= or histories=")
        n = len(users) if users is not None else len(histories)  # type: ignore[arg-type]
        for name, values in (("at", at), ("history_times", history_times)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} must have one entry per user or history ({n}), got {len(values)}")
        seqs: list[np.ndarray] = []
        times: list[np.ndarray] = []
        stored_times = self.histories.times
        if users is not None:
            for u in users:
                if u is None:
                    raise ValueError("give a user or a history")
                if str(u) in self.users:
                    row = self.users.to_internal(str(u), "user")
                    seqs.append(self.histories[row])
                    times.append(stored_times[self.histories.offsets[row] : self.histories.offsets[row + 1]]
                                 if stored_times is not None else np.full(len(seqs[-1]), np.nan))
                elif unknown == "raise":
                    raise UnknownIdError(f"unknown user ID {u!r} (not in the model's user map)")
                else:
                    seqs.append(np.empty(0, dtype=np.int64))
                    times.append(np.empty(0))
        else:
            assert histories is not None
            for i, h in enumerate(histories):
                h = list(h)
                t = history_times[i] if history_times is not None else None
                t = np.full(len(h), np.nan) if t is None else np.asarray(t, dtype=np.float64)
                if len(t) != len(h):
                    raise ValueError(f"history {i}: {len(h)} items but {len(t)} history_times")
                known = np.array([str(x) in self.items for x in h], dtype=bool)
                seqs.append(self.items.to_internal_many(h, unknown=unknown, kind="item"))
                times.append(t[known] if len(h) else t)
        batch = Sequences.from_lists([s.tolist() for s in seqs], [t.tolist() for t in times])
        nonempty = np.flatnonzero(batch.lengths > 0)
        if not len(nonempty):
            return seqs, nonempty, torch.empty(0)
        if model.uses_time:
            at_times = np.array([np.nan if a is None else float(a) for a in at], dtype=np.float64) if at is not None \
                else np.full(n, np.nan)
            features = event_time_features(batch, "history")
            queries = query_time_features(batch, at_times, "at")
        read = np.minimum(batch.lengths[nonempty], self.config.history_len)
        order = np.argsort(read, kind="stable")  # long histories in batches of their own (memory)
        parts = []
        model.eval()
        for part in length_batches(order, read[order], len(order), MAX_PADDED_EVENTS):
            rows = nonempty[part]
            idx, valid, lengths = batch.padded_index(rows, self.config.history_len)
            items = torch.from_numpy(np.where(valid, batch.items[idx], 0)).to(self.device)
            time_in = time_q = None
            if model.uses_time:
                time_in = torch.from_numpy(features[idx]).to(self.device)
                time_q = torch.from_numpy(queries[rows]).to(self.device)
            with torch.no_grad():
                parts.append(model.last_output_vectors(items, torch.from_numpy(lengths).to(self.device), time_in, time_q))
        vectors = torch.cat(parts)[torch.from_numpy(np.argsort(order)).to(self.device)]  # back to request order
        return seqs, nonempty, vectors

    # --------------------------------------------------------------- save / load
    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        model = self._require_model()
        assert self.items is not None and self.users is not None and self.histories is not None
        return save_artifact(
            Artifact(
                model_class=type(model).__name__,
                config=self.config.to_dict(),
                items=self.items,
                users=self.users,
                state_dict=model.state_dict(),
                histories=self.histories,
                item_counts=self.item_counts,
                data_hash=self.data_hash,
                extra=extra,
                item_features=self.item_features,
            ),
            path,
        )

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "SequentialRecommender":
        art = load_artifact(path)
        if model_name_of_class(art.model_class) is None:
            raise RnnrecError(f"{path}: model class {art.model_class!r} is not supported by this version")
        rec = cls(RecommenderConfig.from_dict(art.config, source=f"{path}/config.json"))
        rec.model = build_model(len(art.items), rec.config.model, art.item_features)
        rec.model.load_state_dict(art.state_dict)
        rec.device = resolve_device(device)
        rec.model.to(rec.device).eval()
        rec.items, rec.users, rec.histories = art.items, art.users, art.histories
        rec.item_counts, rec.data_hash, rec.item_features = art.item_counts, art.data_hash, art.item_features
        return rec
