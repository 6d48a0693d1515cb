"""rnnrec's session-based GRU4Rec vs. the OFFICIAL PyTorch GRU4Rec on rsc15-100k (PROTOCOL.md §2).

Both models read the same two files, ``rsc15-100k/yoochoose-clicks-100k_train_full.txt`` (training)
and ``..._test.txt`` (test), and evaluate themselves under the ``session`` protocol: every test
session starts from an empty state, every position t >= 1 ranks all training items for event t+1,
full ranking with pessimistic ties (the official ``run.py ... -e conservative``), Recall@k and
MRR@k averaged over all targets, k = 1, 5, 10, 20.

- rnnrec runs through its CLI::

      RNNREC train --protocol session --data TRAIN --test TEST --format gru4rec \\
          --config examples/configs/rsc15_gru4rec.toml --set train.device=DEV --set train.seed=N \\
          --set train.epochs=E --set train.batch_size=B --set model.hidden=H --out DIR

  (with ``-q`` before ``train``) and writes ``DIR/metrics.json`` (``protocol: "session"``).
- The official GRU4Rec (https://github.com/hidasib/GRU4Rec_PyTorch_Official) is NOT part of this
  repository (its licence forbids redistribution): clone it yourself and pass the folder with
  ``--gru4rec-path``. Its own ``run.py`` runs unchanged in its own environment
  (``bash benchmarks/setup_peers.sh gru4rec``) through ``benchmarks/peers/gru4rec_official.py``,
  which only seeds torch's RNG (``run.py`` has no seed option) before executing it; the harness
  parses what ``run.py`` prints (per-epoch ``Epoch1 --> loss: ... (24.57s) [284.68 mb/s | 22568
  e/s]``, ``Total training time``, ``Recall@20: ... MRR@20: ...``).

Every run is its own subprocess (peak RSS from ``os.wait4``); runs are interleaved by seed.
Variants (``--variants``): ``rsc15`` = the official repo's published RSC15 parameters
(cross-entropy, shared embedding, hidden 100, batch 32, n_sample 2048, lr 0.1, 10 epochs);
``gpu128`` / ``gpu512`` = the same with hidden 128 and batch 128 / 512 (GPU throughput).

Usage (from the repository root)::

    bash benchmarks/setup_peers.sh gru4rec        # once: benchmarks/.envs/gru4rec
    .venv/bin/python benchmarks/session_benchmark.py --gru4rec-path ~/src/GRU4Rec_PyTorch_Official \\
        --seeds 0 1 2 --out benchmarks/results/session-cpu

    # a bare GPU machine with python3 + torch/pandas/numpy and no venvs:
    PYTHONPATH=src python3 benchmarks/session_benchmark.py --gru4rec-path /path/to/GRU4Rec_PyTorch_Official \\
        --gru4rec-python python3 --rnnrec-cmd "python3 -m rnnrec.cli" --device cuda \\
        --variants rsc15 gpu128 gpu512 --out benchmarks/results/session-gpu

Outputs under ``--out`` (default ``benchmarks/results/session-<UTC time>``): ``results.json`` (every
run's raw result + mean ± std over seeds + machine), ``results.md`` (the side-by-side table), and
``raw/<variant>/<model>/seed<N>/`` with ``stdout.txt``, ``stderr.txt``, ``result.json`` (and rnnrec's
model folder with ``metrics.json``; the official run's ``peer_info.json``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import measure  # benchmarks/measure.py (this script's folder is on sys.path)

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
WRAPPER = BENCH / "peers" / "gru4rec_official.py"

DATASET = "rsc15-100k"
TRAIN_FILE = "rsc15-100k/yoochoose-clicks-100k_train_full.txt"
TEST_FILE = "rsc15-100k/yoochoose-clicks-100k_test.txt"
KS = (1, 5, 10, 20)
METRICS = tuple(f"Recall@{k}" for k in KS) + tuple(f"MRR@{k}" for k in KS)

# The official repo's best RSC15 parameters (its README, "Best hyperparameters"), in run.py's
# -ps syntax. n_epochs is added from --epochs.
RSC15_PARAMS = {
    "loss": "cross-entropy", "constrained_embedding": "True", "embedding": 0, "elu_param": 0,
    "layers": 100, "batch_size": 32, "dropout_p_embed": 0.1, "dropout_p_hidden": 0.0,
    "learning_rate": 0.1, "momentum": 0.0, "n_sample": 2048, "sample_alpha": 0.75, "bpreg": 0.0, "logq": 1.0,
}
VARIANTS = {
    "rsc15": {"desc": "published RSC15 configuration (cross-entropy, shared embedding, hidden 100, batch 32)",
              "official": RSC15_PARAMS},
    "gpu128": {"desc": "rsc15 with hidden 128, batch 128 (GPU throughput)",
               "official": {**RSC15_PARAMS, "layers": 128, "batch_size": 128}},
    "gpu512": {"desc": "rsc15 with hidden 128, batch 512 (GPU throughput)",
               "official": {**RSC15_PARAMS, "layers": 128, "batch_size": 512}},
}
# rnnrec gets the variant's hidden size and batch size explicitly (on top of --rnnrec-config), and
# the epochs, seed and device of the run, through these `--set` keys.
RNNREC_KEYS = {"epochs": "train.epochs", "seed": "train.seed", "device": "train.device",
               "batch_size": "train.batch_size", "hidden": "model.hidden"}

MODELS = ("rnnrec", "official")
LABELS = {"rnnrec": "rnnrec (session GRU4Rec)", "official": "official GRU4Rec (PyTorch)"}


# ----------------------------------------------------------------------------------------------
# The data: counts of events, sessions and targets (stdlib only, so it runs on a bare machine)
# ----------------------------------------------------------------------------------------------
def _sessions(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f, delimiter="\t")
        header = next(r)
        s_col, i_col = header.index("SessionId"), header.index("ItemId")
        for row in r:
            out.setdefault(row[s_col], []).append(row[i_col])
    return out


def data_stats(data_root: Path) -> dict:
    """Training targets (next-item pairs = events - sessions) and test targets after PROTOCOL §2.2."""
    train_path, test_path = data_root / TRAIN_FILE, data_root / TEST_FILE
    for p in (train_path, test_path):
        if not p.is_file():
            raise SystemExit(f"session_benchmark.py: {p} not found (set --data-root)")
    train, test = _sessions(train_path), _sessions(test_path)
    items = {i for s in train.values() for i in s}
    known = [[i for i in s if i in items] for s in test.values()]  # unknown test items removed ...
    kept = [s for s in known if len(s) >= 2]  # ... then sessions shorter than 2
    return {
        "dataset": DATASET, "train_file": str(train_path), "test_file": str(test_path),
        "train_events": sum(map(len, train.values())), "train_sessions": len(train), "train_items": len(items),
        "train_targets": sum(len(s) - 1 for s in train.values()),
        "test_events": sum(map(len, test.values())), "test_sessions": len(test),
        "test_events_unknown_item": sum(map(len, test.values())) - sum(map(len, known)),
        "test_sessions_kept": len(kept), "test_targets": sum(len(s) - 1 for s in kept),
    }


# ----------------------------------------------------------------------------------------------
# Subprocesses: wall time, peak RSS (os.wait4), CPU used by other processes meanwhile
# ----------------------------------------------------------------------------------------------
def _child_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if env.get("PYTHONPATH"):  # children run in other folders: make relative entries (PYTHONPATH=src) absolute
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) if p else p
                                            for p in env["PYTHONPATH"].split(os.pathsep))
    return env


def run_measured(cmd: list[str], run_dir: Path, cwd: Path, timeout: float | None) -> dict:
    """Run ``cmd`` with its output in ``run_dir/stdout.txt`` and ``stderr.txt`` (see ``measure.run_measured``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "stdout.txt", "w", encoding="utf-8") as out, \
            open(run_dir / "stderr.txt", "w", encoding="utf-8") as err:
        return measure.run_measured(cmd, out, err, cwd, timeout, env=_child_env())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _tail(run_dir: Path, n: int = 12) -> str:
    text = (_read(run_dir / "stdout.txt").splitlines()[-n:] + ["--- stderr:"]
            + _read(run_dir / "stderr.txt").splitlines()[-n:])
    return "\n".join(text)


