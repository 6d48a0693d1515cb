"""A trained recommender that keeps each user's recurrent state up to date, one step per event.

Why: a recurrent model's state after N events is a fixed-size summary of all of them. Advancing it
by one step per new event costs the same whatever the history's length, where a stateless call
re-reads the last ``max_len`` events every time. The states live in a :class:`StateStore`, so they
outlast the process; this class only computes.

Policies:
- a user the model was trained on starts from the state after their training history; a user
  never seen starts from the model's initial state (and gets popularity until their first event);
- an event whose item the model does not know is logged (a later model may know it) but does not
  move the state; the caller is told which items were unknown;
- states read every event since the start, not only the last ``max_len`` as the batch recommender
  does, so for long histories the two can differ slightly (with ``objective.carry_state``, and
  with ``model.name = "session_gru"``, both read whole histories and agree).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rnnrec.data.time_features import time_features
from rnnrec.errors import RnnrecError
from rnnrec.recommender import Recommendation, SequentialRecommender, check_request, top_k
from rnnrec.serving.item_index import ExactIndex, HnswIndex, build_index
from rnnrec.serving.state_store import Event, ModelChanged, StateConflict, StateStore, UserState, new_versions


def artifact_key(model_dir: str | Path) -> str:
    """Fingerprint of a saved model (its configuration and weights): states computed by one model
    are never reused with another."""
    digest = hashlib.sha256()
    for name in ("config.json", "weights.pt"):
        digest.update((Path(model_dir) / name).read_bytes())
    return digest.hexdigest()[:32]


SEEN_CACHE_USERS = 100_000  # users whose seen items are kept in memory (least recently used dropped)
START_CACHE_USERS = 10_000  # trained users whose state after their training history is kept in memory
MAX_ATTEMPTS = 20  # reads and recomputations of a batch when other processes keep changing its users' states


@dataclass
class ApplyResult:
    accepted: int = 0
    applied: int = 0
    unknown_items: list[str] = field(default_factory=list)


def _insert_sorted(sorted_ids: np.ndarray, new: np.ndarray | list) -> np.ndarray:
    """``sorted_ids`` (sorted, unique) with ``new`` added: a few insertions into a long array, not a
    re-sort of all of it."""
    if len(new) == 1 and len(sorted_ids):  # one event, the usual case: a bisection and one copy
        x = int(new[0])
        at = bisect.bisect_left(sorted_ids, x)  # type: ignore[call-overload]
        if at < len(sorted_ids) and sorted_ids[at] == x:
            return sorted_ids
        return np.concatenate((sorted_ids[:at], np.array([x], dtype=np.int64), sorted_ids[at:]))
    new = np.unique(np.asarray(new, dtype=np.int64))
    if not len(sorted_ids) or not len(new):
        return new if not len(sorted_ids) else sorted_ids
    at = np.searchsorted(sorted_ids, new)
    present = (at < len(sorted_ids)) & (sorted_ids[np.minimum(at, len(sorted_ids) - 1)] == new)
    return np.insert(sorted_ids, at[~present], new[~present])


class UnknownUser(RnnrecError):
    """Recommendations were asked for a user neither trained on nor with a logged event."""


@dataclass
class RecommendRequest:
    user: str
    k: int = 20
    exclude_seen: bool = True
    at: float | None = None  # Unix seconds (time-aware models); None: the last event's time
    unknown_user: str = "error"  # a user with no state at all: "error" (UnknownUser) or "popular"


@dataclass
class HistoryRequest:
    """Stateless: the top-``k`` after a history given by the caller (external item IDs, oldest
    first; items the model does not know are left out), read from the initial state."""

    history: list[str]
    history_times: list[float] | None = None
    k: int = 20
    exclude_seen: bool = False  # leave out the history's own items
    at: float | None = None  # Unix seconds (time-aware models); None: the last event's time


@dataclass
class _Request:
    events: list[Event]
    done: bool = False
    result: ApplyResult | None = None
    error: Exception | None = None


class LiveRecommender:
    def __init__(
        self,
        recommender: SequentialRecommender,
        store: StateStore,
        key: str,
        model_dir: str | Path | None = None,
        index: str = "exact",
    ) -> None:
        if recommender.model is None:
            raise ValueError("the recommender has no trained model")
        self.rec = recommender
        self.model = recommender.model.eval()
        self.store = store
        self.key = key
        self.model_dir = model_dir
        # One lock around every use of the model and the states: each user's events are applied in
        # arrival order, and a reload never lets a request mix two models.
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()  # guards _queue: requests waiting for the model
        self._queue: list[_Request] = []
        self.index_kind = index
        self._seen: OrderedDict[str, tuple[int, np.ndarray]] = OrderedDict()  # user → (state version, seen items)
        self._starts: OrderedDict[str, UserState] = OrderedDict()  # trained user → state after the training history
        self.index = self._build_index(recommender)
        if store.model_key() != key:
            with self._lock:
                self._rebuild_states()

    @classmethod
    def open(cls, model_dir: str | Path, store: StateStore, index: str = "exact") -> "LiveRecommender":
        """``index``: top-k search, "exact", "hnsw" (approximate, faiss) or "auto" (HNSW from
        100,000 items on)."""
        return cls(SequentialRecommender.load(model_dir), store, artifact_key(model_dir), model_dir, index)

    def reload(self, model_dir: str | Path | None = None) -> dict:
        """Swap in the model saved in ``model_dir`` (default: the folder served now, re-read). It is
        loaded before the swap, so requests keep being served meanwhile; the states of a different
        model are rebuilt from the event log."""
        model_dir = model_dir if model_dir is not None else self.model_dir
        if model_dir is None:
            raise ValueError("no model folder to reload from")
        rec, key = SequentialRecommender.load(model_dir), artifact_key(model_dir)
        index = self._build_index(rec)  # the slow part (an HNSW graph), done before taking the model
        with self._lock:
            previous = self.key
            self._swap(rec, key, model_dir, index)
            rebuilt = self._rebuild_states() if self.store.model_key() != key else 0
        return {"model_key": key, "previous_model_key": previous, "users_rebuilt": rebuilt}

    def _swap(self, rec: SequentialRecommender, key: str, model_dir: str | Path, index: ExactIndex | HnswIndex) -> None:
        """Serve ``rec`` (searched with ``index``) from now on (the caller holds the lock)."""
        self.rec, self.model, self.key, self.model_dir = rec, rec.model.eval(), key, model_dir  # type: ignore[union-attr]
        self.index = index
        self._seen.clear()  # internal IDs belong to the previous model's item map
        self._starts.clear()  # states of the previous model

    def _check_stored_model(self) -> None:
        """Another process sharing the store may have reloaded a newer model (its states are stored
        now): follow it if this process's folder holds that model, else raise :class:`ModelChanged`
        (the caller holds the lock)."""
        stored = self.store.model_key()
        if stored == self.key:
            return
        if self.model_dir is not None and artifact_key(self.model_dir) == stored:
            rec = SequentialRecommender.load(self.model_dir)
            self._swap(rec, stored, self.model_dir, self._build_index(rec))
            return
        raise ModelChanged(f"the stored states belong to model {stored}, this process serves {self.key}: another "
                           "process sharing the state store loaded another model; reload this one too")

    # ------------------------------------------------------------------ states
    def _start_states(self, users: list[str]) -> dict[str, UserState]:
        """States before any logged event: after the training history for known users (kept for the
        next call), else initial."""
        if not users:
            return {}
        rec = self.rec
        assert rec.users is not None and rec.histories is not None and rec.items is not None
        todo = [u for u in dict.fromkeys(users) if u in rec.users and u not in self._starts]
        if todo:
            self._starts.update(zip(todo, _training_states(rec, todo)))
        out: dict[str, UserState] = {}
        for u in users:
            hit = self._starts.get(u)
            if hit is not None:
                self._starts.move_to_end(u)
                out[u] = UserState(hit.state, hit.last_ts, hit.n_applied)
        while len(self._starts) > START_CACHE_USERS:
            self._starts.popitem(last=False)
        initial = self.model.initial_state(1)[0].detach().cpu().numpy().astype(np.float32)
        for u in users:
            out.setdefault(u, UserState(initial.copy(), None, 0))
        return out

    def _rebuild_states(self) -> int:
        """Recompute every stored state from the training histories and the event log (after a
        model change; the caller holds the lock); returns the number of users rebuilt."""
        users = list(self.store.users())
        self.store.reset_states(self.key)
        start = self._start_states(users)
        rebuilt: dict[str, UserState] = {}
        for u in users:
            events = [Event(u, item, ts) for item, ts, _ in self.store.events_of(u)]
            rebuilt[u] = self._advance({u: start[u]}, events)[0][u]
            rebuilt[u].version = len(events)
        self.store.put_states(rebuilt)
        return len(users)

    def _advance(self, states: dict[str, UserState], events: list[Event]) -> tuple[dict[str, UserState], list[bool]]:
        """Apply ``events`` (in order) to ``states``; all users' k-th events go through the model together."""
        items = self.rec.items
        assert items is not None
        applied = [e.item_id in items for e in events]
        per_user: dict[str, list[Event]] = defaultdict(list)
        for e, ok in zip(events, applied):
            if ok:
                per_user[e.user_id].append(e)
        states = {u: UserState(s.state, s.last_ts, s.n_applied, s.version) for u, s in states.items()}
        rounds = max((len(v) for v in per_user.values()), default=0)
        with torch.no_grad():
            for k in range(rounds):
                users = [u for u, evs in per_user.items() if len(evs) > k]
                evs = [per_user[u][k] for u in users]
                item_ids = torch.from_numpy(items.to_internal_many([e.item_id for e in evs]))
                state = torch.from_numpy(np.stack([states[u].state for u in users])).to(self.rec.device)
                time_in = None
                if self.model.uses_time:
                    prev = np.array([np.nan if states[u].last_ts is None else states[u].last_ts for u in users])
                    now = np.array([np.nan if e.ts is None else e.ts for e in evs])
                    time_in = torch.from_numpy(time_features(prev, now, "event ts"))[:, None].to(self.rec.device)
                new = self.model.step(item_ids.to(self.rec.device), state, time_in)
                new = new.float().cpu().numpy()
                for row, (u, e) in enumerate(zip(users, evs)):
                    s = states[u]
                    states[u] = UserState(new[row], e.ts if e.ts is not None else s.last_ts, s.n_applied + 1, s.version)
        return states, applied

    # ------------------------------------------------------------------ API
    def apply(self, events: list[Event]) -> ApplyResult:
        """Log ``events`` and advance their users' states, atomically; returns what was applied.

        Concurrent calls are micro-batched: whichever caller gets the model next applies every
        request waiting by then in one pass (one model step per round of events, one transaction),
        in arrival order. A request that fails (say, an event older than its user's last) fails
        alone: the batch is then applied request by request.
        """
        if not events:
            return ApplyResult()
        mine = _Request(events)
        with self._queue_lock:
            self._queue.append(mine)
        with self._lock:
            if not mine.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._apply_requests(batch)
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _apply_requests(self, batch: list["_Request"], stored: dict[str, UserState] | None = None) -> None:
        """Apply queued requests together (the caller holds the lock); each gets its result or error.
        ``stored`` collects the states written."""
        try:
            applied = self._apply_locked([e for r in batch for e in r.events], stored)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            for r in batch:  # find the request(s) at fault; the others go through
                self._apply_requests([r], stored)
            return
        start = 0
        for r in batch:
            flags = applied[start : start + len(r.events)]
            start += len(r.events)
            unknown = list(dict.fromkeys(e.item_id for e, ok in zip(r.events, flags) if not ok))
            r.result, r.done = ApplyResult(len(r.events), sum(flags), unknown), True

    def _apply_locked(self, events: list[Event], stored: dict[str, UserState] | None = None) -> list[bool]:
        """Read, advance, store (the caller holds the lock); retried when another process wrote first.
        ``stored`` collects the states written, with their new versions."""
        users = list(dict.fromkeys(e.user_id for e in events))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            states = self.store.states(users)
            expected = {u: states[u].version if u in states else 0 for u in users}
            states.update(self._start_states([u for u in users if u not in states]))
            new, applied = self._advance({u: states[u] for u in users}, events)
            try:
                self.store.append(events, applied, new, expected, model_key=self.key)
                versions = new_versions(events, expected)
                self._extend_seen(events, applied, expected, versions)
                if stored is not None:
                    for user, version in versions.items():
                        stored[user] = UserState(new[user].state, new[user].last_ts, new[user].n_applied, version)
                return applied
            except ModelChanged:  # another process reloaded: follow it (or raise), then read again
                self._check_stored_model()
            except StateConflict:  # another server process got there first: read again
                if attempt == MAX_ATTEMPTS:
                    raise
        raise StateConflict(f"the stored model kept changing over {MAX_ATTEMPTS} attempts")

    def state_of(self, user: str) -> UserState:
        stored = self.store.states([user])
        return stored[user] if user in stored else self._start_states([user])[user]

    def seen_items(self, user: str, version: int | None = None) -> np.ndarray:
        """Internal IDs of the user's training history and applied logged events. With the
        ``version`` of the user's state, a cached answer for that version is reused (events this
        process applies extend it) instead of reading the user's whole log again."""
        hit = self._seen.get(user)
        if version is not None and hit is not None and hit[0] == version:
            self._seen.move_to_end(user)
            return hit[1]
        rec = self.rec
        assert rec.users is not None and rec.histories is not None and rec.items is not None
        seen = [rec.histories[rec.users.to_internal(user, "user")]] if user in rec.users else []
        logged = [item for item, _, ok in self.store.events_of(user) if ok]
        seen.append(rec.items.to_internal_many(logged) if logged else np.empty(0, dtype=np.int64))
        out = np.unique(np.concatenate(seen))
        if version is not None:
            self._remember_seen(user, version, out)
        return out

    def _remember_seen(self, user: str, version: int, items: np.ndarray) -> None:
        self._seen[user] = (version, items)
        self._seen.move_to_end(user)
        while len(self._seen) > SEEN_CACHE_USERS:
            self._seen.popitem(last=False)

    def _extend_seen(self, events: list[Event], applied: list[bool], expected: dict[str, int],
                     versions: dict[str, int]) -> None:
        """After ``events`` were stored: cached seen items at the version read (``expected``) become
        those of the version stored (``versions``)."""
        assert self.rec.items is not None
        added: dict[str, list[str]] = defaultdict(list)
        for e, ok in zip(events, applied):
            added[e.user_id].extend([e.item_id] if ok else [])
        for user, items in added.items():
            hit = self._seen.get(user)
            if hit is not None and hit[0] == expected[user]:
                new = self.rec.items.to_internal_many(items) if items else []
                self._remember_seen(user, versions[user], _insert_sorted(hit[1], new))

    def recommend(self, user: str, k: int = 20, exclude_seen: bool = False, at: float | None = None) -> list[Recommendation]:
        """Top-``k`` from the user's current state; ``at`` (Unix seconds): when, for time-aware models
        (default: the last event's time). A user with no event at all gets the most popular items."""
        out = self.run_batch([RecommendRequest(user, k, exclude_seen, at, unknown_user="popular")])[0]
        if isinstance(out, Exception):
            raise out
        return out  # type: ignore[return-value]

    def run_batch(self, jobs: list[list[Event] | RecommendRequest | HistoryRequest],
                  wait: bool = True) -> list[ApplyResult | list[Recommendation] | Exception] | None:
        """Serve queued work under one hold of the model: every event list in one pass (:meth:`apply`'s
        micro-batch, in arrival order), then every recommendation request in one batched search,
        then every stateless request (one padded pass over their histories, one search).
        Returns each job's result, or the exception that job alone raised; with ``wait=False``, None
        at once if the model is busy (a reload, say).

        Recommendations come after the batch's events even when asked first: the jobs of a batch
        are all in flight at once, none answered, so either order is one the callers could see.
        """
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            try:
                self._check_stored_model()
            except ModelChanged as exc:
                return [exc] * len(jobs)
            applies = [i for i, job in enumerate(jobs) if isinstance(job, list)]
            asks = [i for i, job in enumerate(jobs) if isinstance(job, RecommendRequest)]
            stateless = [i for i, job in enumerate(jobs) if isinstance(job, HistoryRequest)]
            out: list = [None] * len(jobs)
            requests = [_Request(jobs[i]) for i in applies]  # type: ignore[arg-type]
            stored: dict[str, UserState] = {}  # what the events just wrote: no need to read it back
            if requests:
                self._apply_requests(requests, stored)
            for i, r in zip(applies, requests):
                out[i] = r.error if r.error is not None else r.result
            if asks:
                for i, r in zip(asks, self._recommend_each([jobs[i] for i in asks], stored)):  # type: ignore[misc]
                    out[i] = r
            if stateless:
                for i, r in zip(stateless, self._each(self._recommend_histories, [jobs[i] for i in stateless])):
                    out[i] = r
            return out
        finally:
            self._lock.release()

    def _recommend_each(self, requests: list[RecommendRequest],
                        known: dict[str, UserState] | None = None) -> list[list[Recommendation] | Exception]:
        return self._each(lambda batch: self._recommend_many(batch, known), requests)

    def _each(self, serve, requests: list) -> list[list[Recommendation] | Exception]:
        """``serve(requests)``, all in one batch; if that fails, one by one, so only the request at
        fault gets the error (the caller holds the lock)."""
        try:
            return serve(requests)
        except Exception as exc:
            if len(requests) == 1:
                return [exc]
            return [r for request in requests for r in self._each(serve, [request])]

    def _recommend_many(self, requests: list[RecommendRequest],
                        known: dict[str, UserState] | None = None) -> list[list[Recommendation] | Exception]:
        """One state read, one output-vector pass and one top-k search for every request; ``known``:
        states this batch has just stored (not read again)."""
        rec = self.rec
        assert rec.items is not None
        users = list(dict.fromkeys(r.user for r in requests))
        known = known or {}
        states = {u: known[u] for u in users if u in known}
        unread = [u for u in users if u not in known]
        if unread:
            states.update(self.store.states(unread))
        trained = [u for u in users if u not in states and rec.users is not None and u in rec.users]
        states.update(self._start_states(trained))
        out: list[list[Recommendation] | Exception] = []
        searched: list[int] = []  # requests answered from their state
        for i, r in enumerate(requests):
            check_request("raise", r.k)
            s = states.get(r.user)
            if s is None and r.unknown_user == "error":
                out.append(UnknownUser(f"unknown user ID {r.user!r}: not in the training data and no event logged; "
                                       "POST an event first, or POST /v1/recommendations with a history"))
                continue
            if s is None or s.n_applied == 0:  # nothing to go on: the most popular items
                seen = self.seen_items(r.user, 0 if s is None else s.version) if r.exclude_seen else np.empty(0, np.int64)
                out.append(self._popular(seen, r.k, r.exclude_seen))
                continue
            out.append([])
            searched.append(i)
        if searched:
            picked = [states[requests[i].user] for i in searched]
            queries = _output_vectors(rec, np.stack([s.state for s in picked]), [s.last_ts for s in picked],
                                      [requests[i].at for i in searched])
            seen = [self.seen_items(requests[i].user, s.version) if requests[i].exclude_seen else np.empty(0, np.int64)
                    for i, s in zip(searched, picked)]
            self._search_into(out, searched, queries, [requests[i].k for i in searched], seen)
        return out

    def _recommend_histories(self, requests: list[HistoryRequest]) -> list[list[Recommendation]]:
        """Stateless requests: their histories (the last ``config.history_len`` events of each)
        read in one padded pass from the initial state, then one search; a history with no known
        item gets the most popular items, as :meth:`SequentialRecommender.recommend` gives it."""
        rec = self.rec
        assert rec.items is not None
        for r in requests:
            check_request("ignore", r.k)
        seqs, nonempty, vectors = rec.query_vectors(
            histories=[r.history for r in requests], unknown="ignore", at=[r.at for r in requests],
            history_times=[r.history_times for r in requests])
        seen = [s if r.exclude_seen else np.empty(0, np.int64) for s, r in zip(seqs, requests)]
        out: list[list[Recommendation]] = [[] for _ in requests]
        for i in np.setdiff1d(np.arange(len(requests)), nonempty).tolist():
            out[i] = self._popular(seen[i], requests[i].k, requests[i].exclude_seen)
        if len(nonempty):
            rows = nonempty.tolist()
            self._search_into(out, rows, vectors.float().cpu().numpy(), [requests[i].k for i in rows], [seen[i] for i in rows])
        return out

    def _popular(self, seen: np.ndarray, k: int, exclude_seen: bool) -> list[Recommendation]:
        """The ``k`` most popular training items (scores = training counts), for a request with
        nothing to go on."""
        assert self.rec.items is not None
        scores = torch.from_numpy(self.rec.item_counts.astype(np.float32))[None]
        return top_k(scores, [seen], self.rec.items, k, exclude_seen)[0]

    def _search_into(self, out: list, rows: list[int], queries: np.ndarray, ks: list[int], seen: list[np.ndarray]) -> None:
        """One index search for ``queries``; ``out[rows[j]]``: the top-``ks[j]`` of query j, as
        external item IDs with scores."""
        assert self.rec.items is not None
        scores, ids = self.index.search(queries, max(ks), seen)
        for j, (i, k) in enumerate(zip(rows, ks)):
            keep = ids[j, :k] > 0
            external = self.rec.items.to_external(ids[j, :k][keep])
            out[i] = [Recommendation(item, float(v)) for item, v in zip(external, scores[j, :k][keep].tolist())]

    def _build_index(self, rec: SequentialRecommender) -> ExactIndex | HnswIndex:
        """The item index of ``rec``'s model; an approximate one is checked on the output vectors of
        up to 256 training users (their states after their training histories). Reads nothing of
        the model served now, so a reload builds it before taking the model."""
        assert rec.model is not None
        with torch.no_grad():
            weights, bias = rec.model.output_layer()
        sample = None
        if self.index_kind != "exact" and rec.users is not None and len(rec.users):
            rng = np.random.default_rng(0)
            users = list(rng.choice(rec.users.external, size=min(256, len(rec.users)), replace=False))
            start = _training_states(rec, users)
            sample = _output_vectors(rec, np.stack([s.state for s in start]), [s.last_ts for s in start],
                                     [None] * len(users))
        return build_index(weights, bias, self.index_kind, sample)


