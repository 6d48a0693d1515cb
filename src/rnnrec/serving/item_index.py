"""Top-k item search for the server: exact by default, an approximate (HNSW) index as an option
for large catalogues.

Exact search over a large catalogue reads every item vector per query, so it is bound by memory:
where the CPU multiplies bfloat16 natively, :class:`Bfloat16Screen` scores the half-size bfloat16
copy of the item vectors instead, and then scores in float32 only the few items that rounding could
have moved into the top-k. The result is the float32 top-k; one query over 100k items takes
about two thirds of the time (a batch of 16 or more gains nothing: batches over 8 skip the screen).

A model scores item ``i`` as ``q · w_i + b_i``; appending the bias to each item vector and a 1 to
each query makes that one inner product, which faiss's HNSW graph searches in roughly logarithmic
time instead of scoring every item. Approximate search can miss items, so building the index also
measures it: the share of the exact top-k it returns for sample queries (``recall``), reported by
``/health``. The search width (HNSW's efSearch) is the narrowest of :data:`SEARCH_WIDTHS` that
reaches :data:`TARGET_RECALL` on those queries: how wide that is depends on the item vectors.
faiss searches a batch query by query, while exact search scores it in one product, so batches
from the size at which exact search was faster on those queries are searched exactly.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy as np
import torch

from rnnrec.errors import ConfigError

INDEX_KINDS = ("exact", "hnsw", "auto")
AUTO_THRESHOLD = 100_000  # items; "auto" uses HNSW from this catalogue size on
SCREEN_FROM = 50_000  # items; exact search screens with bfloat16 scores from this catalogue size on (below, no faster)
SCREEN_MAX_BATCH = 8  # queries; a larger batch makes the float32 product about as fast (16 or 32 × 100k items)
TARGET_RECALL = 0.95  # of the exact top-k, on sample queries: an HNSW index searches wide enough for it
SEARCH_WIDTHS = (64, 128, 256, 512, 1024)  # HNSW efSearch values tried, narrowest first


def top_k_rows(scores: torch.Tensor, k: int, block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(scores, k, dim=1)``, the same result (best first), 2.5–5× faster on large
    batches (16 rows of 25k items: 0.50 → 0.20 ms on one thread); see :class:`ScoreBlocks`."""
    if scores.shape[1] // block <= 4 * k or scores.numel() < 100_000:  # too few blocks, or too little work, to gain anything
        return torch.topk(scores, k, dim=1)
    return ScoreBlocks(scores, block).top_k(k)