def _which(exe: str) -> str | None:
    if os.sep in exe:
        return exe if Path(exe).exists() else None
    return shutil.which(exe)


# ----------------------------------------------------------------------------------------------
# The official GRU4Rec
# ----------------------------------------------------------------------------------------------
EPOCH_RE = re.compile(r"^Epoch(\d+) --> loss: (\S+)\s+\(([\d.]+)s\)\s+\[([\d.]+) mb/s \| ([\d.]+) e/s\]", re.M)
METRIC_RE = re.compile(r"^Recall@(\d+): ([\d.eE+-]+|nan) MRR@(\d+): ([\d.eE+-]+|nan)", re.M)


def parse_official(text: str) -> dict:
    """What run.py prints: per-epoch loss/seconds/mb/s/e/s, total training time, evaluation."""
    epochs = [{"epoch": int(m[1]), "loss": float(m[2]), "seconds": float(m[3]), "minibatches_per_second": float(m[4]),
               "events_per_second": float(m[5])} for m in EPOCH_RE.finditer(text)]
    out: dict = {"epoch_history": epochs}
    if m := re.search(r"^Total training time: ([\d.]+)s", text, re.M):
        out["train_seconds"] = float(m[1])
    if m := re.search(r"^Evaluation took ([\d.]+)s", text, re.M):
        out["eval_seconds"] = float(m[1])
    if m := re.search(r"^Created sample store with (\d+) batches", text, re.M):
        out["sample_store_batches"] = int(m[1])
    if m := re.search(r"cuda_max_memory_allocated_mb: ([\d.]+)", text):
        out["gpu_max_allocated_mb"] = float(m[1])
    test = {}
    for m in METRIC_RE.finditer(text):
        test[f"Recall@{m[1]}"] = float(m[2])
        test[f"MRR@{m[3]}"] = float(m[4])
    if test:
        out["test"] = test
    if "NaN error" in text:
        out["nan_error"] = True
    return out


