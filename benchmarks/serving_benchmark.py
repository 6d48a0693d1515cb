"""Latency and throughput of ``rnnrec serve`` from a real HTTP client on 127.0.0.1, and the stateful
path (one recurrent step per event) against the stateless one (the last 200 events re-read per
request).

    .venv/bin/python benchmarks/serving_benchmark.py --model session_gru --items 25000 100000 --index exact hnsw \\
        --clients 1 32 --seconds 8 --rounds 3 --out benchmarks/results/serving

Models (``--model``): the default model (``session_gru``: hidden 224, reads the last
``train.max_session_len`` = 200 events) or the window-trained GRU (``gru4rec``: embedding 64, hidden
128, with ``objective.max_len = 200``), so the stateless route reads 200 events either way. Each is
trained for one epoch on a *generated* log whose catalogue has exactly ``--items`` items: latency
depends on the catalogue size and the model's shape, not on what the weights learned, and no
shared dataset has 25k or 100k items. Each benchmark user first gets 200 events (one batch POST);
the clock starts once every client's history is in.

Request mixes, each for ``--seconds`` per client count, every client on its own keep-alive
connection, each sending its next request once the last one is answered (closed loop). The
clients are coroutines on one asyncio (uvloop) thread and run on the same 2 cores as the server,
as a co-located caller would; their CPU per sample is reported beside the server's:
- ``stateful``: ``POST /v1/events`` (one event), then ``GET /v1/users/{id}/recommendations?k=20``;
  one sample = the pair.
- ``combined``: ``POST /v1/events?recommend=20``: the event and the top-20 from the state it led
  to, in one request.
- ``stateless``: ``POST /v1/recommendations`` with the user's last 200 items, k = 20.

Reported: p50 / p99 latency per sample (ms), samples per second, the server's and the client's CPU
milliseconds per sample, and the share of the machine's CPU that processes other than the client
and the server used meanwhile (clean runs: about 0).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import uvloop

import measure  # benchmarks/measure.py

from rnnrec.config import RecommenderConfig
from rnnrec.data.dataset import SequenceDataset
from rnnrec.recommender import SequentialRecommender

REPO = Path(__file__).resolve().parent.parent
HISTORY = 200
MIXES = ("stateful", "combined", "stateless")


def generated_log(n_items: int, n_users: int, seed: int = 0) -> pl.DataFrame:
    """Generated (not real data): every item appears at least once; users walk random items."""
    rng = np.random.default_rng(seed)
    n_events = max(2 * n_items, n_users * 50)
    items = np.concatenate([np.arange(n_items), rng.integers(0, n_items, n_events - n_items)])
    rng.shuffle(items)
    users = np.sort(rng.integers(0, n_users, n_events))
    return pl.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in items],
                         "timestamp": 1.6e9 + np.arange(n_events, dtype=np.float64)})


MODEL_SETTINGS = {
    "session_gru": ["model.name=session_gru", "train.max_session_len=200"],
    "gru4rec": ["model.name=gru4rec", "objective.loss=sampled_ce", "objective.n_negatives=256", "objective.max_len=200"],
}


def train(n_items: int, folder: Path, model: str) -> Path:
    if (folder / "config.json").is_file():
        return folder
    config = RecommenderConfig().with_overrides(MODEL_SETTINGS[model] + ["train.epochs=1", "progress=false", "device=cpu"])
    ds = SequenceDataset.from_interactions(generated_log(n_items, 1000))
    return SequentialRecommender(config).fit(ds).save(folder)


class Server:
    def __init__(self, model: Path, state: Path, index: str = "exact", threads: int = 1) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "rnnrec.cli", "--quiet", "serve", str(model),
                                      "--port", str(self.port), "--state", f"sqlite:///{state}", "--index", index,
                                      "--threads", str(threads)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if request(self.connect(), "GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.proc.stderr.read().decode() if self.proc.poll() is not None else ''}")

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (/proc/PID/stat)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    resp = conn.getresponse()
    return resp.status, resp.read()


class Connection:
    """One keep-alive HTTP/1.1 connection driven by asyncio: writes a request, reads the status line,
    the headers and a ``Content-Length`` body. Thirty-two of these share one thread, so the client
    costs little CPU and no thread waits for another's turn at the interpreter lock; what is timed
    is the server's answer, not the client's scheduling."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
        if data:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next((int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                       if k.strip().lower() == "content-length"), None)
        if length is None:
            raise RuntimeError(f"{method} {path}: response without Content-Length: {header!r}")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def load(server: Server, mix: str, clients: int, seconds: float, n_items: int, tag: str = "") -> dict:
    """``clients`` keep-alive connections issue ``mix`` samples back to back for ``seconds`` (each
    waits for its answer before the next); returns latency percentiles, rates and CPU per sample."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    event_parts: list[list[float]] = [[] for _ in range(clients)]  # stateful: the event request of each pair
    errors = [0] * clients
    loop = uvloop.new_event_loop()

    async def setup(c: int) -> tuple[Connection, str, list[int]]:
        conn = await Connection.open(server.port)
        user = f"bench{c}-{mix}{tag}"
        history = [int(i) for i in np.random.default_rng(c).integers(0, n_items, HISTORY)]
        status, body = await conn.call("POST", "/v1/events",
                                       {"events": [{"user_id": user, "item_id": f"i{i}"} for i in history]})
        if status != 200:
            raise RuntimeError(f"history of {user}: HTTP {status} {body[:200]!r}")
        return conn, user, history

    async def client(c: int, conn: Connection, user: str, history: list[int], stop: float) -> None:
        rng = np.random.default_rng(10_000 + c)
        while time.perf_counter() < stop:
            item = int(rng.integers(0, n_items))
            t0 = time.perf_counter()
            if mix == "stateful":
                s1, _ = await conn.call("POST", "/v1/events", {"user_id": user, "item_id": f"i{item}"})
                event_parts[c].append(time.perf_counter() - t0)
                s2, _ = await conn.call("GET", f"/v1/users/{user}/recommendations?k=20")
                ok = s1 == s2 == 200
            elif mix == "combined":
                s1, _ = await conn.call("POST", "/v1/events?recommend=20", {"user_id": user, "item_id": f"i{item}"})
                ok = s1 == 200
            else:
                history = history[1:] + [item]
                s1, _ = await conn.call("POST", "/v1/recommendations", {"history": [f"i{i}" for i in history], "k": 20})
                ok = s1 == 200
            latencies[c].append(time.perf_counter() - t0)
            errors[c] += not ok

    # Every history is in before the clock starts.
    async def all_of(coroutines):
        return await asyncio.gather(*coroutines)

    setups = loop.run_until_complete(all_of(setup(c) for c in range(clients)))

    def timed() -> None:
        stop = time.perf_counter() + seconds
        loop.run_until_complete(all_of(client(c, *setups[c], stop) for c in range(clients)))

    server_cpu0 = server.cpu_seconds()
    client_cpu0 = time.process_time()
    _, machine = measure.measured_call(timed)
    client_cpu = time.process_time() - client_cpu0
    server_cpu = server.cpu_seconds() - server_cpu0
    for conn, _, _ in setups:
        conn.close()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    server_share = server_cpu / (machine["wall_seconds"] * (os.cpu_count() or 1))
    if machine["other_cpu_share"] is not None:  # the server is ours, not "other"
        machine["other_cpu_share"] = max(0.0, machine["other_cpu_share"] - server_share)
    lat = np.concatenate([np.asarray(x) for x in latencies]) * 1000
    out = {"mix": mix, "clients": clients, "samples": int(lat.size), "errors": int(sum(errors)),
           "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
           "samples_per_second": lat.size / machine["wall_seconds"],
           "server_cpu_ms_per_sample": 1000 * server_cpu / lat.size,
           "client_cpu_ms_per_sample": 1000 * client_cpu / lat.size, **machine}
    if mix == "stateful":  # the pair's two requests apart: the GET is the stateless request's counterpart
        event = np.concatenate([np.asarray(x) for x in event_parts]) * 1000
        get = lat - event
        out.update(event_p50_ms=float(np.percentile(event, 50)), event_p99_ms=float(np.percentile(event, 99)),
                   get_p50_ms=float(np.percentile(get, 50)), get_p99_ms=float(np.percentile(get, 99)))
    return out


def cell(r: dict) -> tuple:
    return r["items"], r["index"], r["clients"], r["mix"]


def median_of_rounds(rounds: list[dict]) -> dict:
    """One cell over its rounds: medians of the latencies and rates, errors summed, the worst
    share of other processes."""
    out = dict(rounds[0])
    for key, value in rounds[0].items():
        if key.endswith("_ms") or key.endswith("_per_sample") or key == "samples_per_second":
            out[key] = float(np.median([r[key] for r in rounds]))
    out["errors"] = sum(r["errors"] for r in rounds)
    out["samples"] = sum(r["samples"] for r in rounds)
    shares = [r["other_cpu_share"] for r in rounds if r["other_cpu_share"] is not None]
    out["other_cpu_share"] = max(shares) if shares else None
    out["rounds"] = len(rounds)
    del out["round"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="session_gru", choices=list(MODEL_SETTINGS),
                    help="the default model (session_gru) or the window-trained GRU (gru4rec)")
    ap.add_argument("--items", nargs="+", type=int, default=[25_000, 100_000])
    ap.add_argument("--clients", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--index", nargs="+", default=["exact"], choices=["exact", "hnsw"],
                    help="top-k search of the server (each one measured in turn)")
    ap.add_argument("--server-threads", type=int, default=1, help="rnnrec serve --threads (torch threads)")
    ap.add_argument("--mixes", nargs="+", default=list(MIXES), choices=list(MIXES))
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every cell this many times, rounds interleaved; the report gives the medians")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "serving"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for n_items in args.items:
        model = train(n_items, out / f"model-{args.model}-{n_items}", args.model)
        for index in args.index:
            state = out / f"state-{n_items}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{state}{suffix}").unlink(missing_ok=True)
            server = Server(model, state, index, args.server_threads)
            health = json.loads(request(server.connect(), "GET", "/health")[1])
            try:
                for round_ in range(args.rounds):
                    for clients in args.clients:
                        for mix in args.mixes:
                            r = {"model": args.model, "items": n_items, "index": index, "index_recall@20": health["index_recall@20"],
                                 "index_search_width": health["index_search_width"],
                                 "index_bfloat16_screen": health.get("index_bfloat16_screen", False),
                                 "index_exact_from_batch": health.get("index_exact_from_batch"), "round": round_,
                                 **load(server, mix, clients, args.seconds, n_items, tag=f"-r{round_}")}
                            runs.append(r)
                            print(json.dumps(r), flush=True)
            finally:
                server.stop()
    rows = [median_of_rounds([r for r in runs if cell(r) == key]) for key in dict.fromkeys(map(cell, runs))]
    report = ["| items | index (recall@20, width) | clients | mix | p50 ms | p99 ms | samples/s | "
              "CPU ms/sample server (client) | errors | other CPU |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        index = r["index"] if r["index"] == "exact" else \
            f"{r['index']} ({r['index_recall@20']:.3f}, {r['index_search_width']}" + \
            (f", exact from {r['index_exact_from_batch']} queries)" if r.get("index_exact_from_batch") else ")")
        index += " (bfloat16 screen)" if r.get("index_bfloat16_screen") else ""
        mix = r["mix"] if r["mix"] != "stateful" else \
            f"stateful (event {r['event_p50_ms']:.1f} / {r['event_p99_ms']:.1f}, GET {r['get_p50_ms']:.1f} / {r['get_p99_ms']:.1f})"
        report.append(f"| {r['items']:,} | {index} | {r['clients']} | {mix} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                      f"{r['samples_per_second']:.0f} | {r['server_cpu_ms_per_sample']:.2f} ({r['client_cpu_ms_per_sample']:.2f}) | "
                      f"{r['errors']} | {r['other_cpu_share'] or 0:.0%} |")
    report += ["", "Stateless p50 (p99) latency ÷ the stateful one's:", "",
               "| items | index | clients | per recommendation request (GET) | per pair (event + GET) | per combined request |",
               "|---|---|---|---|---|---|"]
    for n_items in args.items:
        for index in args.index:
            for clients in args.clients:
                by_mix = {r["mix"]: r for r in rows if (r["items"], r["index"], r["clients"]) == (n_items, index, clients)}
                if "stateless" not in by_mix:
                    continue
                base = by_mix["stateless"]

                def ratio(mix: str, key: str = "") -> str:
                    if mix not in by_mix:
                        return "—"
                    r = by_mix[mix]
                    return (f"{base['p50_ms'] / r[key + 'p50_ms']:.1f}× ({base['p99_ms'] / r[key + 'p99_ms']:.1f}×)")

                report.append(f"| {n_items:,} | {index} | {clients} | {ratio('stateful', 'get_')} | {ratio('stateful')} | "
                              f"{ratio('combined')} |")
    text = (f"# Serving benchmark\n\nModel: `{args.model}`. Machine: {json.dumps(measure.machine_basics(REPO))}\n\n"
            f"Medians over {args.rounds} round(s) of {args.seconds:g} s per cell, rounds interleaved.\n\n"
            + "\n".join(report) + "\n")
    (out / "results.json").write_text(json.dumps({"cells": rows, "runs": runs}, indent=2))
    (out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
