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
from rnnrec.data.sequences import Sequences
from rnnrec.data.split import EvalSet, Split, leave_one_out
from rnnrec.device import resolve_device
from rnnrec.errors import RnnrecError, UnknownIdError
from rnnrec.evaluate import evaluate
from rnnrec.models.gru4rec import GRU4Rec
from rnnrec.objective import NextItemObjective
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
    """

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        self.config = config or RecommenderConfig()
        self.model: GRU4Rec | None = None
        self.items: IdMap | None = None
        self.users: IdMap | None = None
        self.histories: Sequences | None = None
        self.item_counts: np.ndarray | None = None
        self.data_hash: str = ""
        self.train_result: TrainResult | None = None
        self.device = torch.device("cpu")

    # ------------------------------------------------------------------ training
    def fit(self, dataset: SequenceDataset, split: Split | None = None) -> "SequentialRecommender":
        """Train on ``split.train`` (default: the ``loo`` split of ``dataset``), early-stopping on
        ``split.valid``. Afterwards, known users' whole histories are available to ``recommend``."""
        c = self.config
        split = split if split is not None else leave_one_out(dataset)
        torch.manual_seed(c.train.seed)  # model initialisation is part of the seeded run
        self.model = GRU4Rec(dataset.n_items, c.model)
        trainer = Trainer(c.train)
        self.device = trainer.device
        objective = NextItemObjective(split.train, dataset.n_items, c.objective, c.train.batch_size)
        has_valid = len(split.valid) > 0
        validate = (lambda m: evaluate(m, split.valid, c.objective.max_len, device=self.device)) if has_valid else None
        self.train_result = trainer.fit(self.model, objective, validate)
        self.items, self.users, self.histories = dataset.items, dataset.users, dataset.sequences
        self.item_counts = objective.item_counts
        self.data_hash = dataset.fingerprint()
        return self

    def _require_model(self) -> GRU4Rec:
        if self.model is None:
            raise RnnrecError("the recommender is not fitted: call fit() or load() first")
        return self.model

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, eval_set: EvalSet, exclude_seen: bool = False, batch_size: int = 512) -> dict[str, float]:
        """Full-ranking metrics (pessimistic ties) at 1, 5, 10, 20 over ``eval_set``."""
        model = self._require_model()
        return evaluate(model, eval_set, self.config.objective.max_len, batch_size, exclude_seen=exclude_seen, device=self.device)

    # ------------------------------------------------------------ recommendation
    def recommend(
        self,
        user: str | None = None,
        history: Sequence[str] | None = None,
        k: int = 10,
        exclude_seen: bool = False,
        unknown: str = "raise",
    ) -> list[Recommendation]:
        """Top-``k`` next items for a known ``user`` (their whole stored history) or for an explicit
        ``history`` of external item IDs (oldest first). Returns external IDs with scores."""
        return self.recommend_many([user] if history is None else None, [history] if history is not None else None,
                                   k, exclude_seen, unknown)[0]

    def recommend_many(
        self,
        users: Sequence[str] | None = None,
        histories: Sequence[Sequence[str]] | None = None,
        k: int = 10,
        exclude_seen: bool = False,
        unknown: str = "raise",
    ) -> list[list[Recommendation]]:
        """Batched :meth:`recommend`: one list per user (or per history), scored in one pass."""
        model = self._require_model()
        assert self.items is not None and self.users is not None and self.histories is not None
        check_request(unknown, k)
        if (users is None) == (histories is None):
            raise ValueError("give exactly one of users= or histories=")
        seqs: list[np.ndarray] = []
        if users is not None:
            for u in users:
                if u is None:
                    raise ValueError("give a user or a history")
                if str(u) in self.users:
                    seqs.append(self.histories[self.users.to_internal(str(u), "user")])
                elif unknown == "raise":
                    raise UnknownIdError(f"unknown user ID {u!r} (not in the model's user map)")
                else:
                    seqs.append(np.empty(0, dtype=np.int64))
        else:
            assert histories is not None
            for h in histories:
                seqs.append(self.items.to_internal_many(h, unknown=unknown, kind="item"))
        batch = Sequences.from_lists([s.tolist() for s in seqs])
        nonempty = np.flatnonzero(batch.lengths > 0)
        popularity = torch.from_numpy(self.item_counts.astype(np.float32))
        scores = popularity.repeat(len(seqs), 1)  # (B, I+1) cold-start fallback
        if len(nonempty):
            items, lengths = batch.to_padded(nonempty, self.config.objective.max_len)
            model.eval()
            with torch.no_grad():
                s = model.score(torch.from_numpy(items).to(self.device), torch.from_numpy(lengths).to(self.device))
            scores[torch.from_numpy(nonempty)] = s.float().cpu()
        return top_k(scores, seqs, self.items, k, exclude_seen)

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
            ),
            path,
        )

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "SequentialRecommender":
        art = load_artifact(path)
        if art.model_class != GRU4Rec.__name__:
            raise RnnrecError(f"{path}: model class {art.model_class!r} is not supported by this version")
        rec = cls(RecommenderConfig.from_dict(art.config, source=f"{path}/config.json"))
        rec.model = GRU4Rec(len(art.items), rec.config.model)
        rec.model.load_state_dict(art.state_dict)
        rec.device = resolve_device(device)
        rec.model.to(rec.device).eval()
        rec.items, rec.users, rec.histories = art.items, art.users, art.histories
        rec.item_counts, rec.data_hash = art.item_counts, art.data_hash
        return rec
