"""Tiny models for the serving tests, trained once per module (see tiny_models.py)."""

from pathlib import Path

import pytest
from tiny_models import train_tiny


@pytest.fixture(scope="module", params=["gru4rec", "time_decay", "time_gated", "session_gru"])
def model_dir(request, tmp_path_factory) -> Path:
    return train_tiny(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def time_decay_model_dir(tmp_path_factory) -> Path:
    return train_tiny("time_decay", tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on a free local port (skipped where none is installed)."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request, tmp_path):
    """Opens a fresh, empty state store of each backend (a second call opens the same one)."""
    if request.param == "sqlite":
        from rnnrec.serving.sqlite_store import SqliteStateStore

        return lambda: SqliteStateStore(tmp_path / "state.db")
    url = request.getfixturevalue("redis_server")
    import redis

    redis.Redis.from_url(url).flushall()
    from rnnrec.serving.redis_store import RedisStateStore

    return lambda: RedisStateStore(url)
