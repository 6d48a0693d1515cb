"""How much a step-by-step recurrence costs: the fused library GRU against the time-gated and
decaying cells (a Python loop over steps), and against the same loop compiled with TorchScript.

    .venv/bin/python benchmarks/recurrence_loop.py [--batch 64 --steps 50 --threads 2]

Times one forward + backward pass of the recurrent part alone (no embedding, no scoring) on a
(batch, steps) input, median of ``--repeats`` after warm-up, rounds interleaved. The scoring
layer over all items usually costs more than any of these; see time_benchmark.py for whole epochs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from rnnrec.models.time_decay_gru import DecayingGRUCell
from rnnrec.models.time_encoding import gru_gates
from rnnrec.models.time_gated_gru import TimeGatedCell


def scripted_gru_loop(gi: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The plain GRU recurrence written as a loop, for TorchScript (same arithmetic as the cells)."""
    h = torch.zeros(gi.shape[0], w.shape[1])
    states: list[torch.Tensor] = []
    for t in range(gi.shape[1]):
        z, n = gru_gates(gi[:, t], torch.addmm(b, h, w.t()))
        h = n + z * (h - n)
        states.append(h)
    return torch.stack(states, 1)


def python_gru_loop(gi: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return scripted_gru_loop(gi, w, b)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--embedding", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, T, E, H = args.batch, args.steps, args.embedding, args.hidden
    x = torch.randn(B, T, E, requires_grad=True)
    time_in = torch.zeros(B, T, 4)
    time_in[..., 0] = torch.rand(B, T) * 86400.0
    time_in[..., 1] = torch.randint(0, 64, (B, T)).float()
    gru = torch.nn.GRU(E, H, batch_first=True)
    gated = TimeGatedCell(E, H, "gru", calendar=False)
    decaying = DecayingGRUCell(E, H, 60.0, 3.15e7)
    lin_in, lin_h = torch.nn.Linear(E, 3 * H), torch.nn.Linear(H, 3 * H)
    scripted = torch.jit.script(scripted_gru_loop)
    cases = {
        "nn.GRU (fused library loop)": lambda: gru(x)[0],
        "GRU as a Python loop": lambda: python_gru_loop(lin_in(x), lin_h.weight, lin_h.bias),
        "GRU loop, TorchScript": lambda: scripted(lin_in(x), lin_h.weight, lin_h.bias),
        "time-gated cell (Python loop)": lambda: gated(x, time_in),
        "decaying cell (Python loop)": lambda: decaying(x, time_in),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(3):  # warm-up (TorchScript optimises on its first runs)
        for f in cases.values():
            f().sum().backward()
    for _ in range(args.repeats):
        for name, f in cases.items():
            t0 = time.perf_counter()
            f().sum().backward()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["nn.GRU (fused library loop)"])
    print(f"forward + backward, batch {B}, {T} steps, input {E}, hidden {H}, {args.threads} threads, "
          f"median of {args.repeats}:")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:32s} {m * 1000:7.1f} ms  {m / base:4.2f}x nn.GRU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
