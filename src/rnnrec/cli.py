"""``rnnrec`` command line: each subcommand is a few lines over the library."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from rnnrec import __version__
from rnnrec.config import RecommenderConfig
from rnnrec.errors import RnnrecError

log = logging.getLogger("rnnrec")


def _columns(spec: str | None) -> dict[str, str] | None:
    """``user_id=uid,item_id=sku,timestamp=ts`` → mapping for generic CSV/Parquet files."""
    if not spec:
        return None
    out = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise RnnrecError(f"--columns {spec!r}: expected canonical=source pairs such as user_id=uid,item_id=sku")
        out[key.strip()] = value.strip()
    return out


def _config(args: argparse.Namespace) -> RecommenderConfig:
    config = RecommenderConfig.from_toml(args.config) if args.config else RecommenderConfig()
    return config.with_overrides(args.set or [])


def _dataset(path: str, fmt: str, columns: dict[str, str] | None, config: RecommenderConfig | None = None, items=None):
    from rnnrec.data.pipeline import load_dataset

    d = config.data if config is not None else None
    return load_dataset(path, fmt, columns, d, items=items)


def _session_config(args: argparse.Namespace):
    from rnnrec.session_recommender import SessionConfig

    config = SessionConfig.from_toml(args.config) if args.config else SessionConfig()
    return config.with_overrides(args.set or [])


def _model_name(args: argparse.Namespace) -> str | None:
    """``model.name`` as the config file and ``--set`` give it (None when neither names a model)."""
    import tomllib

    name = None
    if args.config:
        try:
            name = tomllib.loads(Path(args.config).read_text(encoding="utf-8")).get("model", {}).get("name")
        except (OSError, tomllib.TOMLDecodeError):
            name = None  # the config loader reports the problem with its own message
    for assignment in args.set or []:
        key, _, value = assignment.partition("=")
        if key.strip() in ("model.name", "name"):
            name = value.strip().strip("\"'")
    return name


def cmd_train_session_sequence(args: argparse.Namespace) -> int:
    """``--protocol session`` with a sequence model (``--set model.name=time_decay`` ...)."""
    from rnnrec.data.dataset import SequenceDataset
    from rnnrec.data.sessions import split_frame_last_days
    from rnnrec.sequence_sessions import SESSION_METRICS, fit_sequence_model_on_sessions, session_eval_set
    from rnnrec.session_recommender import load_session_frames

    config = _config(args)
    if args.quiet:
        config.train.progress = False
    d = config.data
    frame, test_frame = load_session_frames(args.data, args.test, d.session_gap, d.test_days, args.format,
                                            _columns(args.columns))
    tr_frame, valid_frame = split_frame_last_days(frame, d.test_days)  # validation: the last day(s) of training
    tr = SequenceDataset.from_interactions(tr_frame)
    full = SequenceDataset.from_interactions(frame)
    valid = session_eval_set(SequenceDataset.from_interactions(valid_frame, items=tr.items), tr)
    test = session_eval_set(SequenceDataset.from_interactions(test_frame, items=full.items), full)
    log.info("train: %d sessions, %d items, %d events; test: %d targets; model %s",
             full.n_users, full.n_items, full.sequences.n_events, len(test), config.model.name)
    fitted = fit_sequence_model_on_sessions(config, tr, valid, full)
    rec, selection = fitted.recommender, fitted.selection
    result = rec.train_result
    assert result is not None
    t0 = time.perf_counter()
    metrics_test = {k: v for k, v in rec.evaluate(test).items() if k.startswith(SESSION_METRICS)}
    eval_seconds = time.perf_counter() - t0
    metrics = {
        "protocol": "session",
        "test": metrics_test,
        "n_test": len(test),
        "model": config.model.name,
        "epochs": result.epochs,
        "epochs_chosen_on_validation": {"best_epoch": selection.best_epoch, "best_MRR@20": selection.best_score,
                                        "n_valid": len(valid)},
        "train_seconds": selection.train_seconds + result.train_seconds,
        "seconds_per_epoch": result.seconds_per_epoch,
        "train_events_per_second": result.events_per_second,
        "eval_seconds": eval_seconds,
        "seed": config.train.seed,
        "data": {"path": str(args.data), "test_path": str(args.test) if args.test else None,
                 "sessions": full.n_users, "items": full.n_items, "events": full.sequences.n_events},
    }
    out = Path(args.out)
    rec.save(out, extra={"metrics": {"test": metrics_test, "protocol": "session"}})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    print(f"test (session, {len(test)} targets): "
          + "  ".join(f"{k} {metrics_test[k]:.4f}" for k in ("Recall@20", "MRR@20", "Recall@1", "Recall@5")))
    print(f"{result.epochs} epochs (chosen on the last {d.test_days:g} day(s) of training), "
          f"{metrics['train_seconds']:.1f}s training; model saved to {out}")
    return 0


def cmd_train_session(args: argparse.Namespace) -> int:
    from rnnrec.models.registry import MODELS
    from rnnrec.session_recommender import SessionRecommender, load_session_data

    name = _model_name(args)
    if name == "session_gru":
        raise RnnrecError("--protocol session trains the session model without model.name: leave model.name out "
                          "(model.name = \"session_gru\" picks that model for --protocol loo or time)")
    if name in MODELS:
        return cmd_train_session_sequence(args)
    config = _session_config(args)
    if args.quiet:
        config.train.progress = False
    train, test = load_session_data(args.data, args.test, config, args.format, _columns(args.columns))
    log.info("train: %d sessions, %d items, %d events; test: %d sessions",
             train.n_users, train.n_items, train.sequences.n_events, test.n_users)
    rec = SessionRecommender(config).fit(train)
    result = rec.train_result
    assert result is not None
    sessions = rec.prepare_test(test)
    t0 = time.perf_counter()
    metrics_test = rec.evaluate(sessions)
    eval_seconds = time.perf_counter() - t0
    metrics = {
        "protocol": "session",
        "test": metrics_test,
        "n_test": int(sessions.n_events - len(sessions)),
        "n_test_sessions": len(sessions),
        "train_seconds": result.train_seconds,
        "epochs": result.epochs,
        "train_events_per_second": result.events_per_second,
        "seconds_per_epoch": result.seconds_per_epoch,
        "eval_seconds": eval_seconds,
        "seed": config.train.seed,
        "device": str(rec.model.item_out.device) if rec.model is not None else "",
        "precision": result.precision,
        "history": result.history,
        "data": {"path": str(args.data), "test_path": str(args.test) if args.test else None,
                 "sessions": train.n_users, "items": train.n_items, "events": train.sequences.n_events},
    }
    out = Path(args.out)
    rec.save(out, extra={"metrics": {"test": metrics_test, "protocol": "session"}})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    print(f"test (session, {metrics['n_test']} targets in {len(sessions)} sessions): "
          + "  ".join(f"{k} {metrics_test[k]:.4f}" for k in ("Recall@20", "MRR@20", "Recall@1", "Recall@5")))
    print(f"{result.epochs} epochs, {result.train_seconds:.1f}s training "
          f"({result.events_per_second:,.0f} events/s); model saved to {out}")
    return 0


def _vector_sources(specs: list[str] | None) -> dict[str, str]:
    """``--vectors FILE`` or ``--vectors NAME=FILE`` (repeatable) → {block name: file}."""
    out: dict[str, str] = {}
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        name, path = (name.strip(), path.strip()) if sep else ("vectors" if not out else f"vectors{len(out) + 1}", spec)
        if not name.isidentifier():
            raise RnnrecError(f"--vectors {spec!r}: the name before '=' must be a plain identifier such as image")
        out[name] = path
    return out


def _with_item_features(args: argparse.Namespace, config: RecommenderConfig, dataset):
    """Attach item features when ``--item-features`` / ``--vectors`` are given (multimodal models)."""
    from rnnrec.models.registry import MODELS, uses_features

    if args.text_columns is not None:
        config.features.text_columns = [c.strip() for c in args.text_columns.split(",") if c.strip()]
    if not (args.item_features or args.vectors):
        return dataset
    if not uses_features(MODELS[config.model.name][1]):
        log.warning("model.name = %r reads no item features; they are loaded but unused "
                    "(pick feature_fusion, parallel_rnn or cold_start)", config.model.name)
    from rnnrec.data.pipeline import attach_item_features

    dataset = attach_item_features(dataset, args.item_features, _vector_sources(args.vectors), config.features,
                                   args.item_features_format)
    f = dataset.item_features
    log.info("item features: %s; %d of %d items have some", f.dims, int(f.present.sum()), dataset.n_items)
    return dataset


def cmd_train(args: argparse.Namespace) -> int:
    from rnnrec.data.split import leave_one_out, time_split
    from rnnrec.device import resolve_precision
    from rnnrec.recommender import SequentialRecommender

    if args.protocol == "session":
        if args.item_features or args.vectors:
            raise RnnrecError("--item-features / --vectors work with --protocol loo or time")
        return cmd_train_session(args)
    if args.test:
        raise RnnrecError("--test is for --protocol session; loo and time split the --data file themselves")
    config = _config(args)
    if args.quiet:
        config.train.progress = False
    dataset = _dataset(args.data, args.format, _columns(args.columns), config)
    log.info("data: %d users, %d items, %d events", dataset.n_users, dataset.n_items, dataset.sequences.n_events)
    dataset = _with_item_features(args, config, dataset)
    split = leave_one_out(dataset) if args.protocol == "loo" else time_split(dataset)
    rec = SequentialRecommender(config).fit(dataset, split)
    result = rec.train_result
    assert result is not None
    t0 = time.perf_counter()
    test = rec.evaluate(split.test)
    eval_seconds = time.perf_counter() - t0
    metrics = {
        "protocol": split.protocol,
        "valid": rec.evaluate(split.valid) if len(split.valid) else {},
        "test": test,
        "test_exclude_seen": rec.evaluate(split.test, exclude_seen=True),
        "n_test": len(split.test),
        "n_valid": len(split.valid),
        "train_seconds": result.train_seconds,
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "seconds_to_best_epoch": result.seconds_to_best_epoch,
        "train_events_per_second": result.events_per_second,
        "seconds_per_epoch": result.seconds_per_epoch,
        "eval_seconds": eval_seconds,
        "seed": config.train.seed,
        "device": str(rec.device),
        # of the training step's matrix products (session_gru), or of the full softmax's
        "precision": result.precision or resolve_precision(config.objective.precision, rec.device),
        "history": [
            {"epoch": h["epoch"], "loss": h["loss"], "seconds": h["seconds"],
             **({f"valid_{config.train.monitor}": h["valid"][config.train.monitor]} if "valid" in h else {})}
            for h in result.history
        ],
        "data": {"path": str(args.data), "users": dataset.n_users, "items": dataset.n_items,
                 "events": dataset.sequences.n_events},
        "item_features": None if dataset.item_features is None else {
            "metadata": args.item_features, "vectors": _vector_sources(args.vectors),
            "blocks": dataset.item_features.dims, "items_with_features": int(dataset.item_features.present.sum())},
    }
    out = Path(args.out)
    rec.save(out, extra={"metrics": {"test": test, "protocol": split.protocol}})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    print(f"test ({split.protocol}, {len(split.test)} targets): "
          + "  ".join(f"{k} {test[k]:.4f}" for k in ("NDCG@10", "Recall@20", "MRR@20", "HR@10")))
    print(f"best epoch {result.best_epoch} of {result.epochs}, {result.train_seconds:.1f}s training; model saved to {out}")
    return 0


def _model_class(path: str) -> str:
    """Which recommender a model folder holds (read from its config.json, before loading it)."""
    from rnnrec.artifact import load_artifact_meta

    return load_artifact_meta(path)["model_class"]


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rnnrec.data.split import leave_one_out
    from rnnrec.recommender import SequentialRecommender

    if _model_class(args.model) == "SessionGRU":
        from rnnrec.data.dataset import SequenceDataset
        from rnnrec.session_recommender import SessionRecommender, read_session_frame

        srec = SessionRecommender.load(args.model)
        frame = read_session_frame(args.data, args.format, _columns(args.columns), srec.config.data.session_gap)
        sessions = srec.prepare_test(SequenceDataset.from_interactions(frame, items=srec.items))
        print(json.dumps({"protocol": "session", "test": srec.evaluate(sessions),
                          "n_test": int(sessions.n_events - len(sessions)), "n_test_sessions": len(sessions)}, indent=2))
        return 0
    rec = SequentialRecommender.load(args.model)
    dataset = _dataset(args.data, args.format, _columns(args.columns), items=rec.items)
    split = leave_one_out(dataset)
    result = {
        "protocol": "loo",
        "test": rec.evaluate(split.test),
        "test_exclude_seen": rec.evaluate(split.test, exclude_seen=True),
        "n_test": len(split.test),
    }
    print(json.dumps(result, indent=2))
    return 0


def _moment(text: str, flag: str) -> float:
    """Unix seconds from ``1700000000`` or an ISO 8601 date/time (UTC unless it names a zone)."""
    import datetime as dt

    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise RnnrecError(f"{flag} {text!r}: expected Unix seconds or an ISO date/time such as 2024-05-01T18:30") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def cmd_recommend(args: argparse.Namespace) -> int:
    from rnnrec.recommender import SequentialRecommender

    history = [h for h in args.history.split(",") if h] if args.history is not None else None
    if _model_class(args.model) == "SessionGRU":
        from rnnrec.session_recommender import SessionRecommender

        if history is None:
            raise RnnrecError(f"{args.model} is a session model: it knows no users; pass the session's items with --history")
        if args.at is not None or args.history_times is not None:
            raise RnnrecError(f"{args.model} is a session model that does not read time: drop --at / --history-times")
        recs = SessionRecommender.load(args.model).recommend(history, k=args.k, exclude_seen=args.exclude_seen,
                                                               unknown=args.unknown)
    else:
        rec = SequentialRecommender.load(args.model)
        history_times = None
        if args.history_times is not None:
            if history is None:
                raise RnnrecError("--history-times goes with --history")
            history_times = [_moment(t, "--history-times") for t in args.history_times.split(",") if t]
            if len(history_times) != len(history):
                raise RnnrecError(f"--history-times has {len(history_times)} times for {len(history)} items")
        at = _moment(args.at, "--at") if args.at is not None else None
        recs = rec.recommend(user=args.user, history=history, k=args.k, exclude_seen=args.exclude_seen,
                             unknown=args.unknown, at=at, history_times=history_times)
    titles = {}
    if args.titles:
        from rnnrec.data.metadata import read_item_titles

        titles = read_item_titles(args.titles)
    if args.json:
        print(json.dumps([{"item_id": r.item_id, "score": r.score, **({"title": titles.get(r.item_id)} if titles else {})}
                          for r in recs]))
    else:
        for rank, r in enumerate(recs, 1):
            title = f"  {titles.get(r.item_id, '')}" if titles else ""
            print(f"{rank:3d}  {r.item_id:>12}  {r.score:9.4f}{title}")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    dataset = _dataset(args.path, args.format, _columns(args.columns))
    info = dataset.describe()
    if "time_min" in info:
        fmt = "%Y-%m-%d %H:%M:%S"
        info["time_span"] = [time.strftime(fmt, time.gmtime(info["time_min"])) + " UTC",
                             time.strftime(fmt, time.gmtime(info["time_max"])) + " UTC"]
    print(json.dumps(info, indent=2))
    return 0


def cmd_data_encode_images(args: argparse.Namespace) -> int:
    from rnnrec.data.image_encoder import encode_images, find_images, write_vectors
    from rnnrec.data.item_vectors import npy_ids_path
    from rnnrec.device import resolve_device

    ids, paths = find_images(args.folder)
    device = resolve_device(args.device, option="--device")
    vectors = encode_images(paths, args.weights, args.arch, args.batch_size, device=str(device), progress=not args.quiet)
    out = write_vectors(args.out, ids, vectors)
    print(f"{len(ids)} items × {vectors.shape[1]} dims → {out} (IDs in {npy_ids_path(out)}); "
          f"use with --vectors image={out}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from rnnrec.tuning import load_space, tune, write_best_config

    if args.protocol == "session" and not args.valid:
        raise RnnrecError("--protocol session needs --valid (e.g. train_tr with --data and train_valid with --valid)")
    space = load_space(args.space)
    metric = args.metric
    if args.protocol == "session":
        from rnnrec.data.dataset import SequenceDataset
        from rnnrec.session_recommender import SessionRecommender, read_session_frame

        base = _session_config(args)
        base.train.progress = False
        metric = metric or "MRR@20"
        frames: dict[float, tuple] = {}

        def session_data(gap: float):
            if gap not in frames:  # read once per session gap, not once per trial
                train_frame = read_session_frame(args.data, args.format, _columns(args.columns), gap)
                frames[gap] = (train_frame, read_session_frame(args.valid, args.format, _columns(args.columns), gap))
            train_frame, valid_frame = frames[gap]
            train = SequenceDataset.from_interactions(train_frame)
            return train, SequenceDataset.from_interactions(valid_frame, items=train.items)

        def objective(config) -> float:
            train, valid = session_data(config.data.session_gap)
            return SessionRecommender(config).fit(train).evaluate(valid)[metric]
    else:
        from rnnrec.data.split import leave_one_out
        from rnnrec.recommender import SequentialRecommender

        if args.valid:
            raise RnnrecError("--valid is for --protocol session; loo tuning validates on each user's second-last event")
        base = _config(args)
        base.train.progress = False
        metric = metric or "NDCG@10"

        def objective(config) -> float:
            dataset = _dataset(args.data, args.format, _columns(args.columns), config)
            split = leave_one_out(dataset)
            return SequentialRecommender(config).fit(dataset, split).evaluate(split.valid)[metric]

    result = tune(base, space, objective, args.trials, storage=args.storage, study_name=args.study,
                  seed=args.seed, progress=not args.quiet)
    write_best_config(result, args.out)
    print(f"best {metric} {result.best_value:.4f} after {result.n_trials_completed} trials: "
          + " ".join(result.best_overrides))
    print(f"best configuration written to {args.out} (use it with `rnnrec train --config {args.out}`)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rnnrec.serving.app import serving_app

    if _model_class(args.model) == "SessionGRU":
        raise RnnrecError(f"{args.model} is a session model; `rnnrec serve` serves sequence models (loo / time)")
    if args.threads < 1:
        raise RnnrecError(f"--threads must be >= 1, got {args.threads}")
    app, live = serving_app(args.model, args.state, args.index, args.threads)
    log = logging.getLogger(__name__)

    def reload_on_sighup(signum: int, frame: object) -> None:  # re-read the model folder, off the event loop
        def run() -> None:
            try:
                log.info("reloaded: %s", live.reload())
            except RnnrecError as exc:
                log.error("reload failed, still serving the previous model: %s", exc)

        threading.Thread(target=run, name="reload", daemon=True).start()

    signal.signal(signal.SIGHUP, reload_on_sighup)
    log.info("serving %s (state %s) on http://%s:%d (docs at /docs)", args.model, args.state, args.host, args.port)
    # No X-Forwarded-* rewriting: nothing here reads the client's address, and it costs every request.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info", proxy_headers=False)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rnnrec.demo import run_demo

    return run_demo(args.data_dir, epochs=args.epochs, quiet=args.quiet)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnrec", description="Sequential recommendation with recurrent neural networks.")
    p.add_argument("--version", action="version", version=f"rnnrec {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    sub = p.add_subparsers(dest="command", required=True)
    quiet = argparse.ArgumentParser(add_help=False)  # -q also accepted after the subcommand
    quiet.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars, warnings only")

    def data_args(sp: argparse.ArgumentParser, flag: str = "--data") -> None:
        if flag == "--data":
            sp.add_argument("--data", required=True, help="interaction log (file)")
        sp.add_argument("--format", default="auto", help="input format (default: auto-detect)")
        sp.add_argument("--columns", help="for csv/parquet: user_id=COL,item_id=COL[,timestamp=COL]")

    t = sub.add_parser("train", parents=[quiet], help="split, train, evaluate on test, save the model and metrics.json")
    data_args(t)
    t.add_argument("--test", help="--protocol session: test sessions file (default: the last day of --data)")
    t.add_argument("--config", help="TOML file: [model], [objective], [train], [data] (loo/time) or "
                   "[model], [train], [data] (session)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one option, e.g. train.seed=1")
    t.add_argument("--protocol", choices=("loo", "time", "session"), default="loo",
                   help="loo/time: users' whole histories (sequence-aware); session: anonymous sessions (GRU4Rec "
                   "recipe; with --set model.name=gru4rec|time_interval|time_gated|time_decay, that sequence model)")
    t.add_argument("--out", required=True, help="model folder to write (with metrics.json)")
    t.add_argument("--item-features", metavar="FILE", help="item metadata for multimodal models: MovieLens movies.csv "
                   "(+ tags.csv beside it), .item, u.item, Amazon metadata JSON, Yelp business JSON, "
                   "*_item2attributes.json")
    t.add_argument("--item-features-format", default="auto", help="format of --item-features (default: auto-detect)")
    t.add_argument("--text-columns", help="metadata columns encoded as text, e.g. title,genres "
                   "(default: title, tags, description where present)")
    t.add_argument("--vectors", action="append", metavar="[NAME=]FILE", help="precomputed item vectors (e.g. image "
                   "embeddings): .npy with its IDs in <stem>.ids.txt beside it, Parquet or CSV keyed by item ID; repeatable")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", parents=[quiet], help="evaluate a saved model on a log (loo protocol)")
    e.add_argument("--model", required=True)
    data_args(e)
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("recommend", parents=[quiet], help="top-k items for a user or a history")
    r.add_argument("--model", required=True)
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="external user ID known to the model")
    who.add_argument("--history", help="comma-separated external item IDs, oldest first")
    r.add_argument("-k", type=int, default=20)
    r.add_argument("--exclude-seen", action="store_true", help="do not recommend items in the history")
    r.add_argument("--unknown", choices=("raise", "ignore"), default="raise", help="policy for unknown IDs")
    r.add_argument("--at", help="when the recommendation is made (Unix seconds or ISO date/time, UTC by default); "
                   "time-aware models use the gap since the last event (default: no gap); others ignore it")
    r.add_argument("--history-times", help="comma-separated Unix seconds of the --history events")
    r.add_argument("--titles", help="item titles file (movies.csv, .item, u.item) to print names")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_recommend)

    u = sub.add_parser("tune", parents=[quiet], help="hyper-parameter search (Optuna) on a train/validation pair, never on test")
    data_args(u)
    u.add_argument("--valid", help="--protocol session: validation sessions (e.g. train_valid; --data is train_tr)")
    u.add_argument("--protocol", choices=("loo", "session"), default="session")
    u.add_argument("--space", required=True, help="parameter space: JSON lines or TOML [[param]] tables")
    u.add_argument("--trials", type=int, default=50, help="completed trials to reach (a resumed study counts its own)")
    u.add_argument("--metric", help="validation metric to maximise (default MRR@20 for session, NDCG@10 for loo)")
    u.add_argument("--storage", help="SQLite file (or Optuna URL) keeping the study; rerun to resume")
    u.add_argument("--study", default="rnnrec", help="study name inside --storage")
    u.add_argument("--seed", type=int, default=0, help="seed of the search (the sampler)")
    u.add_argument("--config", help="base configuration (TOML) the search starts from")
    u.add_argument("--set", action="append", metavar="KEY=VALUE", help="fixed overrides of the base configuration")
    u.add_argument("--out", required=True, help="where to write the best configuration (TOML)")
    u.set_defaults(func=cmd_tune)

    d = sub.add_parser("data", help="data utilities")
    dsub = d.add_subparsers(dest="data_command", required=True)
    di = dsub.add_parser("inspect", help="counts, time span, sequence lengths")
    di.add_argument("path")
    data_args(di, flag="")
    di.set_defaults(func=cmd_data_inspect)
    de = dsub.add_parser("encode-images", parents=[quiet], help="image files → item vectors (torchvision, local weights)")
    de.add_argument("folder", help="one image per item, named <item id>.jpg (or .png, .webp ...)")
    de.add_argument("--weights", required=True, help="state_dict of the torchvision model, a local file")
    de.add_argument("--arch", default="resnet50", help="torchvision model name (default: resnet50)")
    de.add_argument("--batch-size", type=int, default=32)
    de.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda ...")
    de.add_argument("--out", required=True, help=".npy to write; the IDs go to <stem>.ids.txt beside it")
    de.set_defaults(func=cmd_data_encode_images)

    v = sub.add_parser("serve", parents=[quiet], help="HTTP API: events update per-user states; recommendations from them")
    v.add_argument("model", help="model folder written by `rnnrec train`")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--state", default="sqlite:///rnnrec-state.db",
                   help="event log + per-user states: sqlite:///PATH (default ./rnnrec-state.db) or "
                   "redis://HOST:PORT/DB (several server processes)")
    v.add_argument("--index", choices=["exact", "hnsw", "auto"], default="exact",
                   help="top-k search: exact (default), hnsw (approximate, faiss; its recall is in /health) or "
                   "auto (hnsw from 100,000 items on)")
    v.add_argument("--threads", type=int, default=1,
                   help="torch threads for the model (default 1: requests are batched, and more threads mostly "
                   "spin against the HTTP handling for the same cores)")
    v.set_defaults(func=cmd_serve)

    m = sub.add_parser("demo", parents=[quiet], help="train on MovieLens latest-small and show recommendations")
    m.add_argument("--data-dir", help="folder holding ml-latest-small/ (else $RNNREC_DATA_DIR, cache, download)")
    m.add_argument("--epochs", type=int, default=10,
                   help="at most this many epochs (default 10 keeps the demo to minutes; `rnnrec train` runs to convergence)")
    m.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except RnnrecError as exc:
        print(f"rnnrec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnrec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
