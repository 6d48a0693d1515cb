"""Time-aware ablation: the plain GRU against each time-aware variant, same data, same seeds.

    .venv/bin/python benchmarks/time_benchmark.py --out benchmarks/results/time

Sequence-aware data (``ml-100k``, ``ml-latest-small``) follow PROTOCOL.md §1 (``loo``): the
default configuration, only ``model.name`` changes, early stopping on validation NDCG@10.
Session data (``rsc15-100k``) follow §2 (``session``) with every model trained as a sequence
model on whole sessions: the number of epochs is chosen on the ``train_tr``/``train_valid``
pair (early stopping on MRR@20), then the model is trained on ``train_full`` for that many
epochs and evaluated on ``test``. Runs of one seed are interleaved across models so that machine
noise hits them alike; each run is one JSON file in ``--out`` (``--reuse`` resumes). Per-epoch
time is pure training time (validation excluded), reported relative to the plain GRU.
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
from rnnrec.data.dataset import SequenceDataset
from rnnrec.data.pipeline import load_dataset
from rnnrec.data.split import Split, leave_one_out
from rnnrec.recommender import SequentialRecommender
from rnnrec.sequence_sessions import SESSION_METRICS, fit_sequence_model_on_sessions, session_eval_set
from rnnrec.session_recommender import read_session_frame

REPO = Path(__file__).resolve().parent.parent
LOO = {"ml-100k": "ml-100k/ml-100k.inter", "ml-latest-small": "ml-latest-small/ratings.csv"}
SESSION = {"rsc15-100k": "rsc15-100k/yoochoose-clicks-100k_{}.txt"}
MODELS = ("gru4rec", "time_interval", "time_gated", "time_decay")
HEADLINE = {"loo": ("NDCG@10", "Recall@20"), "session": ("Recall@20", "MRR@20")}


def _config(model: str, seed: int, extra: list[str]) -> RecommenderConfig:
    return RecommenderConfig().with_overrides([f"model.name={model}", f"train.seed={seed}", "progress=false", *extra])


def run_loo(dataset: SequenceDataset, split: Split, model: str, seed: int, extra: list[str]) -> dict:
    def fit():
        return SequentialRecommender(_config(model, seed, extra)).fit(dataset, split)

    rec, machine = measure.measured_call(fit)
    r = rec.train_result
    assert r is not None
    return {"test": rec.evaluate(split.test), "valid_best": r.best_score, "n_test": len(split.test), "best_epoch": r.best_epoch,
            "epochs": r.epochs, "seconds_per_epoch": r.seconds_per_epoch, "seconds_to_best_epoch": r.seconds_to_best_epoch,
            "train_seconds": r.train_seconds, "events_per_second": r.events_per_second, **machine}


def run_session(data: dict, model: str, seed: int, extra: list[str]) -> dict:
    """Epochs chosen on train_tr → train_valid, then train_full → test with that many epochs."""

    def fit():
        return fit_sequence_model_on_sessions(_config(model, seed, extra), data["train_tr"], data["valid"],
                                              data["train_full"])

    fitted, machine = measure.measured_call(fit)
    tuned, rec = fitted.selection, fitted.recommender
    r = rec.train_result
    assert r is not None
    metrics = rec.evaluate(data["test"])
    return {"test": {k: v for k, v in metrics.items() if k.startswith(SESSION_METRICS)},
            "valid_best": tuned.best_score, "n_test": len(data["test"]),
            "best_epoch": tuned.best_epoch, "epochs": r.epochs, "seconds_per_epoch": r.seconds_per_epoch,
            "train_seconds": tuned.train_seconds + r.train_seconds, "events_per_second": r.events_per_second, **machine}


def load_session_files(root: Path, pattern: str) -> dict:
    def read(part: str):
        return read_session_frame(root / pattern.format(part))

    tr = SequenceDataset.from_interactions(read("train_tr"))
    full = SequenceDataset.from_interactions(read("train_full"))
    valid = SequenceDataset.from_interactions(read("train_valid"), items=tr.items)
    test = SequenceDataset.from_interactions(read("test"), items=full.items)
    return {"train_tr": tr, "train_full": full,
            "valid": session_eval_set(valid, tr), "test": session_eval_set(test, full)}


def summarise(results: dict, datasets: list[str], models: list[str]) -> str:
    lines = []
    for ds in datasets:
        protocol = "session" if ds in SESSION else "loo"
        m1, m2 = HEADLINE[protocol]
        runs = {m: [r for r in results.values() if r["dataset"] == ds and r["model"] == m] for m in models}
        base = runs.get("gru4rec") or []
        if not any(runs.values()):
            continue
        base_spe = float(np.mean([r["seconds_per_epoch"] for r in base])) if base else float("nan")
        base_m1 = float(np.mean([r["test"][m1] for r in base])) if base else float("nan")
        lines += [f"### {ds} ({protocol}, n_test {next(iter(r for v in runs.values() for r in v))['n_test']:,})", "",
                  f"| model | seeds | {m1} per seed | {m1} mean ± spread | vs plain | {m2} mean ± spread | "
                  "s/epoch | time/epoch vs plain | best epoch | other CPU |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for m, rs in runs.items():
            if not rs:
                continue
            rs = sorted(rs, key=lambda r: r["seed"])
            a = np.array([r["test"][m1] for r in rs])
            b = np.array([r["test"][m2] for r in rs])
            spe = float(np.mean([r["seconds_per_epoch"] for r in rs]))
            other = max((r.get("other_cpu_share") or 0.0) for r in rs)
            lines.append(
                f"| {m} | {','.join(str(r['seed']) for r in rs)} | {' / '.join(f'{x:.4f}' for x in a)} | "
                f"{a.mean():.4f} ± {np.ptp(a):.4f} | {a.mean() / base_m1 - 1:+.1%} | {b.mean():.4f} ± {np.ptp(b):.4f} | "
                f"{spe:.2f} | {spe / base_spe:.2f}× | {' / '.join(str(r['best_epoch']) for r in rs)} | ≤{other:.0%} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=[*LOO, *SESSION], choices=[*LOO, *SESSION])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "time"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra option for every run")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--reuse", action="store_true", help="keep finished runs found in --out")
    ap.add_argument("--report-only", action="store_true", help="only rebuild report.md from --out")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(args.data_root)
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("run-*.json")}
    for ds in [] if args.report_only else args.datasets:
        path = root / (LOO.get(ds) or SESSION[ds].format("train_full"))
        if not path.exists():
            print(f"skip {ds}: {path} not found", file=sys.stderr)
            continue
        if ds in LOO:
            dataset = load_dataset(path)
            split = leave_one_out(dataset)
        else:
            data = load_session_files(root, SESSION[ds])
        for seed in args.seeds:
            for model in args.models:
                key = f"run-{ds}-{model}-{seed}"
                if args.reuse and key in results:
                    continue
                t0 = time.perf_counter()
                run = run_loo(dataset, split, model, seed, args.set) if ds in LOO else run_session(data, model, seed, args.set)
                run.update(dataset=ds, model=model, seed=seed, options=args.set)
                results[key] = run
                (out / f"{key}.json").write_text(json.dumps(run, indent=2))
                m1, m2 = HEADLINE["session" if ds in SESSION else "loo"]
                print(f"{ds} {model} seed {seed}: {m1} {run['test'][m1]:.4f} {m2} {run['test'][m2]:.4f} "
                      f"{run['seconds_per_epoch']:.2f}s/epoch best epoch {run['best_epoch']} "
                      f"({time.perf_counter() - t0:.0f}s)", flush=True)
    machine = measure.machine_basics(REPO)
    report = (f"# Time-aware ablation\n\nMachine: {json.dumps(machine)}\n\n"
              + summarise(results, [d for d in [*LOO, *SESSION]], list(MODELS)))
    (out / "report.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