def _training_states(rec: SequentialRecommender, users: list[str]) -> list[UserState]:
    """Each trained user's state after their whole training history."""
    assert rec.users is not None and rec.histories is not None
    rows = [rec.users.to_internal(u, "user") for u in users]
    seqs = [rec.histories[r] for r in rows]
    stored = rec.histories.times
    times = [None if stored is None else stored[rec.histories.offsets[r] : rec.histories.offsets[r + 1]] for r in rows]
    out = []
    for state, seq, t in zip(_encode_histories(rec, seqs, times), seqs, times):
        last_ts = None if t is None or not len(t) or np.isnan(t[-1]) else float(t[-1])
        out.append(UserState(state, last_ts, len(seq)))
    return out


def _encode_histories(rec: SequentialRecommender, seqs: list[np.ndarray], times: list[np.ndarray | None]) -> list[np.ndarray]:
    """States after each whole history (one by one: histories differ in length, and a padded
    batch would run the recurrence over the padding too)."""
    model = rec.model
    assert model is not None
    out = []
    with torch.no_grad():
        for seq, t in zip(seqs, times):
            if not len(seq):
                out.append(model.initial_state(1)[0].cpu().numpy())
                continue
            items = torch.from_numpy(np.asarray(seq, dtype=np.int64))[None].to(rec.device)
            time_in = None
            if model.uses_time:
                t = np.full(len(seq), np.nan) if t is None else np.asarray(t, dtype=np.float64)
                prev = np.concatenate([[np.nan], t[:-1]])
                time_in = torch.from_numpy(time_features(prev, t))[None].to(rec.device)
            _, state = model.encode(items, time_in, model.initial_state(1))
            out.append(state[0].float().cpu().numpy())
    return out


def _output_vectors(rec: SequentialRecommender, states: np.ndarray, last_ts: list[float | None],
                    at: list[float | None]) -> np.ndarray:
    """(B, S) states → (B, D) output vectors of ``rec``'s model at the moments ``at`` (default: the
    last event)."""
    model = rec.model
    assert model is not None
    with torch.no_grad():
        time_q = None
        if model.uses_time:
            last = np.array([np.nan if t is None else t for t in last_ts])
            when = np.array([lt if a is None else a for lt, a in zip(last, at)], dtype=np.float64)
            time_q = torch.from_numpy(time_features(last, when, "at")).to(rec.device)
        state = torch.from_numpy(np.ascontiguousarray(states)).to(rec.device)
        return model.output_vectors(model.state_output(state), time_q).float().cpu().numpy()
