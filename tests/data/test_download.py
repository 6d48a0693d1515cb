"""locate_movielens_small: search order, cache reuse and a real HTTP download from a local server.

The zip served here is GENERATED TEST DATA in the real ml-latest-small layout (two made-up rows),
not MovieLens data; nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rnnrec.data.download import (
    ML_LATEST_SMALL_SHA256,
    default_cache_dir,
    locate_movielens_small,
)
from rnnrec.errors import DownloadError, RnnrecError

SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

# Generated test data (not MovieLens): just enough rows to prove the files were extracted intact.
RATINGS = "userId,movieId,rating,timestamp\n1,10,4.0,964982703\n1,20,3.5,964981247\n"
MOVIES = 'movieId,title,genres\n10,"Generated Movie, The (2001)",Drama\n20,Test Film (1999),Comedy\n'


def _zip_bytes(top: str = "ml-latest-small") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/ratings.csv", RATINGS)
        zf.writestr(f"{top}/movies.csv", MOVIES)
        zf.writestr(f"{top}/README.txt", "generated test data for rnnrec, not MovieLens\n")
    return buf.getvalue()


def _write_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(RATINGS)
    (folder / "movies.csv").write_text(MOVIES)
    return folder


class _Server:
    """A real ThreadingHTTPServer on 127.0.0.1 serving in-memory files; counts GET requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()  # paths whose body is cut in half after a full Content-Length
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                owner.requests.append(self.path)
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in owner.truncate else body)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxies for 127.0.0.1, and no real data dir / cache from the developer's environment."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("RNNREC_DATA_DIR", raising=False)
    monkeypatch.delenv("RNNREC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    try:
        yield srv
    finally:
        srv.close()


def test_download_checks_sha256_extracts_to_cache_then_reuses_it(server: _Server, tmp_path: Path) -> None:
    body = _zip_bytes()
    server.files["/ml-latest-small.zip"] = body
    cache = tmp_path / "cache"
    kwargs = dict(url=server.url("/ml-latest-small.zip"), sha256=hashlib.sha256(body).hexdigest(),
                  md5=hashlib.md5(body).hexdigest(), cache_dir=cache, progress=False)

    found = locate_movielens_small(**kwargs)

    assert found == cache / "ml-latest-small"
    assert (found / "ratings.csv").read_text() == RATINGS
    assert (found / "movies.csv").read_text() == MOVIES
    assert sorted(p.name for p in cache.iterdir()) == ["ml-latest-small"]  # no temp zip/folder left
    assert len(server.requests) == 1

    again = locate_movielens_small(**kwargs)
    assert again == found
    assert len(server.requests) == 1  # second call found the cache, no new download


def test_progress_bar_path_works(server: _Server, tmp_path: Path) -> None:
    body = _zip_bytes()
    server.files["/z.zip"] = body
    found = locate_movielens_small(url=server.url("/z.zip"), sha256=hashlib.sha256(body).hexdigest(),
                                   cache_dir=tmp_path / "c", progress=True)
    assert (found / "movies.csv").is_file()


def test_wrong_checksum_raises_and_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    body = _zip_bytes()  # once: the zip records the time it was written, so a second call may differ
    server.files["/ml-latest-small.zip"] = body
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        locate_movielens_small(url=server.url("/ml-latest-small.zip"), sha256=wrong, cache_dir=cache,
                               progress=False)
    msg = str(info.value)
    assert wrong in msg and hashlib.sha256(body).hexdigest() in msg
    assert "RNNREC_DATA_DIR" in msg and server.url("/ml-latest-small.zip") in msg
    assert isinstance(info.value, RnnrecError)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_wrong_md5_raises_even_if_sha256_matches(server: _Server, tmp_path: Path) -> None:
    body = _zip_bytes()
    server.files["/z.zip"] = body
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="md5"):
        locate_movielens_small(url=server.url("/z.zip"), sha256=hashlib.sha256(body).hexdigest(),
                               md5="f" * 32, cache_dir=cache, progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_failed_download_keeps_existing_cache_contents(server: _Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "other-dataset.txt").write_text("keep me")
    server.files["/z.zip"] = _zip_bytes()
    with pytest.raises(DownloadError):
        locate_movielens_small(url=server.url("/z.zip"), sha256="0" * 64, cache_dir=cache, progress=False)
    assert sorted(p.name for p in cache.iterdir()) == ["other-dataset.txt"]
    assert (cache / "other-dataset.txt").read_text() == "keep me"


def test_http_404_raises_download_error(server: _Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="404"):
        locate_movielens_small(url=server.url("/missing.zip"), sha256="0" * 64, cache_dir=cache,
                               progress=False)
    assert server.requests == ["/missing.zip"]
    assert not cache.exists() or list(cache.iterdir()) == []


def test_truncated_download_raises_and_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    body = _zip_bytes()
    server.files["/z.zip"] = body
    server.truncate.add("/z.zip")
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="cut short|failed"):
        locate_movielens_small(url=server.url("/z.zip"), sha256=hashlib.sha256(body).hexdigest(),
                               cache_dir=cache, progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_connection_refused_raises_download_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # grab a free port, then close it so nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="failed"):
        locate_movielens_small(url=f"http://127.0.0.1:{port}/z.zip", cache_dir=cache, progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_zip_without_expected_folder_raises(server: _Server, tmp_path: Path) -> None:
    body = _zip_bytes(top="something-else")
    server.files["/z.zip"] = body
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="ml-latest-small/"):
        locate_movielens_small(url=server.url("/z.zip"), sha256=hashlib.sha256(body).hexdigest(),
                               cache_dir=cache, progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_incomplete_cache_folder_is_not_overwritten(server: _Server, tmp_path: Path) -> None:
    target = tmp_path / "cache" / "ml-latest-small"
    target.mkdir(parents=True)
    (target / "ratings.csv").write_text(RATINGS)  # movies.csv missing
    with pytest.raises(DownloadError, match="lacks"):
        locate_movielens_small(url=server.url("/z.zip"), cache_dir=tmp_path / "cache", progress=False)
    assert server.requests == []
    assert sorted(p.name for p in target.iterdir()) == ["ratings.csv"]


def test_download_false_lists_searched_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNREC_DATA_DIR", str(tmp_path / "env-empty"))
    with pytest.raises(DownloadError) as info:
        locate_movielens_small(tmp_path / "arg-empty", download=False, cache_dir=tmp_path / "cache")
    msg = str(info.value)
    for place in ("arg-empty", "env-empty", str(tmp_path / "cache" / "ml-latest-small"), "download=False"):
        assert place in msg


def test_search_order_data_dir_then_env_then_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg_parent = tmp_path / "arg"
    arg_data = _write_dataset(arg_parent / "ml-latest-small")  # parent form
    env_data = _write_dataset(tmp_path / "env-folder")  # the folder itself
    cache = tmp_path / "cache"
    cache_data = _write_dataset(cache / "ml-latest-small")
    monkeypatch.setenv("RNNREC_DATA_DIR", str(env_data))

    assert locate_movielens_small(arg_parent, download=False, cache_dir=cache) == arg_data
    assert locate_movielens_small(str(arg_data), download=False, cache_dir=cache) == arg_data
    assert locate_movielens_small(download=False, cache_dir=cache) == env_data
    # a data_dir without the files falls through to the next place
    assert locate_movielens_small(tmp_path / "nothing-here", download=False, cache_dir=cache) == env_data
    monkeypatch.delenv("RNNREC_DATA_DIR")
    assert locate_movielens_small(download=False, cache_dir=cache) == cache_data


def test_default_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rnnrec"
    monkeypatch.setenv("RNNREC_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    cache_data = _write_dataset(tmp_path / "explicit" / "ml-latest-small")
    assert locate_movielens_small(download=False) == cache_data
    monkeypatch.delenv("RNNREC_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "rnnrec"


def test_pinned_sha256_looks_like_a_sha256() -> None:
    assert len(ML_LATEST_SMALL_SHA256) == 64
    int(ML_LATEST_SMALL_SHA256, 16)


def test_finds_real_shared_dataset() -> None:
    if not (SHARED_DATASETS / "ml-latest-small" / "ratings.csv").is_file():
        pytest.skip(f"real MovieLens latest-small not present under {SHARED_DATASETS}")
    found = locate_movielens_small(SHARED_DATASETS, download=False)
    assert found == SHARED_DATASETS / "ml-latest-small"
    assert (found / "movies.csv").is_file()


def test_unwritable_cache_raises_download_error(server: _Server, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match="RNNREC_CACHE_DIR"):
        locate_movielens_small(url=server.url("/z.zip"), cache_dir=blocker / "cache", progress=False)
    assert server.requests == []