class ScoreBlocks:
    """Each row of a (B, I) score matrix cut into blocks of ``block`` columns, with each block's
    maximum: one pass over the scores, after which the best ones are found by reading only the few
    blocks that can hold them. The columns past the last whole block are read in full."""

    def __init__(self, scores: torch.Tensor, block: int = 64) -> None:
        self.scores, self.block = scores.contiguous(), block
        self.n_rows, self.width = scores.shape
        self.n_whole = self.width // block * block
        self.whole = self.scores[:, : self.n_whole].unflatten(1, (-1, block))  # (B, blocks, block), a view
        self.maxima = self.whole.amax(dim=2)  # (B, blocks)
        self.tail = torch.arange(self.n_whole, self.width)

    def top_k(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``torch.topk(scores, k, dim=1)``. Why it is exact: a block holding one of the row's k best
        scores has a maximum at least the k-th best score, and no other block does, so those blocks
        are among the k blocks with the highest maxima. Ranking their k × ``block`` columns (plus the
        tail) finds the same k items as ranking them all."""
        if self.maxima.shape[1] < k:
            return torch.topk(self.scores, k, dim=1)
        best_blocks = torch.topk(self.maxima, k, dim=1).indices  # (B, k)
        columns = (best_blocks[:, :, None] * self.block + torch.arange(self.block)).flatten(1)  # (B, k·block)
        columns = torch.cat([columns, self.tail.expand(self.n_rows, -1)], dim=1)
        values, at = torch.topk(self.scores.gather(1, columns), k, dim=1)
        return values, columns.gather(1, at)

    def at_least(self, floor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, column) of every finite score at least its row's ``floor`` (B,), ordered by row
        and, within a row, by column. Only the blocks whose maximum reaches the floor are read."""
        hit_rows, hit_blocks = (self.maxima >= floor[:, None]).nonzero(as_tuple=True)
        values = self.whole[hit_rows, hit_blocks]  # (hits, block)
        hit, offset = _finite_at_least(values, floor.index_select(0, hit_rows)).nonzero(as_tuple=True)
        rows = hit_rows.index_select(0, hit)
        cols = hit_blocks.index_select(0, hit) * self.block + offset
        if len(self.tail):  # the tail columns come after every block's, so sorting by row keeps them last
            tail_rows, tail_offset = _finite_at_least(self.scores[:, self.n_whole:], floor).nonzero(as_tuple=True)
            rows, cols = torch.cat([rows, tail_rows]), torch.cat([cols, tail_offset + self.n_whole])
            order = torch.argsort(rows, stable=True)
            rows, cols = rows.index_select(0, order), cols.index_select(0, order)
        return rows, cols


def _finite_at_least(values: torch.Tensor, floor: torch.Tensor) -> torch.Tensor:
    """Which of ``values`` (n, m) are finite and at least their row's ``floor`` (n,)."""
    return (values >= floor[:, None]) & (values > float("-inf"))


def packed_linear(weights: torch.Tensor, bias: torch.Tensor, batch_hint: int = 32) -> Callable[[torch.Tensor], torch.Tensor]:
    """``queries ↦ queries @ weights.T + bias`` (float32, on the CPU), with the weights reordered
    once into oneDNN's blocked layout where this torch build has it.

    Why: torch's default GEMM re-reads the (I, D) item vectors in their plain layout for every
    batch; packed once, the same float32 product of a server batch runs 1.5–3× faster on one
    core (27 queries × 25k items: 1.3 → 0.9 ms; × 100k items: 9.6 → 4.8 ms; 4 × 100k: 4.2 →
    1.4 ms), and one query 2–4× faster than torch's matrix-vector product (one core, 2026-12-07:
    100k × 224: 7.5 → 2.3 ms; 25k × 224: 1.23 → 0.38 ms; 100k × 128: 5.2 → 1.3 ms; only tiny
    tables, 2k × 64, lose a few microseconds). The reorder is a private torch operator (the one
    torch's own compiler uses for frozen linear layers), so it is checked against ``F.linear``
    once here; where it is missing or disagrees, ``F.linear`` it is. The packed copy is a second
    copy of the item vectors in memory. ``batch_hint``: the batch size the layout is tuned for.
    """
    plain = functools.partial(torch.nn.functional.linear, weight=weights, bias=bias)
    fast = onednn_linear(weights, bias, batch_hint)
    if fast is None:
        return plain
    try:
        probe = torch.linspace(-1, 1, 3 * weights.shape[1]).reshape(3, -1)
        if torch.allclose(fast(probe), plain(probe), rtol=1e-4, atol=1e-5):
            return fast
    except RuntimeError:
        pass
    return plain


def onednn_linear(weights: torch.Tensor, bias: torch.Tensor | None,
                  batch_hint: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``queries ↦ queries @ weights.T + bias`` in the weights' dtype, through the weights reordered
    once into oneDNN's blocked layout; None where this torch build lacks the (private) operators or
    the reorder fails. The callers check the product once against a plain one."""
    reorder = getattr(torch.ops.mkldnn, "_reorder_linear_weight", None)
    pointwise = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if reorder is None or pointwise is None or not torch.backends.mkldnn.is_available() or weights.device.type != "cpu":
        return None
    try:
        packed = reorder(weights, batch_hint)
    except RuntimeError:
        return None

    def product(queries: torch.Tensor) -> torch.Tensor:
        return pointwise(queries.to(weights.dtype), packed, bias, "none", [], "")

    return product


def bfloat16_supported() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere oneDNN
    emulates it, slower than the float32 product it would replace."""
    native = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return torch.backends.mkldnn.is_available() and any(check is not None and check() for check in native)


class Bfloat16Screen:
    """Exact top-k from bfloat16 scores: every item is scored from a bfloat16 copy of the item
    vectors, and the items that could be in the float32 top-k are scored again in float32.

    Why it is exact: rounding the query and the item vector to bfloat16 (relative error 2^-8 each),
    the product's output to bfloat16 (2^-8), and summing D terms in float32 move an item's score
    ``q · w_i + b_i`` by at most ``margin = (3·2^-8 + 2·D·2^-24)·‖q‖·max‖w‖ + 2^-23·max|b|``
    (:data:`ROUNDING`, with room to spare; plus 2^-100 for products too small for float32, which
    the bfloat16 instructions flush to zero). At least k items score at least the k-th best bfloat16
    score ``t`` in bfloat16, so at least ``t − margin`` in float32; an item of the float32 top-k
    therefore scores at least ``t − 2·margin`` in bfloat16. Those candidates (a few dozen to about a
    hundred per query on 100k items) are the only ones scored in float32.
    """

    ROUNDING = 3.1 * 2.0**-8  # per unit of ‖q‖·‖w‖, before the summation term

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor, product: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.weights, self.bias = weights, bias  # float32 (I+1, D), (I+1,)
        self._product = product
        self._per_query_norm = (self.ROUNDING + 2 * weights.shape[1] * 2.0**-24) * float(weights.norm(dim=1).max())
        self._bias_margin = 2.0**-23 * float(bias.abs().max()) + 2.0**-100

    @classmethod
    def build(cls, weights: torch.Tensor, bias: torch.Tensor, batch_hint: int = 32) -> "Bfloat16Screen | None":
        """The screen, or None where this torch build has no oneDNN bfloat16 product."""
        has_bfloat16 = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        if has_bfloat16 is None or not has_bfloat16():
            return None
        bfloat16_product = onednn_linear(weights.bfloat16(), None, batch_hint)
        if bfloat16_product is None:
            return None
        try:
            screen = cls(weights, bias, lambda queries: bfloat16_product(queries).float())
            probe = torch.linspace(-1, 1, 3 * weights.shape[1]).reshape(3, -1)
            if ((screen.approximate(probe) - torch.nn.functional.linear(probe, weights, bias)).abs()
                    <= screen.margin(probe)[:, None]).all():
                return screen
        except RuntimeError:
            pass
        return None

    def approximate(self, queries: torch.Tensor) -> torch.Tensor:
        """(B, D) → (B, I+1) scores, each within :meth:`margin` of the float32 one."""
        return self._product(queries).add_(self.bias)

    def margin(self, queries: torch.Tensor) -> torch.Tensor:
        """(B,): how far any approximate score of each query may be from its float32 score."""
        return queries.norm(dim=1) * self._per_query_norm + self._bias_margin

    def top_k(self, queries: torch.Tensor, approximate: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The float32 top-``k`` (best first) of each query, given its :meth:`approximate` scores
        (excluded items set to -inf there): the same items and scores as ranking the float32 product."""
        blocks = ScoreBlocks(approximate)
        kth = blocks.top_k(k)[0][:, -1]
        rows, cols = blocks.at_least(kth - 2 * self.margin(queries))
        exact = (queries.index_select(0, rows) * self.weights.index_select(0, cols)).sum(1) + self.bias.index_select(0, cols)
        counts = torch.bincount(rows, minlength=len(queries))
        place = torch.arange(len(rows)) - (torch.cumsum(counts, 0) - counts)[rows]  # rows come sorted
        width = max(k, int(counts.max()) if len(rows) else 0)
        values = torch.full((len(queries), width), float("-inf"))
        ids = torch.zeros((len(queries), width), dtype=torch.long)
        values[rows, place], ids[rows, place] = exact, cols
        values, at = torch.topk(values, k, dim=1)
        return values, ids.gather(1, at)


class ExactIndex:
    kind = "exact"
    recall = 1.0

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor, screen: bool | None = None) -> None:
        """``screen``: rank batches of up to :data:`SCREEN_MAX_BATCH` queries through
        :class:`Bfloat16Screen` (same result); None: where the catalogue has :data:`SCREEN_FROM`
        items or more and the CPU multiplies bfloat16 natively."""
        self.weights, self.bias = weights.float().contiguous(), bias.float().contiguous()  # (I+1, D), (I+1,); row 0 = padding
        if screen is None:
            screen = self.weights.shape[0] - 1 >= SCREEN_FROM and bfloat16_supported()
        self.screen = Bfloat16Screen.build(self.weights, self.bias) if screen else None
        self._linear = packed_linear(self.weights, self.bias)  # float32, the bias fused in

    def search(self, queries: np.ndarray, k: int, exclude: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(B, D) queries → (B, k) scores and internal item IDs (best first; -1 where fewer)."""
        q = torch.from_numpy(queries).float()
        screen = self.screen if len(q) <= SCREEN_MAX_BATCH else None
        scores = screen.approximate(q) if screen is not None else self._linear(q)
        scores[:, 0] = float("-inf")
        lengths = [len(items) for items in exclude]
        if sum(lengths):  # every row's excluded items in one scatter
            rows = np.repeat(np.arange(len(exclude)), lengths)
            cols = np.concatenate([np.asarray(items, dtype=np.int64) for items in exclude])
            scores[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
        k = min(k, scores.shape[1] - 1)
        if screen is not None:
            values, ids = screen.top_k(q, scores, k)
        else:
            values, ids = top_k_rows(scores, k)
        ids = ids.numpy().copy()
        ids[~np.isfinite(values.numpy())] = -1
        return values.numpy(), ids


class HnswIndex:
    kind = "hnsw"

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor, m: int = 32, ef_search: int = 128) -> None:
        try:
            import faiss
        except ImportError as exc:
            raise ConfigError("an approximate item index needs faiss: pip install 'rnnrec[ann]'") from exc
        faiss.omp_set_num_threads(torch.get_num_threads())  # faiss has its own thread pool: the same budget
        vectors = torch.cat([weights.float(), bias.float()[:, None]], dim=1)[1:].contiguous().numpy()
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 2 * m
        self.ef_search = ef_search  # the search width; a search for more neighbours widens it
        # Batches of at least ``exact_from`` queries go to ``exact`` instead: faiss searches a batch
        # query by query, so a large batch is faster scored at once (set by build_index).
        self.exact: ExactIndex | None = None
        self.exact_from: int | None = None
        self.index.add(vectors)
        self.recall: float | None = None  # measured by build_index when it has sample queries

    def search(self, queries: np.ndarray, k: int, exclude: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`ExactIndex.search`. Each query first fetches 2k neighbours; the rows whose
        excluded items leave fewer than k fetch again, four times as many (a long history costs a
        second pass, not a search as wide as the history)."""
        if self.exact is not None and self.exact_from is not None and len(queries) >= self.exact_from:
            return self.exact.search(queries, k, exclude)
        q = np.concatenate([queries.astype(np.float32), np.ones((len(queries), 1), np.float32)], axis=1)
        out_s, out_i = np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        todo, fetch = np.arange(len(q)), min(2 * k, self.index.ntotal)
        while len(todo):
            self.index.hnsw.efSearch = max(self.ef_search, fetch)
            scores, rows = self.index.search(q[todo], fetch)
            ids = np.where(rows >= 0, rows + 1, -1)  # faiss rows skip the padding item
            short = []
            for j, r in enumerate(todo):
                keep = (ids[j] >= 0) & ~np.isin(ids[j], exclude[r], kind="table")
                if keep.sum() < k and fetch < self.index.ntotal:
                    short.append(r)
                    continue
                n = min(k, int(keep.sum()))
                out_s[r, :n], out_i[r, :n] = scores[j][keep][:n], ids[j][keep][:n]
            todo, fetch = np.asarray(short, dtype=np.int64), min(4 * fetch, self.index.ntotal)
        return out_s, out_i


def build_index(weights: torch.Tensor, bias: torch.Tensor, kind: str = "exact",
                sample_queries: np.ndarray | None = None, k: int = 20) -> ExactIndex | HnswIndex:
    """The index ``kind`` asks for ("auto": HNSW from :data:`AUTO_THRESHOLD` items on). An
    approximate one is measured against exact search on ``sample_queries``: its recall, and from
    which batch size exact search is faster (those batches are then searched exactly)."""
    if kind not in INDEX_KINDS:
        raise ConfigError(f"item index must be one of {INDEX_KINDS}, got {kind!r}")
    weights, bias = weights.detach().cpu(), bias.detach().cpu()
    if kind == "exact" or (kind == "auto" and weights.shape[0] - 1 < AUTO_THRESHOLD):
        return ExactIndex(weights, bias)
    index = HnswIndex(weights, bias)
    if sample_queries is not None and len(sample_queries):
        exact = ExactIndex(weights, bias)
        for ef in SEARCH_WIDTHS:  # the narrowest (fastest) search that reaches the target recall
            index.ef_search = ef
            index.recall = recall_against_exact(index, exact, sample_queries, k)
            if index.recall >= TARGET_RECALL:
                break
        index.exact, index.exact_from = exact, exact_faster_from(index, exact, sample_queries, k)
    return index


def exact_faster_from(approx: HnswIndex, exact: ExactIndex, queries: np.ndarray, k: int,
                      sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)) -> int | None:
    """The smallest of ``sizes`` at which exact search of a batch of ``queries`` takes less time
    than the approximate index (best of 3 timings each), or None. Both are timed here, on this
    machine and these item vectors, because where they cross depends on both: faiss's cost grows
    with the batch, one matrix product's much less (100k items, nearly random vectors: HNSW
    faster for one query, slower for 32)."""
    for size in sizes:
        if size > len(queries):
            break
        batch, none = queries[:size], [np.empty(0, dtype=np.int64)] * size
        seconds = []
        for index in (approx, exact):
            times = []
            for _ in range(3):
                start = time.perf_counter()
                index.search(batch, k, none)
                times.append(time.perf_counter() - start)
            seconds.append(min(times))
        if seconds[1] < seconds[0]:
            return size
    return None


def recall_against_exact(approx: HnswIndex, exact: ExactIndex, queries: np.ndarray, k: int) -> float:
    """Share of the exact top-``k`` that the approximate index also returns, over ``queries``."""
    none = [np.empty(0, dtype=np.int64)] * len(queries)
    _, want = exact.search(queries, k, none)
    _, got = approx.search(queries, k, none)
    hits = sum(len(np.intersect1d(w[w > 0], g[g > 0])) for w, g in zip(want, got))
    return hits / max(1, int((want > 0).sum()))
