"""Throughput of ``read_interactions`` on large generated files (the loader must not be the bottleneck).

The data is GENERATED here (random integer users/items/timestamps), not a real dataset: 10 million rows
by default, written into a temporary directory that is deleted afterwards, in three layouts:
a generic CSV (``user,item,timestamp``), MovieLens ``ratings.csv`` (ml-latest) and a GRU4Rec session TSV.

Run: ``.venv/bin/python benchmarks/bench_io.py [--rows N] [--repeat R]``. Prints seconds and rows/s
(best of R) per layout.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from rnnrec.data.io import read_interactions


def generate(directory: Path, rows: int, seed: int = 0) -> dict[str, tuple[Path, dict]]:
    rng = np.random.default_rng(seed)
    users = rng.integers(1, max(2, rows // 20), rows)
    items = rng.integers(1, max(2, rows // 100), rows)
    times = rng.integers(1_500_000_000, 1_600_000_000, rows)
    generic = directory / "interactions.csv"
    pl.DataFrame({"user": users, "item": items, "timestamp": times}).write_csv(generic)
    ml_latest = directory / "ratings.csv"
    ratings = rng.integers(1, 11, rows) / 2.0
    pl.DataFrame({"userId": users, "movieId": items, "rating": ratings, "timestamp": times}).write_csv(ml_latest)
    gru = directory / "sessions.txt"
    session_times = times + rng.random(rows).round(3)
    pl.DataFrame({"SessionId": users, "ItemId": items, "Time": session_times}).write_csv(gru, separator="\t")
    return {
        "csv (user,item,timestamp)": (generic, {"format": "csv"}),
        "ml-latest (ratings.csv)": (ml_latest, {"format": "ml-latest"}),
        "gru4rec (SessionId/ItemId/Time TSV)": (gru, {"format": "gru4rec"}),
        "csv via format='auto'": (generic, {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_io_") as tmp:
        t0 = time.perf_counter()
        cases = generate(Path(tmp), args.rows)
        print(f"generated {args.rows:,} rows per layout in {time.perf_counter() - t0:.1f} s (synthetic data)")
        for name, (path, kwargs) in cases.items():
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                frame = read_interactions(path, **kwargs)
                best = min(best, time.perf_counter() - t)
            assert frame.height == args.rows, (name, frame.height)
            size = path.stat().st_size / 2**20
            print(f"{name:38s} {size:7.0f} MiB  {best:6.2f} s  {frame.height / best / 1e6:6.2f} M rows/s")


if __name__ == "__main__":
    main()