def official_param_string(variant: str, epochs: int) -> str:
    params = {**VARIANTS[variant]["official"], "n_epochs": epochs}
    return ",".join(f"{k}={v}" for k, v in params.items())


def run_official(variant: str, seed: int, run_dir: Path, data: dict, args) -> dict:
    python = _which(args.gru4rec_python)
    if python is None:
        return {"error": f"{args.gru4rec_python} not found: run `bash benchmarks/setup_peers.sh gru4rec` "
                         "or pass --gru4rec-python"}
    ps = official_param_string(variant, args.epochs)
    cmd = [python, str(WRAPPER), "--gru4rec-path", str(args.gru4rec_path), "--seed", str(seed),
           "--info", str(run_dir / "peer_info.json"), "--",
           data["train_file"], "-t", data["test_file"], "-m", *map(str, KS), "-e", "conservative",
           "-d", "cuda:0" if args.device == "cuda" else "cpu", "-ps", ps]
    proc = run_measured(cmd, run_dir, cwd=run_dir, timeout=args.timeout)
    out: dict = {"process": proc, "param_string": ps}
    parsed = parse_official(_read(run_dir / "stdout.txt"))
    out.update(parsed)
    if (run_dir / "peer_info.json").exists():
        out["peer_info"] = json.loads(_read(run_dir / "peer_info.json"))
    problems = []
    if proc["rc"] != 0:
        problems.append(f"exit {proc['rc']}{' (timeout)' if proc['timed_out'] else ''}")
    if parsed.get("nan_error"):
        problems.append("run.py reported a NaN error during training")
    if len(parsed["epoch_history"]) != args.epochs:
        problems.append(f"{len(parsed['epoch_history'])} epoch lines parsed, expected {args.epochs}")
    if set(parsed.get("test", {})) != set(METRICS):
        problems.append(f"metrics parsed: {sorted(parsed.get('test', {}))}, expected {list(METRICS)}")
    if problems:
        out["error"] = "; ".join(problems) + f"; log tail:\n{_tail(run_dir)}"
        return out
    ep = parsed["epoch_history"]
    out["epochs"] = len(ep)
    out["seconds_per_epoch"] = statistics.fmean(e["seconds"] for e in ep)
    # run.py's own e/s: sum over minibatches of `n_valid`, which fit() sets to batch_size once and
    # never updates, i.e. (#minibatches x batch_size) / epoch seconds.
    out["own_events_per_second"] = statistics.fmean(e["events_per_second"] for e in ep)
    out["own_counted_events_per_epoch"] = statistics.fmean(e["events_per_second"] * e["seconds"] for e in ep)
    out["targets_per_second"] = data["train_targets"] / out["seconds_per_epoch"]
    out["n_test"] = data["test_targets"]  # run.py prints no count: the harness's count of the same filter
    out["n_test_source"] = "computed by the harness from the test file (run.py does not print it)"
    return out


