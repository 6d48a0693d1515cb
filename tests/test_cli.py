"""The ``rnnrec`` command line end to end, on a generated log written in the MovieLens
ratings.csv layout (labelled: generated cyclic data, not a real dataset)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnrec.cli import main
from rnnrec.device import resolve_precision

SMALL = ["--set", "model.name=gru4rec", "--set", "embedding_dim=16", "--set", "hidden_size=16", "--set", "epochs=4", "--set", "batch_size=16",
         "--set", "learning_rate=0.02", "--set", "dropout_embedding=0.0", "--set", "dropout_hidden=0.0",
         "--set", "device=cpu"]


@pytest.fixture(scope="module")
def ratings(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(30):
        for t in range(8):
            lines.append(f"{u},{(u + t) % 10 + 100},4.0,{1000 + t}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(ratings, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "model"
    assert main(["-q", "train", "--data", str(ratings), "--out", str(out), *SMALL]) == 0
    return out


def test_train_writes_artifact_and_metrics(trained):
    for name in ("config.json", "items.json", "users.json", "weights.pt", "histories.npz", "metrics.json"):
        assert (trained / name).is_file(), name
    m = json.loads((trained / "metrics.json").read_text())
    assert m["protocol"] == "loo" and m["n_test"] == 30 and m["n_valid"] == 30
    for part in ("valid", "test", "test_exclude_seen"):
        for key in ("NDCG@10", "Recall@20", "MRR@20", "HR@10", "HR@1", "NDCG@5"):
            assert 0.0 <= m[part][key] <= 1.0
    assert 1 <= m["best_epoch"] <= m["epochs"] <= 4
    assert m["train_seconds"] > 0 and m["train_events_per_second"] > 0
    assert [h["epoch"] for h in m["history"]] == list(range(1, m["epochs"] + 1))
    assert all("valid_NDCG@10" in h for h in m["history"])


def test_recommend_user_and_history(trained, capsys):
    assert main(["recommend", "--model", str(trained), "--user", "3", "-k", "3", "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 3 and all(set(r) == {"item_id", "score"} for r in recs)
    assert main(["recommend", "--model", str(trained), "--history", "100,101", "-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "1"


def test_evaluate_and_inspect(trained, ratings, capsys):
    assert main(["evaluate", "--model", str(trained), "--data", str(ratings)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "loo" and out["n_test"] == 30
    assert main(["data", "inspect", str(ratings)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["items"], info["events"]) == (30, 10, 240)
    assert info["sequence_length"]["min"] == 8 and info["time_span"][0].startswith("1970-01-01")


def test_errors_are_one_line_not_tracebacks(trained, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlearnig_rate = 0.1\n")
    exe = [sys.executable, "-m", "rnnrec.cli"]
    r = subprocess.run([*exe, "train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "missing.csv" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*exe, "train", "--data", "x", "--config", str(bad), "--out", str(tmp_path / "m")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "learnig_rate" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*exe, "recommend", "--model", str(trained), "--user", "nobody"], capture_output=True, text=True)
    assert r.returncode == 2 and "nobody" in r.stderr and "Traceback" not in r.stderr


def test_time_aware_model_recommends_at_a_moment(ratings, tmp_path, capsys):
    out = tmp_path / "timed"
    assert main(["-q", "train", "--data", str(ratings), "--out", str(out), *SMALL, "--set", "model.name=time_decay",
                 "--set", "dropout_hidden=0.0"]) == 0
    capsys.readouterr()

    def scores(*extra: str) -> list[float]:
        assert main(["recommend", "--model", str(out), "--user", "3", "-k", "10", "--json", *extra]) == 0
        return [r["score"] for r in json.loads(capsys.readouterr().out)]

    assert scores() == scores("--at", "1007")  # user 3's last event is at 1007: the default moment
    assert scores("--at", "2030-01-01T00:00") == scores("--at", str(1893456000))  # ISO, UTC
    assert main(["recommend", "--model", str(out), "--user", "3", "--at", "1000"]) == 2  # before the last event
    assert "before the previous event" in capsys.readouterr().err
    assert main(["recommend", "--model", str(out), "--user", "3", "--at", "soon"]) == 2
    assert "expected Unix seconds or an ISO date/time" in capsys.readouterr().err
    assert main(["recommend", "--model", str(out), "--history", "100,101", "--history-times", "5,6",
                 "--at", "3600", "-k", "2"]) == 0


def test_multimodal_model_with_item_features_and_vectors(ratings, tmp_path, capsys):
    """Generated movies.csv (+ tags.csv) and image-like vectors for the 10 logged movies and one
    movie nobody rated (199): it joins the catalogue and can be recommended."""
    movies = tmp_path / "movies.csv"
    movies.write_text("movieId,title,genres\n" + "".join(
        f"{i},Film {i} ({1990 + i % 5}),{'Drama' if i % 2 else 'Comedy'}\n" for i in [*range(100, 110), 199]))
    (tmp_path / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,100,funny,1\n2,199,sad,2\n")
    vectors = tmp_path / "image.csv"
    vectors.write_text("item_id,v0,v1\n" + "".join(f"{i},{i % 3},{i % 7}\n" for i in range(100, 110)))
    out = tmp_path / "mm"
    assert main(["-q", "train", "--data", str(ratings), "--out", str(out), *SMALL, "--set", "model.name=cold_start",
                 "--item-features", str(movies), "--vectors", f"image={vectors}"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # numeric: the year and its quantile bins (5 distinct edges over 5 distinct years → 6 bins)
    assert m["item_features"]["blocks"] == {"text": 64, "genres": 2, "numeric": 7, "image": 2}
    assert m["item_features"]["items_with_features"] == 11 and m["data"]["items"] == 11
    capsys.readouterr()
    assert main(["recommend", "--model", str(out), "--user", "3", "-k", "11", "--json"]) == 0
    assert "199" in [r["item_id"] for r in json.loads(capsys.readouterr().out)]
    assert main(["-q", "train", "--data", str(ratings), "--out", str(tmp_path / "x"), *SMALL,
                 "--item-features", str(movies), "--text-columns", "plot"]) == 2
    assert "text column(s) ['plot'] not in the metadata" in capsys.readouterr().err


def test_gru4rec_recipe_model_trains_evaluates_and_recommends(ratings, tmp_path, capsys):
    out = tmp_path / "recipe"
    assert main(["-q", "train", "--data", str(ratings), "--out", str(out), "--set", "model.name=session_gru",
                 "--set", "hidden=16", "--set", "n_sample=8", "--set", "epochs=3", "--set", "device=cpu"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["protocol"] == "loo" and m["n_test"] == 30 and m["epochs"] <= 3
    assert m["precision"] == resolve_precision("auto", torch.device("cpu"))  # of the step's products
    assert [h["epoch"] for h in m["history"]] == list(range(1, m["epochs"] + 1))
    assert all("valid_NDCG@10" in h for h in m["history"])
    capsys.readouterr()
    assert main(["recommend", "--model", str(out), "--user", "3", "-k", "4"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 4
    assert main(["evaluate", "--model", str(out), "--data", str(ratings)]) == 0
    assert json.loads(capsys.readouterr().out)["test"] == m["test"]


def test_recipe_model_name_under_the_session_protocol_is_a_clear_error(ratings, tmp_path, capsys):
    assert main(["train", "--protocol", "session", "--data", str(ratings), "--out", str(tmp_path / "x"),
                 "--set", "model.name=session_gru"]) != 0
    assert "leave model.name out" in capsys.readouterr().err


def test_default_model_under_the_time_protocol(ratings, tmp_path):
    out = tmp_path / "time"
    assert main(["-q", "train", "--protocol", "time", "--data", str(ratings), "--out", str(out), "--set", "hidden=16",
                 "--set", "n_sample=8", "--set", "epochs=2", "--set", "device=cpu"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # times 1000..1007 for every user: the 0.8 and 0.9 quantiles cut at 1006 and 1007, so each user's
    # last event is a test target, the one before a validation target, the first six train
    assert (m["protocol"], m["n_test"], m["n_valid"]) == ("time", 30, 30)
    assert [h["epoch"] for h in m["history"]] == list(range(1, m["epochs"] + 1)) and m["epochs"] <= 2
