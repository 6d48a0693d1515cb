"""Multimodal ablation: the ID-only GRU against each fusion variant, same data, same seeds, and
the cold-item protocol.

    .venv/bin/python benchmarks/multimodal_benchmark.py --out benchmarks/results/multimodal

Data: ``ml-100k`` (RecBole ``.inter`` + ``.item``: title, year, genres), ``ml-latest-small``
(``ratings.csv`` + ``movies.csv`` + ``tags.csv``: title, year, genres, tags) and
``amazon-beauty-s3rec`` (``Beauty.txt`` + ``Beauty_item2attributes.json``: anonymous category and
brand IDs, 637 of them, so run it with ``--set features.max_categories=1000`` to keep them all). Item features are
built once per dataset with the defaults of ``rnnrec.data.item_features`` (text = title and tags,
TF-IDF + SVD to 64 dimensions; genres multi-hot; year standardised).

Protocols:

- ``loo`` (PROTOCOL.md §1): the default configuration, only ``model.name`` changes, early stopping
  on validation NDCG@10. Reported: test NDCG@10, Recall@20, training time per epoch.
- ``cold``: the same split, then 10 % of the catalogue (uniformly at random, seed 0 for every run)
  loses every interaction in training and in the histories models read
  (:func:`rnnrec.data.split.cold_item_split`). Reported: Recall@20 on the test targets that are
  cold items, against the popularity ranking and a random ranking (expected Recall@20 = 20 / I).

Peer (``--models ... recbole_gru4recf``, ml-100k ``loo`` only): RecBole 1.2.1 GRU4RecF with the
genres, run by ``peers/recbole_gru4recf.py`` in its own environment (``bash
benchmarks/setup_peers.sh recbole``) on the same leave-one-out split, exported as the ``loo``
benchmark exports it (``OUT/splits/ml-100k``), with RecBole's defaults to convergence (stopping
step 10, at most 300 epochs); its full-ranking ranks are scored here like the others. It takes
200–300 s per epoch on one CPU thread, so 30-odd epochs are hours.

Runs of one seed are interleaved across models so that machine noise hits them alike; each run is
one JSON file in ``--out`` (``--reuse`` resumes). Per-epoch time is pure training time (validation
excluded), reported relative to the ID-only GRU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import measure  # benchmarks/measure.py

from rnnrec.config import RecommenderConfig
from rnnrec.data.pipeline import attach_item_features, load_dataset
from rnnrec.data.split import ColdItemSplit, Split, cold_item_split, leave_one_out
from rnnrec.metrics import metrics_from_ranks, pessimistic_ranks
from rnnrec.recommender import SequentialRecommender

REPO = Path(__file__).resolve().parent.parent
DATASETS = {
    "ml-100k": ("ml-100k/ml-100k.inter", "ml-100k/ml-100k.item"),
    "ml-latest-small": ("ml-latest-small/ratings.csv", "ml-latest-small/movies.csv"),
    "amazon-beauty-s3rec": ("amazon-beauty-s3rec/Beauty.txt", "amazon-beauty-s3rec/Beauty_item2attributes.json"),
}
MODELS = ("gru4rec", "feature_fusion", "parallel_rnn", "cold_start")
PEERS = ("recbole_gru4recf",)  # ml-100k, loo only
PROTOCOLS = ("loo", "cold")
COLD_FRACTION, COLD_SEED = 0.1, 0


def _config(model: str, seed: int, extra: list[str]) -> RecommenderConfig:
    return RecommenderConfig().with_overrides([f"model.name={model}", f"train.seed={seed}", "progress=false", *extra])


def run(dataset, split: Split, model: str, seed: int, extra: list[str], cold: ColdItemSplit | None) -> dict:
    rec, machine = measure.measured_call(lambda: SequentialRecommender(_config(model, seed, extra)).fit(dataset, split))
    r = rec.train_result
    assert r is not None
    out = {"test": rec.evaluate(split.test), "n_test": len(split.test), "best_epoch": r.best_epoch,
           "epochs": r.epochs, "seconds_per_epoch": r.seconds_per_epoch, "seconds_to_best_epoch": r.seconds_to_best_epoch,
           "train_seconds": r.train_seconds, "events_per_second": r.events_per_second, **machine}
    if cold is not None:
        out["cold_test"] = rec.evaluate(cold.cold_test)
        out["n_cold_test"] = len(cold.cold_test)
    return out


def run_gru4recf(root: Path, out: Path, seed: int, reuse: bool) -> dict:
    """RecBole GRU4RecF on the exported ml-100k split (a finished run in ``OUT/recbole-gru4recf``
    is only scored again with ``reuse``)."""
    from loo_benchmark import export_split, run_measured, score_ranks  # benchmarks/loo_benchmark.py

    split_dir, run_dir = out / "splits" / "ml-100k", out / "recbole-gru4recf" / f"seed{seed}"
    if not (split_dir / "meta.json").exists():
        export_split("ml-100k", root, split_dir, "rnnrec")
    process = None
    if not (reuse and (run_dir / "ranks.npz").exists()):
        python = REPO / "benchmarks" / ".envs" / "recbole" / "bin" / "python"
        if not python.exists():
            raise SystemExit(f"{python} missing: run `bash benchmarks/setup_peers.sh recbole` first")
        run_dir.mkdir(parents=True, exist_ok=True)
        process = run_measured([str(python), str(REPO / "benchmarks" / "peers" / "recbole_gru4recf.py"),
                                "--split", str(split_dir), "--seed", str(seed), "--out", str(run_dir), "--epochs", "300",
                                "--item-file", str(root / "ml-100k" / "ml-100k.item")],
                               run_dir / "log.txt", cwd=run_dir, timeout=None)
        if process["rc"] != 0:
            raise SystemExit(f"GRU4RecF seed {seed} failed; see {run_dir / 'log.txt'}")
    peer = json.loads((run_dir / "result.json").read_text())
    scored = score_ranks(run_dir / "ranks.npz", split_dir)
    return {"test": scored["test"], "n_test": scored["n_test"], "best_epoch": peer["best_epoch"], "epochs": peer["epochs"],
            "seconds_per_epoch": peer["seconds_per_epoch_median"], "seconds_to_best_epoch": peer["seconds_to_best_epoch"],
            "stopped_early": peer["stopped_early"], "resumed_from": peer.get("resumed_from"), "peer": peer["model"],
            "library": peer["library"], "process": process, "other_cpu_share": None}


def baselines(dataset, cold: ColdItemSplit) -> dict:
    """Popularity (training counts, pessimistic ties) and random rankings on the cold targets."""
    counts = np.bincount(cold.split.train.items, minlength=dataset.n_items + 1).astype(np.float32)
    targets = torch.from_numpy(cold.cold_test.targets - 1)
    pop = torch.from_numpy(counts[1:]).expand(len(targets), -1)
    rng = np.random.default_rng(0)
    rand = torch.from_numpy(rng.random((len(targets), dataset.n_items), dtype=np.float32))
    return {"popularity": metrics_from_ranks(pessimistic_ranks(pop, targets)),
            "random_sampled": metrics_from_ranks(pessimistic_ranks(rand, targets)),
            "random_expected_recall@20": 20 / dataset.n_items,
            "n_cold_items": len(cold.cold_items), "n_cold_test": len(cold.cold_test), "n_items": dataset.n_items}


def _row(name: str, rs: list[dict], metric: str, base_mean: float, base_spe: float, key: str = "test") -> str:
    rs = sorted(rs, key=lambda r: r["seed"])
    a = np.array([r[key][metric] for r in rs])
    spe = float(np.mean([r["seconds_per_epoch"] for r in rs]))
    other = max((r.get("other_cpu_share") or 0.0) for r in rs)
    second = "Recall@20" if metric == "NDCG@10" else "NDCG@10"
    b = np.array([r[key][second] for r in rs])
    return (f"| {name} | {','.join(str(r['seed']) for r in rs)} | {' / '.join(f'{x:.4f}' for x in a)} | "
            f"{a.mean():.4f} ± {np.ptp(a):.4f} | {f'{a.mean() / base_mean - 1:+.1%}' if base_mean > 0 else '—'} | "
            f"{b.mean():.4f} ± {np.ptp(b):.4f} | "
            f"{spe:.2f} | {f'{spe / base_spe:.2f}×' if base_spe > 0 else '—'} | {' / '.join(str(r['best_epoch']) for r in rs)} | ≤{other:.0%} |")


def summarise(results: dict, base: dict) -> str:
    lines = []
    for ds in DATASETS:
        for protocol in PROTOCOLS:
            runs = {m: [r for r in results.values() if r["dataset"] == ds and r["protocol"] == protocol and r["model"] == m]
                    for m in MODELS + PEERS}
            if not any(runs.values()):
                continue
            key, metric = ("test", "NDCG@10") if protocol == "loo" else ("cold_test", "Recall@20")
            ref = runs["gru4rec"]  # without it, no "vs ID-only" column values
            base_mean = float(np.mean([r[key][metric] for r in ref])) if ref else float("nan")
            base_spe = float(np.mean([r["seconds_per_epoch"] for r in ref])) if ref else float("nan")
            n = next(r for v in runs.values() for r in v)[f"n_{key}"]
            second = "Recall@20" if metric == "NDCG@10" else "NDCG@10"
            what = "test" if protocol == "loo" else "cold-item test targets"
            lines += [f"### {ds} ({protocol}; {what}: {n:,})", "",
                      f"| model | seeds | {metric} per seed | {metric} mean ± spread | vs ID-only | {second} mean ± spread | "
                      "s/epoch | time/epoch vs ID-only | best epoch | other CPU |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            lines += [_row(m, rs, metric, base_mean, base_spe, key) for m, rs in runs.items() if rs]
            if protocol == "cold" and ds in base:
                b = base[ds]
                lines += ["", f"Cold items: {b['n_cold_items']} of {b['n_items']}. Baselines on the same cold targets: "
                          f"popularity Recall@20 {b['popularity']['Recall@20']:.4f}, random ranking "
                          f"{b['random_expected_recall@20']:.4f} expected (seeded draw: {b['random_sampled']['Recall@20']:.4f}). "
                          "Mean Recall@20 over the random expectation: " + ", ".join(
                              f"{m} {np.mean([r[key][metric] for r in rs]) / b['random_expected_recall@20']:.1f}×"
                              for m, rs in runs.items() if rs) + "."]
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS + PEERS,
                    help="rnnrec models (default: all) and the peer recbole_gru4recf (ml-100k loo)")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "multimodal"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra option for every run")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--reuse", action="store_true", help="keep finished runs found in --out")
    ap.add_argument("--report-only", action="store_true", help="only rebuild report.md from --out")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out).resolve()  # peers run in their own folder: relative paths would break
    out.mkdir(parents=True, exist_ok=True)
    root = Path(args.data_root)
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("run-*.json")}
    base = {p.stem.removeprefix("baselines-"): json.loads(p.read_text()) for p in out.glob("baselines-*.json")}
    for ds in [] if args.report_only else args.datasets:
        inter, meta = (root / f for f in DATASETS[ds])
        if not inter.exists() or not meta.exists():
            print(f"skip {ds}: {inter} or {meta} not found", file=sys.stderr)
            continue
        feature_options = [o for o in args.set if o.startswith("features.")]  # --set features.text_encoder=...
        features = RecommenderConfig().with_overrides(feature_options).features
        dataset = attach_item_features(load_dataset(inter), meta, config=features)
        split = leave_one_out(dataset)
        cold = cold_item_split(split, dataset.n_items, COLD_FRACTION, COLD_SEED)
        base[ds] = baselines(dataset, cold)
        (out / f"baselines-{ds}.json").write_text(json.dumps(base[ds], indent=2))
        for protocol in args.protocols:
            for seed in args.seeds:
                for model in args.models:
                    key = f"run-{ds}-{protocol}-{model}-{seed}"
                    if args.reuse and key in results:
                        continue
                    t0 = time.perf_counter()
                    if model in PEERS:
                        if (ds, protocol) != ("ml-100k", "loo"):
                            continue
                        r = run_gru4recf(root, out, seed, args.reuse)
                    elif protocol == "loo":
                        r = run(dataset, split, model, seed, args.set, None)
                    else:
                        r = run(dataset, cold.split, model, seed, args.set, cold)
                    r.update(dataset=ds, protocol=protocol, model=model, seed=seed, options=args.set,
                             features=dataset.item_features.dims if dataset.item_features is not None else {})
                    results[key] = r
                    (out / f"{key}.json").write_text(json.dumps(r, indent=2))
                    shown = r["test"] if protocol == "loo" else r["cold_test"]
                    print(f"{ds} {protocol} {model} seed {seed}: NDCG@10 {shown['NDCG@10']:.4f} Recall@20 "
                          f"{shown['Recall@20']:.4f} {r['seconds_per_epoch']:.2f}s/epoch best epoch {r['best_epoch']} "
                          f"({time.perf_counter() - t0:.0f}s)", flush=True)
    machine = measure.machine_basics(REPO)
    report = f"# Multimodal ablation\n\nMachine: {json.dumps(machine)}\n\n" + summarise(results, base)
    (out / "report.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