# ----------------------------------------------------------------------------------------------
# rnnrec
# ----------------------------------------------------------------------------------------------
REJECTED_RE = re.compile(r"usage: |invalid choice|unrecognized arguments|unknown option|unknown section|"
                         r"error: argument|the following arguments are required")


def rnnrec_command(variant: str, seed: int, run_dir: Path, data: dict, args) -> list[str]:
    params = VARIANTS[variant]["official"]
    sets = {RNNREC_KEYS["device"]: args.device, RNNREC_KEYS["seed"]: seed, RNNREC_KEYS["epochs"]: args.epochs,
            RNNREC_KEYS["batch_size"]: params["batch_size"], RNNREC_KEYS["hidden"]: params["layers"]}
    cmd = [*shlex.split(args.rnnrec_cmd), "-q", "train", "--protocol", "session",
           "--data", data["train_file"], "--test", data["test_file"], "--format", "gru4rec",
           "--config", str(Path(args.rnnrec_config).resolve())]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    for s in args.rnnrec_set or []:
        cmd += ["--set", s]
    return cmd + ["--out", str(run_dir / "model")]


def run_rnnrec(variant: str, seed: int, run_dir: Path, data: dict, args) -> dict:
    exe = shlex.split(args.rnnrec_cmd)[0]
    if _which(exe) is None:
        return {"error": f"rnnrec command {args.rnnrec_cmd!r} not found (install the project into .venv, or pass "
                         "--rnnrec-cmd 'python3 -m rnnrec.cli' with PYTHONPATH=src)"}
    if not Path(args.rnnrec_config).is_file():
        return {"error": f"rnnrec config {args.rnnrec_config} not found (--rnnrec-config)"}
    cmd = rnnrec_command(variant, seed, run_dir, data, args)
    proc = run_measured(cmd, run_dir, cwd=REPO, timeout=args.timeout)
    out: dict = {"process": proc}
    mpath = run_dir / "model" / "metrics.json"
    if proc["rc"] != 0 or not mpath.exists():
        stderr = _read(run_dir / "stderr.txt")
        if proc["rc"] != 0 and REJECTED_RE.search(stderr):
            out["error"] = ("the rnnrec CLI rejected the session-benchmark command (session protocol not available "
                            "in this rnnrec, or the contract changed). The harness runs: `rnnrec -q train --protocol "
                            "session --data TRAIN --test TEST --format gru4rec --config CONFIG --set "
                            + " --set ".join(f"{v}=..." for v in RNNREC_KEYS.values())
                            + " --out DIR` and reads DIR/metrics.json. rnnrec said:\n"
                            + "\n".join(stderr.strip().splitlines()[-6:]))
        else:
            out["error"] = f"exit {proc['rc']}{' (timeout)' if proc['timed_out'] else ''}, " \
                           f"metrics.json {'present' if mpath.exists() else 'missing'}; log tail:\n{_tail(run_dir)}"
        return out
    m = json.loads(_read(mpath))
    out["metrics_json"] = m
    problems = []
    if m.get("protocol") != "session":
        problems.append(f"metrics.json protocol is {m.get('protocol')!r}, expected 'session'")
    test = m.get("test") or {}
    missing = [k for k in METRICS if k not in test]
    if missing:
        problems.append(f"metrics.json test lacks {missing}")
    out["test"] = {k: float(test[k]) for k in METRICS if k in test}
    for key in ("n_test", "train_seconds", "seconds_per_epoch", "epochs", "eval_seconds"):
        if m.get(key) is not None:
            out[key] = m[key]
    out["own_events_per_second"] = m.get("train_events_per_second")
    if m.get("seed") is not None and m["seed"] != seed:
        problems.append(f"metrics.json seed {m['seed']} != requested {seed}")
    if out.get("epochs") is not None and out["epochs"] != args.epochs:
        problems.append(f"rnnrec trained {out['epochs']} epochs, expected {args.epochs}")
    if out.get("n_test") != data["test_targets"]:
        problems.append(f"n_test {out.get('n_test')} != {data['test_targets']} targets in the test file "
                        "(PROTOCOL §2: unknown items removed, then sessions < 2)")
    if out.get("seconds_per_epoch"):
        out["targets_per_second"] = data["train_targets"] / out["seconds_per_epoch"]
    if problems:
        out["error"] = "; ".join(problems)
    return out


