"""End to end on the real shared datasets (skipped with a reason when they are absent)."""

import json
from pathlib import Path

import pytest

from rnnrec.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
ML100K = DATA / "ml-100k" / "ml-100k.inter"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not ML100K.is_file(), reason=f"shared dataset not found: {ML100K}")
def test_train_on_ml100k_beats_most_popular(tmp_path):
    """Three epochs of the default model already rank better than popularity (NDCG@10 0.022)."""
    out = tmp_path / "model"
    assert main(["-q", "train", "--data", str(ML100K), "--out", str(out), "--set", "epochs=3", "--set", "device=cpu"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_test"] == 943
    assert m["test"]["NDCG@10"] > 0.03, m["test"]
    assert m["test_exclude_seen"]["NDCG@10"] >= m["test"]["NDCG@10"] * 0.9


@pytest.mark.skipif(not (DATA / "ml-latest-small").is_dir(), reason=f"shared dataset not found: {DATA}")
def test_demo_runs_on_movielens_latest_small(capsys):
    assert main(["-q", "demo", "--data-dir", str(DATA), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "668 users" in out and "NDCG@10" in out and "recommended next" in out
