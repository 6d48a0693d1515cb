"""``rnnrec train/evaluate/recommend/tune --protocol session`` end to end, on a generated session
log in the GRU4Rec TSV layout (labelled: generated data following a fixed item cycle, not a real
dataset), plus one run on the real rsc15-100k sample when it is present."""

import json
from pathlib import Path

import pytest

from rnnrec.cli import main

SMALL = ["--set", "hidden=16", "--set", "epochs=3", "--set", "batch_size=8", "--set", "n_sample=4",
         "--set", "learning_rate=0.2", "--set", "device=cpu", "--set", "dropout_embed=0.0"]
ROOT = Path(__file__).resolve().parents[1]
RSC15 = ROOT.parent / "shared" / "datasets" / "rsc15-100k"


def _write_sessions(path: Path, n_sessions: int, start_time: float) -> Path:
    """Sessions walking the cycle 1→2→…→6→1 from a rotating start, 3 to 5 clicks each."""
    lines = ["SessionId\tItemId\tTime"]
    for s in range(n_sessions):
        for t in range(3 + s % 3):
            lines.append(f"{s}\t{(s + t) % 6 + 1}\t{start_time + 100 * s + t}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("sessions")
    return _write_sessions(d / "train.tsv", 120, 1e9), _write_sessions(d / "test.tsv", 30, 2e9)


@pytest.fixture(scope="module")
def trained(logs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "model"
    train, test = logs
    assert main(["train", "--protocol", "session", "--data", str(train), "--test", str(test),
                 "--out", str(out), "-q", *SMALL]) == 0
    return out


def test_train_writes_session_metrics(trained):
    m = json.loads((trained / "metrics.json").read_text())
    assert m["protocol"] == "session"
    # 30 test sessions of lengths 3, 4, 5 repeating → 10 × (2 + 3 + 4) targets.
    assert m["n_test"] == 90 and m["n_test_sessions"] == 30
    assert set(m["test"]) == {f"{name}@{k}" for name in ("Recall", "MRR") for k in (1, 5, 10, 20)}
    assert m["test"]["Recall@1"] > 0.9  # the cycle is learnable exactly
    assert m["test"]["Recall@20"] == 1.0  # 6 items: every target is in any top 20
    assert m["epochs"] == 3 and len(m["history"]) == 3 and m["train_events_per_second"] > 0


def test_recommend_and_evaluate_session_model(trained, logs, capsys):
    assert main(["recommend", "--model", str(trained), "--history", "1,2", "-k", "2", "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert recs[0]["item_id"] == "3"
    assert main(["evaluate", "--model", str(trained), "--data", str(logs[1]), "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "session" and out["n_test"] == 90 and out["test"]["Recall@1"] > 0.9


def test_session_model_refuses_users(trained, capsys):
    assert main(["recommend", "--model", str(trained), "--user", "7"]) == 2
    assert "session model" in capsys.readouterr().err


def test_invalid_loss_combination_is_a_clear_error(logs, tmp_path, capsys):
    train, test = logs
    code = main(["train", "--protocol", "session", "--data", str(train), "--test", str(test), "--out",
                 str(tmp_path / "m"), "--set", "loss=bpr-max", *SMALL])
    assert code == 2
    assert "logq" in capsys.readouterr().err  # bpr-max with the default logq = 1 is rejected


def test_one_file_is_split_by_its_last_day(tmp_path):
    log = _write_sessions(tmp_path / "all.tsv", 60, 1e9)
    with log.open("a") as f:  # three sessions two days later: the test set
        for s in range(3):
            for t in range(3):
                f.write(f"late{s}\t{(s + t) % 6 + 1}\t{1e9 + 2 * 86400 + 10 * s + t}\n")
    out = tmp_path / "model"
    assert main(["train", "--protocol", "session", "--data", str(log), "--out", str(out), "-q", *SMALL]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_test_sessions"] == 3 and m["n_test"] == 6 and m["data"]["sessions"] == 60


def test_tune_writes_a_config_train_accepts_and_resumes(logs, tmp_path, capsys):
    train, valid = logs
    space = tmp_path / "space.jsonl"
    space.write_text('{"name": "train.learning_rate", "dtype": "float", "values": [0.05, 0.3]}\n'
                     '{"name": "model.loss", "dtype": "categorical", "values": ["cross-entropy", "bpr-max"]}\n')
    args = ["tune", "--protocol", "session", "--data", str(train), "--valid", str(valid), "--space", str(space),
            "--storage", str(tmp_path / "study.db"), "--out", str(tmp_path / "best.toml"), "-q",
            "--set", "logq=0.0", *SMALL]
    assert main([*args, "--trials", "2"]) == 0
    assert main([*args, "--trials", "3"]) == 0  # resumes: one more trial, not three
    assert "after 3 trials" in capsys.readouterr().out
    best = tmp_path / "best.toml"
    assert main(["train", "--protocol", "session", "--data", str(train), "--test", str(valid), "--config",
                 str(best), "--out", str(tmp_path / "m"), "-q"]) == 0


@pytest.mark.slow
@pytest.mark.skipif(not RSC15.is_dir(), reason=f"shared dataset not found: {RSC15}")
def test_rsc15_published_config_two_epochs(tmp_path):
    """The shipped RSC15 config on the real sample: 2 epochs already rank well (10 epochs: benchmark)."""
    out = tmp_path / "rsc15"
    assert main(["train", "--protocol", "session", "--config", str(ROOT / "examples/configs/rsc15_gru4rec.toml"),
                 "--data", str(RSC15 / "yoochoose-clicks-100k_train_full.txt"),
                 "--test", str(RSC15 / "yoochoose-clicks-100k_test.txt"),
                 "--set", "epochs=2", "--set", "device=cpu", "--out", str(out), "-q"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_test"] == 10152 and m["n_test_sessions"] == 3416
    assert m["test"]["Recall@20"] > 0.62 and m["test"]["MRR@20"] > 0.30


def test_shipped_rsc15_config_is_the_documented_default():
    """`rnnrec train --protocol session` without --config uses GRU4Rec's published RSC15 setting."""
    from rnnrec.session_recommender import SessionConfig

    shipped = SessionConfig.from_toml(ROOT / "examples/configs/rsc15_gru4rec.toml")
    assert shipped == SessionConfig()
    assert (shipped.model.loss, shipped.model.embedding, shipped.model.hidden, shipped.train.batch_size) == (
        "cross-entropy", "shared", 100, 32)
    assert (shipped.model.dropout_embed, shipped.model.dropout_hidden, shipped.train.learning_rate) == (0.1, 0.0, 0.1)
    assert (shipped.train.momentum, shipped.train.n_sample, shipped.train.sample_alpha, shipped.model.logq) == (
        0.0, 2048, 0.75, 1.0)
    assert shipped.train.epochs == 10


def test_user_log_is_cut_into_sessions_by_inactivity(tmp_path):
    """A MovieLens-layout log (generated): each user has two visits a day apart, 4 clicks each."""
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(40):
        for visit in range(2):
            for t in range(4):
                lines.append(f"{u},{(u + visit + t) % 6 + 1},4.0,{1_000_000 + u * 10 + visit * 86_400 + t * 60}")
    log = tmp_path / "ratings.csv"
    log.write_text("\n".join(lines) + "\n")
    test = _write_sessions(tmp_path / "test.tsv", 10, 2e9)
    out = tmp_path / "model"
    assert main(["train", "--protocol", "session", "--data", str(log), "--test", str(test), "--out", str(out),
                 "-q", "--set", "data.session_gap=1800", *SMALL]) == 0
    assert json.loads((out / "metrics.json").read_text())["data"]["sessions"] == 80  # 40 users × 2 visits


def _write_spread_sessions(path: Path, n_sessions: int, start_time: float) -> Path:
    """The same cycle as ``_write_sessions`` with one session an hour (so 120 sessions span 5 days),
    clicks 30 s apart (generated data)."""
    lines = ["SessionId\tItemId\tTime"]
    for s in range(n_sessions):
        for t in range(3 + s % 3):
            lines.append(f"{s}\t{(s + t) % 6 + 1}\t{start_time + 3600 * s + 30 * t}")
    path.write_text("\n".join(lines) + "\n")
    return path


SEQ_SMALL = ["--set", "embedding_dim=16", "--set", "hidden_size=16", "--set", "epochs=8", "--set", "batch_size=16",
             "--set", "learning_rate=0.02", "--set", "n_negatives=0", "--set", "device=cpu", "--set", "patience=1"]


def test_time_aware_sequence_model_under_the_session_protocol(tmp_path, capsys):
    """`--set model.name=time_decay` trains the sequence model on sessions: epochs chosen on the last
    day of training, then retrained on all of it, evaluated like the session GRU."""
    train = _write_spread_sessions(tmp_path / "train.tsv", 120, 1e9)
    test = _write_spread_sessions(tmp_path / "test.tsv", 30, 2e9)
    out = tmp_path / "model"
    assert main(["train", "--protocol", "session", "--data", str(train), "--test", str(test), "--out", str(out),
                 "-q", "--set", "model.name=time_decay", *SEQ_SMALL]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["protocol"] == "session" and m["model"] == "time_decay"
    assert m["n_test"] == 90  # as for the session GRU: 10 × (2 + 3 + 4) targets
    assert set(m["test"]) == {f"{name}@{k}" for name in ("Recall", "MRR") for k in (1, 5, 10, 20)}
    chosen = m["epochs_chosen_on_validation"]
    # Sessions 96..119 end in the last day of training: 8 × (2 + 3 + 4) validation targets.
    assert chosen["n_valid"] == 72 and m["epochs"] == chosen["best_epoch"] >= 1
    assert m["test"]["Recall@20"] == 1.0 and m["test"]["Recall@1"] > 0.9
    capsys.readouterr()
    assert main(["recommend", "--model", str(out), "--history", "1,2", "--history-times", "0,30", "--at", "60",
                 "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["item_id"] == "3"