# ----------------------------------------------------------------------------------------------
# Aggregation and report
# ----------------------------------------------------------------------------------------------
SPEED_KEYS = ("targets_per_second", "own_events_per_second", "seconds_per_epoch", "train_seconds", "eval_seconds",
              "epochs")


def _stats(vals: list[float]) -> dict:
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "spread_max_min": max(vals) - min(vals), "values": vals}


def aggregate(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    agg: dict = {"n_seeds_ok": len(ok), "seeds": [r["seed"] for r in ok],
                 "errors": [f"seed {r['seed']}: {r['error']}" for r in runs if "error" in r]}
    if not ok:
        return agg
    agg["test"] = {k: _stats([r["test"][k] for r in ok]) for k in METRICS}
    for k in SPEED_KEYS:
        vals = [float(r[k]) for r in ok if r.get(k) is not None]
        if vals:
            agg[k] = _stats(vals)
    agg["peak_rss_mb"] = _stats([r["process"]["peak_rss_mb"] for r in ok])
    agg["wall_seconds"] = _stats([r["process"]["wall_seconds"] for r in ok])
    other = [r["process"]["other_cpu_share"] for r in ok if r["process"].get("other_cpu_share") is not None]
    if other:
        agg["other_cpu_share_max"] = max(other)
    gpu = [r["gpu_max_allocated_mb"] for r in ok if r.get("gpu_max_allocated_mb") is not None]
    if gpu:
        agg["gpu_max_allocated_mb"] = max(gpu)
    return agg


BUSY_THRESHOLD = 0.10


def _g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _pm(agg, key, nd=4):
    s = _g(agg, "test", key)
    return "—" if s is None else f"{s['mean']:.{nd}f} ± {s['std']:.{nd}f}"


def _num(x, nd=0):
    return "—" if x is None else f"{x:,.{nd}f}"


def markdown(report: dict) -> str:
    m, d = report["machine"], report["data"]
    gpu = m.get("gpu") or "none"
    lines = [
        f"# Session-based benchmark: rnnrec vs. the official GRU4Rec ({report['date']})",
        "",
        f"- Dataset: `{DATASET}` — train `{Path(d['train_file']).name}` ({d['train_events']:,} events, "
        f"{d['train_sessions']:,} sessions, {d['train_items']:,} items, {d['train_targets']:,} training targets = "
        f"events − sessions), test `{Path(d['test_file']).name}` ({d['test_events']:,} events, {d['test_sessions']:,} "
        f"sessions → **{d['test_targets']:,} targets** after removing unknown items and sessions < 2).",
        "- Protocol: PROTOCOL.md §2 (`session`): each test session from an empty state, every position ranks all "
        "training items, pessimistic ties (official: `run.py -e conservative`), Recall@k / MRR@k over all targets.",
        f"- Device: `{report['settings']['device']}`. Machine: {m['cpu_model']}, {m['cores']} cores, "
        f"{m['mem_gib']:.0f} GiB RAM, GPU: {gpu}; {m['platform']}.",
        f"- torch: rnnrec side {_g(m, 'torch_rnnrec', 'torch') or '—'}, official side "
        f"{_g(m, 'torch_official', 'torch') or '—'}. Official checkout: {report.get('official_checkout', {}).get('id', '—')}.",
        f"- Epochs: {report['settings']['epochs']} (fixed, no early stopping, both). Seeds: {report['seeds']}; "
        "values are mean ± std over the seeds that finished.",
        f"- Command: `{report['command']}`",
        "",
        "**events/s** = training targets per epoch ({:,}, the next-item pairs of train_full) ÷ mean seconds per "
        "epoch, the same count for both models; **ratio** = rnnrec events/s ÷ official events/s in the same "
        "variant. **own e/s** = each one's own number: rnnrec's `train_events_per_second`; the official "
        "`run.py`'s mean per-epoch `e/s`, which counts batch_size events per minibatch even when fewer "
        "sessions are left at the end of an epoch (so it is a little higher). s/epoch = mean epoch time as each "
        "reports it (training loop only); train s = total training time as each reports it (data preparation "
        "included); wall s = the whole subprocess (loading, training, evaluation); peak RSS = `os.wait4` "
        "`ru_maxrss` of the model's process.".format(d["train_targets"]),
        "",
        "| variant | model | Recall@1 | Recall@5 | Recall@10 | Recall@20 | MRR@1 | MRR@5 | MRR@10 | MRR@20 | "
        "events/s | own e/s | rnnrec ÷ official | s/epoch | train s | wall s | peak RSS MB | seeds ok | note |",
        "|---|---|" + "---|" * 17,
    ]
    for variant, per_model in report["aggregates"].items():
        rn = _g(per_model, "rnnrec", "targets_per_second", "mean")
        of = _g(per_model, "official", "targets_per_second", "mean")
        for model, agg in per_model.items():
            n_expected = len(report["runs"][variant][model])
            if not agg.get("n_seeds_ok"):
                err = (agg.get("errors") or ["no result"])[0].strip().splitlines()
                msg = (err[0] + (" … " + err[-1] if len(err) > 1 else "")).replace("|", "/")[:300]
                lines.append(f"| {variant} | {LABELS[model]} | failed |" + " |" * 16 + f" {msg} |")
                continue
            note = []
            busy = agg.get("other_cpu_share_max")
            if busy is not None and busy > BUSY_THRESHOLD:
                note.append(f"machine shared: other processes used up to {busy:.0%} of the CPU (timings inflated)")
            if agg["n_seeds_ok"] < n_expected:
                note.append(f"{n_expected - agg['n_seeds_ok']} seed(s) failed")
            if model == "official" and agg.get("gpu_max_allocated_mb"):
                note.append(f"GPU peak {agg['gpu_max_allocated_mb']:,.0f} MB")
            ratio = f"{rn / of:.2f}×" if (model == "rnnrec" and rn and of) else "—"
            lines.append(
                f"| {variant} | {LABELS[model]} | " + " | ".join(_pm(agg, k) for k in METRICS)
                + f" | {_num(_g(agg, 'targets_per_second', 'mean'))} | {_num(_g(agg, 'own_events_per_second', 'mean'))}"
                f" | {ratio} | {_num(_g(agg, 'seconds_per_epoch', 'mean'), 2)} | {_num(_g(agg, 'train_seconds', 'mean'), 1)}"
                f" | {_num(_g(agg, 'wall_seconds', 'mean'), 1)} | {_num(_g(agg, 'peak_rss_mb', 'mean'))}"
                f" | {agg['n_seeds_ok']}/{n_expected} | {'; '.join(note)} |")
    lines += ["", "Variants:"]
    for v in report["aggregates"]:
        lines.append(f"- `{v}`: {VARIANTS[v]['desc']}; official `-ps {official_param_string(v, report['settings']['epochs'])}`; "
                     f"rnnrec `--config {os.path.relpath(report['settings']['rnnrec_config'], REPO)}` + "
                     f"`{RNNREC_KEYS['batch_size']}={VARIANTS[v]['official']['batch_size']}` "
                     f"`{RNNREC_KEYS['hidden']}={VARIANTS[v]['official']['layers']}`.")
    lines += ["", "Seeding: rnnrec `--set train.seed=N`. The official run.py has no seed option; "
              "`benchmarks/peers/gru4rec_official.py` seeds torch's global RNG (negative samples, dropout) with N "
              "before running it; its initial weights are the same in every run (its compatibility mode draws them "
              "after `np.random.seed(42)`).", ""]
    errs = [(v, mdl, e) for v, pm in report["aggregates"].items() for mdl, a in pm.items() for e in a.get("errors", [])]
    if errs:
        lines += ["## Errors", ""]
        for v, mdl, e in errs:
            lines += [f"- {v} / {mdl}: " + e.strip().splitlines()[0][:500]]
        lines.append("")
    return "\n".join(lines)


PROBE = ("import json, platform, torch; c = torch.cuda.is_available(); print(json.dumps({'python': "
         "platform.python_version(), 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'cuda': c, "
         "'gpu': torch.cuda.get_device_name(0) if c else None, 'cuda_version': torch.version.cuda}))")


def _probe(python: str | None) -> dict | None:
    if not python:
        return None
    try:
        r = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=120, env=_child_env())
        return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"error": r.stderr[-300:]}
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
        return {"error": str(e)}


