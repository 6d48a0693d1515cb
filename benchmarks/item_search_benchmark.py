"""Exact top-k search of the server's item index, with and without the bfloat16 screen, on one
torch thread (the server's default): milliseconds per search of a batch of queries.

    .venv/bin/python benchmarks/item_search_benchmark.py --items 25000 50000 100000 --batch 1 8 32

Item vectors and queries are *generated* (Gaussian; 224 dimensions by default, the default
model's): the time depends on the catalogue's size and the vectors' width; the number of items
the screen scores again in float32 (reported per query) depends on how the scores spread: about a
hundred per query at 100k items here, about 40 on the default model's vectors. Both forms
return the same items; this checks it on every measured batch. Reported: median over ``--repeats``
interleaved rounds of the median time of ``--calls`` searches.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from rnnrec.serving.item_index import ExactIndex, ScoreBlocks, bfloat16_supported


def median_ms(search, calls: int) -> float:
    for _ in range(3):
        search()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        search()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", nargs="+", type=int, default=[25_000, 50_000, 100_000])
    ap.add_argument("--dim", type=int, default=224)
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 8, 32])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"native bfloat16: {bfloat16_supported()}; torch {torch.__version__}; one thread")
    print("| items | queries | float32 ms | bfloat16 screen ms | float32 ÷ screen | rescored per query |")
    print("|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for n_items in args.items:
        weights = torch.randn(n_items + 1, args.dim, generator=g) / args.dim**0.5
        bias = torch.randn(n_items + 1, generator=g) * 0.05
        plain, screened = ExactIndex(weights, bias, screen=False), ExactIndex(weights, bias, screen=True)
        if screened.screen is None:
            raise SystemExit("this torch build has no oneDNN bfloat16 product")
        for batch in args.batch:
            queries = (torch.randn(batch, args.dim, generator=g) * 4).numpy()
            none = [np.empty(0, np.int64)] * batch
            if not np.array_equal(plain.search(queries, args.k, none)[1], screened.search(queries, args.k, none)[1]):
                raise SystemExit(f"{n_items} items, {batch} queries: the screen returned other items")
            rounds = [(median_ms(lambda: plain.search(queries, args.k, none), args.calls),
                       median_ms(lambda: screened.search(queries, args.k, none), args.calls)) for _ in range(args.repeats)]
            f32, bf16 = (statistics.median(r[i] for r in rounds) for i in (0, 1))
            q = torch.from_numpy(queries)
            approximate = screened.screen.approximate(q)
            blocks = ScoreBlocks(approximate)
            floor = blocks.top_k(args.k)[0][:, -1] - 2 * screened.screen.margin(q)
            rescored = len(blocks.at_least(floor)[0]) / batch
            print(f"| {n_items:,} | {batch} | {f32:.2f} | {bf16:.2f} | {f32 / bf16:.2f}× | {rescored:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
