"""Shared by the benchmark harness and every peer runner (numpy + stdlib only, any venv).

Split folder layout (written by ``benchmarks/loo_benchmark.py``, read here):

- ``items.txt``  — the catalogue: every item of the dataset, one external ID a line, in rnnrec's
  internal order (line k is rnnrec item k+1). Column index into a score matrix = line number.
- ``train.tsv``  — ``user  item  pos``: training events of every evaluated user, in time order;
  ``pos`` is the 0-based position inside the user's full history (strictly increasing per user).
- ``valid.tsv``  — ``user  item  pos``: one validation target per user (pos = #training events).
- ``test.tsv``   — ``user  item  pos``: one test target per user (pos = #training events + 1).
- ``meta.json``  — counts, source file, rnnrec fingerprint.

Users appear in the same order in valid.tsv and test.tsv. Peers use ``pos`` as their timestamp,
so every library sees exactly rnnrec's event order (no tie-breaking differences).

Runner output (``OUT/ranks.npz`` + ``OUT/result.json``): for each of ``valid`` and ``test``, per
target: the user, the target item, the target's score, ``n_higher`` (#catalogue items scoring
strictly higher) and ``n_equal`` (#OTHER catalogue items scoring exactly the same), computed over
the full catalogue, seen items not removed, items unknown to the model scored ``-inf``. The harness
turns these into pessimistic ranks (``1 + n_higher + n_equal``) and metrics (PROTOCOL.md §1).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KS = (1, 5, 10, 20)
TOPK_SAVED = 20


@dataclass
class Events:
    users: list[str]
    items: list[str]
    pos: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class SplitFiles:
    folder: Path
    catalogue: list[str]
    train: Events
    valid: Events
    test: Events
    meta: dict

    @property
    def item_index(self) -> dict[str, int]:
        return {it: i for i, it in enumerate(self.catalogue)}


def _read_events(path: Path) -> Events:
    users, items, pos = [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f, delimiter="\t")
        header = next(r)
        assert header == ["user", "item", "pos"], header
        for u, i, p in r:
            users.append(u)
            items.append(i)
            pos.append(int(p))
    return Events(users, items, np.asarray(pos, dtype=np.int64))


def write_events(path: Path, users, items, pos) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["user", "item", "pos"])
        w.writerows(zip(users, items, (int(p) for p in pos)))


def load_split(folder: str | os.PathLike) -> SplitFiles:
    folder = Path(folder)
    catalogue = (folder / "items.txt").read_text(encoding="utf-8").split("\n")
    if catalogue and catalogue[-1] == "":
        catalogue.pop()
    sf = SplitFiles(
        folder,
        catalogue,
        _read_events(folder / "train.tsv"),
        _read_events(folder / "valid.tsv"),
        _read_events(folder / "test.tsv"),
        json.loads((folder / "meta.json").read_text(encoding="utf-8")),
    )
    assert sf.valid.users == sf.test.users, "valid.tsv and test.tsv must list the same users in the same order"
    return sf


def rank_counts(scores: np.ndarray, target_cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``scores`` (B, C) over the whole catalogue; returns (target_score, n_higher, n_equal).

    NaN counts as -inf. ``n_equal`` excludes the target itself. Pessimistic rank = 1 + n_higher + n_equal.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isnan(s), -np.inf, s)
    rows = np.arange(s.shape[0])
    t = s[rows, target_cols][:, None]
    n_higher = (s > t).sum(axis=1)
    n_equal = (s == t).sum(axis=1) - 1
    return t[:, 0], n_higher.astype(np.int64), n_equal.astype(np.int64)


def top_k(scores: np.ndarray, k: int = TOPK_SAVED) -> np.ndarray:
    """(B, k) catalogue columns of the k best scores, best first (for inspection only)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


class RankWriter:
    """Accumulates per-target rank counts for one split (``valid`` or ``test``), batch by batch."""

    def __init__(self, n_catalogue: int):
        self.n_catalogue = n_catalogue
        self.users: list[str] = []
        self.targets: list[int] = []
        self.target_score: list[np.ndarray] = []
        self.n_higher: list[np.ndarray] = []
        self.n_equal: list[np.ndarray] = []
        self.topk: list[np.ndarray] = []

    def add(self, users: list[str], target_cols: np.ndarray, scores: np.ndarray) -> None:
        """``scores`` (B, C) over the full catalogue (unknown items already -inf)."""
        assert scores.shape == (len(users), self.n_catalogue), (scores.shape, len(users), self.n_catalogue)
        target_cols = np.asarray(target_cols, dtype=np.int64)
        ts, nh, ne = rank_counts(scores, target_cols)
        self.users.extend(users)
        self.targets.extend(target_cols.tolist())
        self.target_score.append(ts)
        self.n_higher.append(nh)
        self.n_equal.append(ne)
        self.topk.append(top_k(np.where(np.isnan(scores), -np.inf, scores)))

    def add_cold(self, users: list[str], target_cols: np.ndarray) -> None:
        """Users the model cannot score at all: every item -inf, i.e. the worst rank."""
        n = len(users)
        self.users.extend(users)
        self.targets.extend(np.asarray(target_cols, dtype=np.int64).tolist())
        self.target_score.append(np.full(n, -np.inf))
        self.n_higher.append(np.zeros(n, dtype=np.int64))
        self.n_equal.append(np.full(n, self.n_catalogue - 1, dtype=np.int64))
        self.topk.append(np.full((n, min(TOPK_SAVED, self.n_catalogue)), -1, dtype=np.int64))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt)  # noqa: E731
        return {
            f"{prefix}_users": np.asarray(self.users, dtype=str),
            f"{prefix}_targets": np.asarray(self.targets, dtype=np.int64),
            f"{prefix}_target_score": cat(self.target_score, np.float64),
            f"{prefix}_n_higher": cat(self.n_higher, np.int64),
            f"{prefix}_n_equal": cat(self.n_equal, np.int64),
            f"{prefix}_topk": np.concatenate(self.topk) if self.topk else np.zeros((0, TOPK_SAVED), dtype=np.int64),
        }


def save_output(out: str | os.PathLike, writers: dict[str, RankWriter], result: dict) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for name, w in writers.items():
        arrays.update(w.arrays(name))
    np.savez_compressed(out / "ranks.npz", **arrays)
    (out / "result.json").write_text(json.dumps(result, indent=2, default=_json_default), encoding="utf-8")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def metrics_from_ranks(ranks: np.ndarray, ks=KS) -> dict[str, float]:
    """PROTOCOL §1.8: HR@k = Recall@k, NDCG@k, MRR@k averaged over targets."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks <= k
        out[f"HR@{k}"] = float(hit.mean())
        out[f"Recall@{k}"] = out[f"HR@{k}"]
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean())
        out[f"MRR@{k}"] = float(np.where(hit, 1.0 / ranks, 0.0).mean())
    return out