def _rnnrec_python(rnnrec_cmd: str) -> str | None:
    exe = shlex.split(rnnrec_cmd)[0]
    if Path(exe).name.startswith("python"):
        return _which(exe)
    sibling = Path(exe).parent / "python"  # <venv>/bin/rnnrec -> <venv>/bin/python
    return str(sibling) if os.sep in exe and sibling.exists() else sys.executable


def machine_info(args) -> dict:
    info = measure.machine_basics(REPO)
    if "rnnrec" in args.models:
        info["torch_rnnrec"] = _probe(_rnnrec_python(args.rnnrec_cmd))
    if "official" in args.models:
        info["torch_official"] = _probe(_which(args.gru4rec_python))
    gpus = [p.get("gpu") for p in (info.get("torch_rnnrec"), info.get("torch_official")) if p and p.get("gpu")]
    info["gpu"] = gpus[0] if gpus else None
    return info


def official_checkout(path: Path) -> dict:
    """Identifies the user's checkout without copying it: git commit (if a clone) and file hashes."""
    out: dict = {"path": str(path)}
    for f in ("run.py", "gru4rec_pytorch.py", "evaluation.py"):
        if (path / f).is_file():
            out[f"sha256_{f}"] = hashlib.sha256((path / f).read_bytes()).hexdigest()
    # Only a clone of its own: a folder copied inside another repository must not report that one's commit.
    top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    r = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip() and Path(top.stdout.strip()).resolve() == path.resolve():
        out["git_commit"] = r.stdout.strip()
    out["id"] = (f"commit {out['git_commit'][:12]}" if "git_commit" in out
                 else f"gru4rec_pytorch.py sha256 {out.get('sha256_gru4rec_pytorch.py', '?')[:12]}")
    return out


# ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gru4rec-path", help="folder of your GRU4Rec_PyTorch_Official checkout (run.py, "
                                           "gru4rec_pytorch.py, evaluation.py); required with --models official")
    ap.add_argument("--gru4rec-python", default=str(BENCH / ".envs" / "gru4rec" / "bin" / "python"),
                    help="python that runs the official code (default: benchmarks/.envs/gru4rec/bin/python)")
    ap.add_argument("--rnnrec-cmd", default=str(REPO / ".venv" / "bin" / "rnnrec"),
                    help="command that runs the rnnrec CLI (default: .venv/bin/rnnrec; e.g. 'python3 -m rnnrec.cli')")
    ap.add_argument("--rnnrec-config", default=str(REPO / "examples" / "configs" / "rsc15_gru4rec.toml"))
    ap.add_argument("--rnnrec-set", action="append", help="extra `--set key=value` for rnnrec (repeatable)")
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"),
                    help="folder holding rsc15-100k/ (default: ../shared/datasets from the repo root)")
    ap.add_argument("--models", nargs="+", choices=MODELS, help="default: rnnrec official")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="default: rsc15")
    ap.add_argument("--seeds", nargs="+", type=int, help="default: 0 1 2")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run (killed after)")
    ap.add_argument("--out", default=None, help="run folder (default benchmarks/results/session-<UTC time>)")
    ap.add_argument("--reuse", action="store_true", help="keep runs already finished in --out")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rebuild results.json/.md from the finished runs in --out (implies --reuse)")
    args = ap.parse_args(argv)
    if args.report_only:
        args.reuse = True
        if not args.out:
            ap.error("--report-only needs --out")
        found = [p.parent.relative_to(Path(args.out).resolve() / "raw").parts
                 for p in sorted((Path(args.out).resolve() / "raw").glob("*/*/seed*/result.json"))]
        args.variants = args.variants or [v for v in VARIANTS if any(f[0] == v for f in found)]
        args.models = args.models or [m for m in MODELS if any(f[1] == m for f in found)]
        args.seeds = args.seeds or sorted({int(f[2][4:]) for f in found})
    args.models = args.models or list(MODELS)
    args.variants = args.variants or ["rsc15"]
    args.seeds = args.seeds if args.seeds is not None else [0, 1, 2]
    if "official" in args.models and not args.report_only:
        if not args.gru4rec_path:
            ap.error("--gru4rec-path DIR is required to run the official GRU4Rec (clone "
                     "https://github.com/hidasib/GRU4Rec_PyTorch_Official yourself; it is not bundled)")
        path = Path(args.gru4rec_path).expanduser().resolve()
        missing = [f for f in ("run.py", "gru4rec_pytorch.py", "evaluation.py") if not (path / f).is_file()]
        if missing:
            ap.error(f"--gru4rec-path {path}: missing {missing}")
        args.gru4rec_path = path

    date = _dt.datetime.now(_dt.timezone.utc)
    out = (Path(args.out) if args.out else BENCH / "results" / f"session-{date:%Y%m%d-%H%M%S}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = shlex.join([os.path.relpath(sys.executable, os.getcwd()) if os.sep in sys.executable else sys.executable,
                          os.path.relpath(__file__, os.getcwd()), *(argv if argv is not None else sys.argv[1:])])
    previous = json.loads(_read(out / "results.json") or "{}")
    if args.report_only and previous.get("data"):
        data = previous["data"]
    else:
        data = data_stats(Path(args.data_root).resolve())
    print(f"[{DATASET}] train {data['train_events']:,} events / {data['train_sessions']:,} sessions / "
          f"{data['train_items']:,} items -> {data['train_targets']:,} training targets; test "
          f"{data['test_targets']:,} targets", flush=True)
    machine = previous.get("machine") if args.report_only and previous.get("machine") else machine_info(args)
    report: dict = {"date": date.isoformat(timespec="seconds"), "command": command, "cwd": os.getcwd(),
                    "protocol": "session (PROTOCOL.md §2)", "machine": machine, "data": data,
                    "seeds": args.seeds, "models": args.models, "variants": args.variants,
                    "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "runs": {}, "aggregates": {}}
    if args.gru4rec_path and "official" in args.models:
        report["official_checkout"] = official_checkout(Path(args.gru4rec_path))
    elif previous.get("official_checkout"):
        report["official_checkout"] = previous["official_checkout"]

    def save():
        for v, per in report["runs"].items():
            report["aggregates"][v] = {mdl: aggregate(runs) for mdl, runs in per.items() if runs}
        (out / "results.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        (out / "results.md").write_text(markdown(report), encoding="utf-8")

    for variant in args.variants:
        report["runs"][variant] = {m: [] for m in args.models}
        for seed in args.seeds:
            for model in args.models:
                run_dir = out / "raw" / variant / model / f"seed{seed}"
                cached = run_dir / "result.json"
                if args.reuse and cached.exists():
                    r = json.loads(_read(cached))
                    if "error" not in r or args.report_only:
                        report["runs"][variant][model].append(r)
                        print(f"[{variant}] {model} seed {seed}: reused", flush=True)
                        continue
                if args.report_only:
                    continue
                if run_dir.exists():
                    shutil.rmtree(run_dir)
                print(f"[{variant}] {model} seed {seed}: running ...", flush=True)
                try:
                    fn = run_rnnrec if model == "rnnrec" else run_official
                    r = fn(variant, seed, run_dir, data, args)
                except Exception as e:  # keep the other runs going; the error lands in the report
                    r = {"error": f"{type(e).__name__}: {e}"}
                r.update(seed=seed, model=model, variant=variant, device=args.device, epochs_requested=args.epochs,
                         harness_command=command, harness_date=report["date"], host=platform.node())
                run_dir.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(r, indent=2, default=str), encoding="utf-8")
                report["runs"][variant][model].append(r)
                if "error" in r:
                    print(f"[{variant}] {model} seed {seed}: ERROR {r['error']}", flush=True)
                else:
                    print(f"[{variant}] {model} seed {seed}: Recall@20 {r['test']['Recall@20']:.4f} "
                          f"MRR@20 {r['test']['MRR@20']:.4f} | {r['seconds_per_epoch']:.2f} s/epoch, "
                          f"{r['targets_per_second']:,.0f} targets/s (own e/s {r.get('own_events_per_second') or 0:,.0f}) "
                          f"| wall {r['process']['wall_seconds']:.1f}s, RSS {r['process']['peak_rss_mb']:.0f} MB, "
                          f"other-CPU {r['process'].get('other_cpu_share') or 0:.0%}", flush=True)
                save()
    save()
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
