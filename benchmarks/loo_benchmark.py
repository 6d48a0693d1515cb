"""rnnrec vs. RecTools SASRec vs. RecBole GRU4Rec vs. the official GRU4Rec (+ MostPop) under
PROTOCOL.md §1 (``loo``).

One split for everyone: the harness reads each dataset into rnnrec's canonical frame, splits it
with ``rnnrec.data.split.leave_one_out`` and exports the split (training events, validation and
test targets, full item catalogue) to ``OUT/splits/<dataset>/``. Every model runs in its own
subprocess (peers in their own virtualenvs under ``benchmarks/.envs/``); peak RSS comes from
``os.wait4``. Peers write per-target rank counts over the full catalogue; the harness turns them
into metrics with one numpy implementation (``benchmarks/peers/_common.py``). rnnrec runs through
its CLI (``rnnrec train``), which splits with the same function and writes ``metrics.json``.

Usage (from the repository root, after ``bash benchmarks/setup_peers.sh``; the official GRU4Rec
also needs ``bash benchmarks/setup_peers.sh gru4rec`` and ``--gru4rec-path`` to your own checkout)::

    .venv/bin/python benchmarks/loo_benchmark.py --datasets ml-100k --seeds 0 1 2 \\
        --models rnnrec rectools_sasrec recbole_gru4rec mostpop --out benchmarks/results/run1

Outputs: ``OUT/results.json`` (all raw per-seed results + aggregates + machine),
``OUT/results.md`` (tables), ``OUT/raw/<dataset>/<model>/seed<N>/`` (each run's files and log).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import measure  # benchmarks/measure.py (this script's folder is on sys.path)
import numpy as np

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH / "peers"))
from _common import KS, load_split, metrics_from_ranks, write_events  # noqa: E402

DATASETS: dict[str, dict] = {
    # name: file under --data-root, reader used when rnnrec.data.io is absent, rnnrec CLI --format
    "ml-100k": {"file": "ml-100k/ml-100k.inter", "reader": "recbole_inter", "cli_format": None},
    "ml-latest-small": {"file": "ml-latest-small/ratings.csv", "reader": "movielens_csv", "cli_format": None},
    "amazon-beauty-s3rec": {"file": "amazon-beauty-s3rec/Beauty.txt", "reader": "user_item_lines", "cli_format": None},
}

MODELS = ("rnnrec", "rectools_sasrec", "recbole_gru4rec", "gru4rec_official", "mostpop")
LABELS = {
    "rnnrec": "rnnrec (default config)",
    "rectools_sasrec": "RecTools 0.19.0 SASRec (softmax)",
    "recbole_gru4rec": "RecBole 1.2.1 GRU4Rec (CE)",
    "gru4rec_official": "official GRU4Rec (RetailRocket BPR-max params, state carried)",
    "mostpop": "MostPop (train popularity)",
}
ENVS = {"rectools_sasrec": "rectools", "recbole_gru4rec": "recbole", "gru4rec_official": "gru4rec"}
RUNNERS = {
    "rectools_sasrec": BENCH / "peers" / "rectools_sasrec.py",
    "recbole_gru4rec": BENCH / "peers" / "recbole_gru4rec.py",
    "gru4rec_official": BENCH / "peers" / "gru4rec_official_loo.py",
    "mostpop": BENCH / "peers" / "mostpop.py",
}


# ----------------------------------------------------------------------------------------------
# Reading: rnnrec.data.io.read_interactions when it exists, else the readers below (same frame).
# ----------------------------------------------------------------------------------------------
def _read_recbole_inter(path: Path):
    import polars as pl

    df = pl.read_csv(path, separator="\t", infer_schema=False)
    cols = {c.split(":")[0]: c for c in df.columns}
    return df.select(
        pl.col(cols["user_id"]).alias("user_id"),
        pl.col(cols["item_id"]).alias("item_id"),
        pl.col(cols["timestamp"]).cast(pl.Float64).alias("timestamp"),
    )


def _read_movielens_csv(path: Path):
    import polars as pl

    df = pl.read_csv(path, infer_schema=False)
    return df.select(
        pl.col("userId").alias("user_id"),
        pl.col("movieId").alias("item_id"),
        pl.col("timestamp").cast(pl.Float64).alias("timestamp"),
    )


def _read_user_item_lines(path: Path):
    """``uid i1 i2 ...`` per line, items in time order, no timestamps: file order = time order."""
    import polars as pl

    users, items = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        users.extend([parts[0]] * (len(parts) - 1))
        items.extend(parts[1:])
    return pl.DataFrame({"user_id": users, "item_id": items}, schema={"user_id": pl.Utf8, "item_id": pl.Utf8})


OWN_READERS = {
    "recbole_inter": _read_recbole_inter,
    "movielens_csv": _read_movielens_csv,
    "user_item_lines": _read_user_item_lines,
}


def read_frame(name: str, path: Path, reader: str):
    """Returns (frame, reader description)."""
    if reader in ("auto", "rnnrec"):
        try:
            from rnnrec.data.io import read_interactions  # type: ignore
        except ImportError:
            if reader == "rnnrec":
                raise
        else:
            return read_interactions(path, format="auto"), "rnnrec.data.io.read_interactions(format='auto')"
    fn = OWN_READERS[DATASETS[name]["reader"]]
    return fn(path), f"benchmarks/loo_benchmark.py:{fn.__name__}"


# ----------------------------------------------------------------------------------------------
# Split export
# ----------------------------------------------------------------------------------------------
def export_split(name: str, data_root: Path, folder: Path, reader: str) -> dict:
    from rnnrec.data.dataset import SequenceDataset
    from rnnrec.data.split import leave_one_out

    path = data_root / DATASETS[name]["file"]
    t0 = time.perf_counter()
    frame, reader_desc = read_frame(name, path, reader)
    ds = SequenceDataset.from_interactions(frame)
    split = leave_one_out(ds)
    assert np.array_equal(split.valid.users, split.test.users)
    users_ext = np.asarray(ds.users.external, dtype=object)
    items_ext = np.asarray(ds.items.external, dtype=object)  # internal id k -> items_ext[k - 1]

    tr = split.train
    rows = tr.row_ids()
    train_users = users_ext[rows]
    train_items = items_ext[tr.items - 1]
    train_pos = tr.positions()
    n_train_per_user = tr.lengths[split.test.users]
    # sanity: the validation history is exactly the training events; the test history adds the validation event
    assert np.array_equal(split.valid.histories.lengths, n_train_per_user)
    assert np.array_equal(split.test.histories.lengths, n_train_per_user + 1)
    assert np.array_equal(split.valid.histories.items, tr.subset(split.test.users).items)

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.txt").write_text("\n".join(ds.items.external) + "\n", encoding="utf-8")
    write_events(folder / "train.tsv", train_users, train_items, train_pos)
    eval_users = users_ext[split.test.users]
    write_events(folder / "valid.tsv", eval_users, items_ext[split.valid.targets - 1], n_train_per_user)
    write_events(folder / "test.tsv", eval_users, items_ext[split.test.targets - 1], n_train_per_user + 1)
    meta = {
        "dataset": name,
        "source": str(path),
        "reader": reader_desc,
        "split": "rnnrec.data.split.leave_one_out (PROTOCOL.md §1)",
        "fingerprint": ds.fingerprint(),
        "n_users_all": ds.n_users,
        "n_users_evaluated": int(len(split.test)),
        "n_catalogue": ds.n_items,
        "n_events": ds.sequences.n_events,
        "n_train_events": int(tr.n_events),
        "n_valid": int(len(split.valid)),
        "n_test": int(len(split.test)),
        "has_time": ds.has_time,
        "export_seconds": time.perf_counter() - t0,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


# ----------------------------------------------------------------------------------------------
# Subprocesses with peak RSS
# ----------------------------------------------------------------------------------------------
def run_measured(cmd: list[str], log_path: Path, cwd: Path, timeout: float | None) -> dict:
    """Run ``cmd`` with stdout and stderr in ``log_path`` (see ``measure.run_measured``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        result = measure.run_measured(cmd, log, subprocess.STDOUT, cwd, timeout)
    return {**result, "log": str(log_path)}


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# ----------------------------------------------------------------------------------------------
# One run of one model
# ----------------------------------------------------------------------------------------------
def run_peer(model: str, split_dir: Path, seed: int, run_dir: Path, args) -> dict:
    if model == "mostpop":  # this project's own environment
        python = sys.executable
    else:
        python = str(BENCH / ".envs" / ENVS[model] / "bin" / "python")
        if not Path(python).exists():
            return {"error": f"{python} missing: run `bash benchmarks/setup_peers.sh` first"}
    cmd = [python, str(RUNNERS[model]), "--split", str(split_dir), "--seed", str(seed), "--out", str(run_dir)]
    if model == "rectools_sasrec":
        cmd += ["--patience", str(args.rectools_patience), "--max-epochs", str(args.rectools_max_epochs)]
    if model == "recbole_gru4rec":
        cmd += ["--epochs", str(args.recbole_epochs), "--workdir", str(run_dir / "work")]
    if model == "gru4rec_official":
        if not args.gru4rec_path:
            return {"error": "gru4rec_official needs --gru4rec-path (your checkout of GRU4Rec_PyTorch_Official)"}
        cmd += ["--gru4rec-path", str(Path(args.gru4rec_path).expanduser().resolve())]
    proc = run_measured(cmd, run_dir / "log.txt", cwd=run_dir, timeout=args.timeout)
    out = {"process": proc}
    if proc["rc"] != 0:
        out["error"] = f"exit {proc['rc']}{' (timeout)' if proc['timed_out'] else ''}; log tail:\n{_tail(run_dir / 'log.txt')}"
        return out
    res = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    out.update(res)
    out.update(score_ranks(run_dir / "ranks.npz", split_dir))
    return out


def score_ranks(npz_path: Path, split_dir: Path) -> dict:
    """Metrics from a runner's rank counts, after checking its users/targets equal the split's."""
    sf = load_split(split_dir)
    idx = sf.item_index
    z = np.load(npz_path)
    out: dict = {}
    for name, ev in (("valid", sf.valid), ("test", sf.test)):
        users = z[f"{name}_users"].tolist()
        targets = z[f"{name}_targets"]
        expected = dict(zip(ev.users, (idx[i] for i in ev.items)))
        got = dict(zip(users, targets.tolist()))
        if len(users) != len(ev) or got != expected:
            bad = [u for u in ev.users if got.get(u) != expected[u]]
            raise AssertionError(f"{npz_path}: {name} targets differ from the split for {len(bad)} users (e.g. {bad[:5]})")
        ranks = 1 + z[f"{name}_n_higher"] + z[f"{name}_n_equal"]
        out[name] = metrics_from_ranks(ranks)
        out[f"n_{name}"] = int(len(ranks))
        out[f"{name}_n_tied_targets"] = int((z[f"{name}_n_equal"] > 0).sum())
    out["targets_match_split"] = True
    return out


def run_rnnrec(name: str, data_root: Path, seed: int, run_dir: Path, meta: dict, args) -> dict:
    exe = Path(args.rnnrec_bin)
    if not exe.exists():
        return {"error": f"{exe} not found (the rnnrec CLI is not installed yet)"}
    cmd = [str(exe), "train", "--data", str(data_root / DATASETS[name]["file"])]
    fmt = DATASETS[name]["cli_format"]
    if fmt:
        cmd += ["--format", fmt]
    cmd += ["--set", f"seed={seed}"]
    for s in args.rnnrec_set or []:
        cmd += ["--set", s]
    cmd += ["--out", str(run_dir / "model")]
    proc = run_measured(cmd, run_dir / "log.txt", cwd=REPO, timeout=args.timeout)
    out: dict = {"process": proc, "model": "rnnrec", "seed": seed}
    mpath = run_dir / "model" / "metrics.json"
    if proc["rc"] != 0 or not mpath.exists():
        out["error"] = f"exit {proc['rc']}; log tail:\n{_tail(run_dir / 'log.txt')}"
        return out
    m = json.loads(mpath.read_text(encoding="utf-8"))
    out["metrics_json"] = m
    for key in ("valid", "test", "test_exclude_seen", "n_test", "train_seconds", "best_epoch", "epochs",
                "seconds_to_best_epoch", "train_events_per_second", "seconds_per_epoch", "eval_seconds"):
        if key in m:
            out[key] = m[key]
    if m.get("protocol") not in (None, "loo"):
        out["error"] = f"rnnrec metrics.json protocol is {m.get('protocol')!r}, expected 'loo'"
    # rnnrec splits by itself with the same leave_one_out; check it saw the same data and targets count.
    d = m.get("data", {})
    mismatch = [f"{k} {d[k2]} != {meta[k]}" for k, k2 in (("n_users_all", "users"), ("n_catalogue", "items"),
                                                            ("n_events", "events")) if k2 in d and d[k2] != meta[k]]
    if out.get("n_test") is not None and out["n_test"] != meta["n_test"]:
        mismatch.append(f"n_test {out['n_test']} != {meta['n_test']}")
    if mismatch:
        out["error"] = "rnnrec's data/split differs from the exported split: " + "; ".join(mismatch)
    else:
        out["targets_match_split"] = "same users/items/events and n_test (rnnrec splits with the same leave_one_out)"
    return out


# ----------------------------------------------------------------------------------------------
# Aggregation and reporting
# ----------------------------------------------------------------------------------------------
BUSY_THRESHOLD = 0.10  # flag timings taken while other processes used more than this share of the CPU
SPEED_KEYS = ("train_events_per_second", "seconds_per_epoch", "seconds_per_epoch_median", "seconds_to_best_epoch", "epochs", "best_epoch",
              "eval_seconds", "train_seconds")


def aggregate(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r and "test" in r]
    agg: dict = {"n_seeds_ok": len(ok), "seeds": [r.get("seed") for r in ok],
                 "errors": [r["error"] for r in runs if "error" in r]}
    if not ok:
        return agg
    for part in ("test", "valid", "test_exclude_seen"):
        if all(part in r and r[part] for r in ok):
            stats = {}
            for k in ok[0][part]:
                vals = np.array([r[part][k] for r in ok if k in r[part]], dtype=float)
                stats[k] = {"mean": float(vals.mean()), "spread_max_min": float(vals.max() - vals.min()),
                            "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, "values": vals.tolist()}
            agg[part] = stats
    for k in SPEED_KEYS:
        vals = [r[k] for r in ok if r.get(k) is not None]
        if vals:
            agg[k] = {"mean": float(np.mean(vals)), "values": vals}
    rss = [r["process"]["peak_rss_mb"] for r in ok if "process" in r]
    if rss:
        agg["peak_rss_mb"] = {"max": float(max(rss)), "values": rss}
    other = [r["process"].get("other_cpu_share") for r in ok if r.get("process", {}).get("other_cpu_share") is not None]
    if other:
        agg["other_cpu_share"] = {"max": float(max(other)), "values": other}
    notes = sorted({r["note"] for r in ok if r.get("note")})
    if notes:
        agg["note"] = "; ".join(notes)
    return agg


def _fmt(x, nd=4):
    return "—" if x is None else f"{x:.{nd}f}"


def _num(x, nd=0):
    if x is None:
        return "—"
    return f"{x:,.{nd}f}"


def _get(agg, *path):
    cur = agg
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _short_error(agg: dict) -> str:
    err = (agg.get("errors") or ["no result"])[0].strip().splitlines()
    text = err[0] + (" … " + err[-1] if len(err) > 1 else "")
    return text.replace("|", "/")[:200]


def markdown(report: dict) -> str:
    m = report["machine"]
    labels = dict(LABELS)
    sets = report.get("settings", {}).get("rnnrec_set") or []
    if sets:  # the rnnrec rows ran with options: say which
        labels["rnnrec"] = "rnnrec (" + " ".join(f"--set {s}" for s in sets) + ")"
    lines = [
        f"# `loo` benchmark ({report['date']})",
        "",
        f"- Protocol: PROTOCOL.md §1 (`loo`): full ranking over the whole catalogue, pessimistic ties, seen items kept.",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores, {m['mem_gib']:.0f} GiB RAM, no GPU; {m['platform']}.",
        f"- Command: `{report['command']}`",
        *([f"- Runs reused from earlier invocations of the harness (date — command):"]
          + [f"  - {d} — `{c}`" for d, c in report.get("run_commands", [])]
          if report.get("run_commands") else []),
        f"- Seeds: {report['seeds']}. ± is the spread over seeds = max − min (std is in results.json).",
        "- events/s = training target events per epoch / seconds per epoch (training only, validation excluded"
        " for peers; rnnrec: its own `train_events_per_second`). ratio = rnnrec events/s ÷ this row's events/s"
        " (same dataset, same run).",
        "- Peak RSS = `os.wait4(...)[2].ru_maxrss` of the model's own process. eval s = scoring the full test set.",
        "- s to best epoch = wall time from the start of training (data preparation included) to the end of the"
        " best epoch's validation. A note flags runs during which other processes used more than"
        f" {BUSY_THRESHOLD:.0%} of the machine's CPU (their timings are not clean).",
        "",
        "| dataset | model | NDCG@10 | Recall@20 | events/s | rnnrec ÷ row | s/epoch | s to best epoch | epochs (best) | peak RSS MB | eval s | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ds, per_model in report["aggregates"].items():
        rn_eps = _get(per_model, "rnnrec", "train_events_per_second", "mean")
        for model, agg in per_model.items():
            if not agg.get("n_seeds_ok"):
                lines.append(f"| {ds} | {labels.get(model, model)} | failed | | | | | | | | | "
                             f"{_short_error(agg)} |")
                continue
            nd = _get(agg, "test", "NDCG@10")
            rc = _get(agg, "test", "Recall@20")
            eps = _get(agg, "train_events_per_second", "mean")
            ratio = (rn_eps / eps) if (rn_eps and eps and model != "rnnrec") else None
            ep = _get(agg, "epochs", "values")
            be = _get(agg, "best_epoch", "values")
            ep_s = "—" if not ep else "/".join(str(int(e)) for e in ep)
            if be:
                ep_s += " (" + "/".join(str(int(b)) for b in be) + ")"
            note = agg.get("note", "")
            busy = _get(agg, "other_cpu_share", "max")
            if busy is not None and busy > BUSY_THRESHOLD:
                note = (note + "; " if note else "") + f"machine shared: other processes used up to {busy:.0%} of the CPU (timings inflated)"
            n_expected = 1 if model == "mostpop" else len(report["seeds"])
            if agg["n_seeds_ok"] < n_expected:
                note = (note + "; " if note else "") + f"{agg['n_seeds_ok']} of {n_expected} seeds ok"
            lines.append(
                f"| {ds} | {labels.get(model, model)} | {_fmt(nd['mean'])} ± {_fmt(nd['spread_max_min'])} | "
                f"{_fmt(rc['mean'])} ± {_fmt(rc['spread_max_min'])} | {_num(eps)} | "
                f"{'—' if ratio is None else f'{ratio:.2f}×'} | {_num(_get(agg, 'seconds_per_epoch', 'mean'), 1)} | "
                f"{_num(_get(agg, 'seconds_to_best_epoch', 'mean'), 1)} | {ep_s} | "
                f"{_num(_get(agg, 'peak_rss_mb', 'max'))} | {_num(_get(agg, 'eval_seconds', 'mean'), 2)} | {note} |"
            )
    lines += ["", "## All test metrics (mean over seeds)", ""]
    cols = [f"{m}@{k}" for m in ("HR", "NDCG", "MRR") for k in KS]
    lines.append("| dataset | model | " + " | ".join(cols) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for ds, per_model in report["aggregates"].items():
        for model, agg in per_model.items():
            if agg.get("test"):
                lines.append(f"| {ds} | {labels.get(model, model)} | "
                             + " | ".join(_fmt(_get(agg, "test", c, "mean")) for c in cols) + " |")
            if agg.get("test_exclude_seen"):
                lines.append(f"| {ds} | {labels.get(model, model)} — extra: seen items removed | "
                             + " | ".join(_fmt(_get(agg, "test_exclude_seen", c, "mean")) for c in cols) + " |")
    lines += ["", "## Splits", "", "| dataset | users evaluated | catalogue items | training events | source | reader |",
              "|---|---|---|---|---|---|"]
    for ds, meta in report["splits"].items():
        lines.append(f"| {ds} | {meta['n_users_evaluated']:,} | {meta['n_catalogue']:,} | {meta['n_train_events']:,} | "
                     f"`{meta['source']}` | {meta['reader']} |")
    lines.append("")
    return "\n".join(lines)


def machine_info() -> dict:
    return measure.machine_basics(REPO)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"),
                    help="folder holding the dataset folders (default: ../shared/datasets from the repo root)")
    ap.add_argument("--out", default=None, help="run folder (default benchmarks/results/<timestamp>)")
    ap.add_argument("--reader", default="auto", choices=["auto", "rnnrec", "own"],
                    help="auto: rnnrec.data.io.read_interactions if importable, else the harness's readers")
    ap.add_argument("--recbole-epochs", type=int, default=2,
                    help="RecBole epoch cap (its default is 300 with early stopping; ~97 s/epoch on ml-100k here)")
    ap.add_argument("--rectools-patience", type=int, default=5, help="epochs without a better validation NDCG@10")
    ap.add_argument("--rectools-max-epochs", type=int, default=200)
    ap.add_argument("--gru4rec-path", default=None,
                    help="gru4rec_official: folder of your checkout of hidasib/GRU4Rec_PyTorch_Official (not shipped)")
    ap.add_argument("--rnnrec-bin", default=str(REPO / ".venv" / "bin" / "rnnrec"))
    ap.add_argument("--rnnrec-set", action="append", help="extra `--set key=value` for rnnrec (repeatable)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per model run (killed after)")
    ap.add_argument("--reuse", action="store_true", help="keep finished runs found in --out (resume)")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rebuild results.json/.md from the finished runs in --out (implies --reuse)")
    args = ap.parse_args(argv)
    if args.report_only:
        args.reuse = True

    date = _dt.datetime.now(_dt.timezone.utc)
    out = (Path(args.out) if args.out else BENCH / "results" / date.strftime("%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data_root = Path(args.data_root).resolve()
    command = shlex.join([os.path.relpath(sys.executable, os.getcwd()),
                          os.path.relpath(__file__, os.getcwd()), *(argv if argv is not None else sys.argv[1:])])

    report: dict = {"date": date.isoformat(timespec="seconds"), "command": command, "cwd": os.getcwd(),
                    "machine": machine_info(), "seeds": args.seeds, "models": args.models,
                    "settings": {k: v for k, v in vars(args).items()}, "splits": {}, "runs": {}, "aggregates": {}}

    def save():
        report["run_commands"] = sorted({(r.get("harness_date", "?"), r["harness_command"])
                                         for per in report["runs"].values() for runs in per.values()
                                         for r in runs if r.get("harness_command") and r["harness_command"] != command})
        (out / "results.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        (out / "results.md").write_text(markdown(report), encoding="utf-8")

    for ds in args.datasets:
        split_dir = out / "splits" / ds
        if args.reuse and (split_dir / "meta.json").exists():
            meta = json.loads((split_dir / "meta.json").read_text())
        else:
            meta = export_split(ds, data_root, split_dir, args.reader)
        report["splits"][ds] = meta
        print(f"[{ds}] split: {meta['n_users_evaluated']} users, {meta['n_catalogue']} items, "
              f"{meta['n_train_events']} training events -> {split_dir}", flush=True)
        report["runs"][ds] = {}
        report["aggregates"][ds] = {}
        for model in args.models:
            runs = []
            for seed in (args.seeds if model != "mostpop" else args.seeds[:1]):
                run_dir = out / "raw" / ds / model / f"seed{seed}"
                cached = run_dir / "summary.json"
                if args.reuse and cached.exists():
                    r = json.loads(cached.read_text())
                    if "error" not in r:
                        runs.append(r)
                        print(f"[{ds}] {model} seed {seed}: reused", flush=True)
                        continue
                if args.report_only:
                    continue
                run_dir.mkdir(parents=True, exist_ok=True)
                print(f"[{ds}] {model} seed {seed}: running ...", flush=True)
                try:
                    if model == "rnnrec":
                        r = run_rnnrec(ds, data_root, seed, run_dir, meta, args)
                    else:
                        r = run_peer(model, split_dir, seed, run_dir, args)
                except Exception as e:  # keep the other runs going; the error lands in the report
                    r = {"error": f"{type(e).__name__}: {e}"}
                r.setdefault("seed", seed)
                r["harness_command"] = command
                r["harness_date"] = date.isoformat(timespec="seconds")
                cached.write_text(json.dumps(r, indent=2, default=str), encoding="utf-8")
                runs.append(r)
                if "error" in r:
                    print(f"[{ds}] {model} seed {seed}: ERROR {r['error']}", flush=True)
                else:
                    print(f"[{ds}] {model} seed {seed}: NDCG@10 {r['test']['NDCG@10']:.4f} "
                          f"Recall@20 {r['test']['Recall@20']:.4f} "
                          f"events/s {r.get('train_events_per_second') or 0:,.0f} "
                          f"epochs {r.get('epochs')} RSS {r.get('process', {}).get('peak_rss_mb', 0):.0f} MB "
                          f"other-CPU {r.get('process', {}).get('other_cpu_share') or 0:.0%}", flush=True)
                report["runs"][ds][model] = runs
                report["aggregates"][ds][model] = aggregate(runs)
                save()
            if runs:
                report["runs"][ds][model] = runs
                report["aggregates"][ds][model] = aggregate(runs)
            save()
    save()
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
