"""Tiny models for the serving tests, trained once per module (see tiny_models.py)."""

from pathlib import Path

import pytest
from tiny_models import train_tiny


@pytest.fixture(scope="module", params=["gru4rec", "time_decay", "time_gated"])
def model_dir(request, tmp_path_factory) -> Path:
    return train_tiny(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def time_decay_model_dir(tmp_path_factory) -> Path:
    return train_tiny("time_decay", tmp_path_factory.mktemp("serve"))
