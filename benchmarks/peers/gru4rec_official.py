"""Runs the OFFICIAL PyTorch GRU4Rec's own ``run.py``, unchanged, with a seeded torch RNG.

The official code is not part of this repository (its licence forbids redistribution): pass the
folder of your own checkout of https://github.com/hidasib/GRU4Rec_PyTorch_Official (the one holding
``run.py``, ``gru4rec_pytorch.py`` and ``evaluation.py``) with ``--gru4rec-path``. Everything after
``--`` is handed to ``run.py`` as its command line, e.g.::

    benchmarks/.envs/gru4rec/bin/python benchmarks/peers/gru4rec_official.py \\
        --gru4rec-path ~/src/GRU4Rec_PyTorch_Official --seed 0 --info OUT/peer_info.json -- \\
        TRAIN.txt -t TEST.txt -m 1 5 10 20 -e conservative -d cpu -ps loss=cross-entropy,...

Why a wrapper: ``run.py`` has no seed option. Its weight initialisation is deterministic anyway
(``fit(compatibility_mode=True)`` draws the initial weights from ``np.random.seed(42)``), but its
negative samples (``torch.rand`` in ``SampleCache``) and dropout masks come from torch's global RNG,
which nothing seeds. This wrapper seeds ``random``, ``numpy`` and ``torch`` (CPU and CUDA) with
``--seed`` and then executes ``run.py`` as ``__main__`` in this process (``runpy``), so the run is
exactly ``python run.py ...`` plus a seed. On CUDA, sparse ``index_add_`` is still not bitwise
deterministic. ``--info`` receives the versions and the device actually seen by torch; on CUDA the
peak allocated GPU memory is printed at exit.

Library versions: the official code was written for numpy 1.x / pandas 1.x (``benchmarks/.envs/gru4rec``
has numpy 1.26.4, pandas 2.2.3). Two incompatibilities matter where only newer ones exist (e.g. a bare
GPU machine's ``python3``):

- numpy >= 2: ``GRU4RecModel._init_numpy_weights`` returns ``float32_array * 2 * sigma - sigma`` with
  ``sigma`` a ``np.float64``; NumPy 2's promotion rules (NEP 50) make that float64 and
  ``Tensor.set_`` then fails ("Could not set tensor of type double to a tensor of type float"). Under
  numpy >= 2 this wrapper wraps that method to cast its result to float32 (same random draws, same
  values up to float32 rounding), and records ``numpy2_float32_init_shim: true`` in ``--info``.
  Nothing else of the official code is touched.
- pandas >= 3: ``fit()`` builds its logQ popularity tensor with ``torch.tensor(Series)``, which reads
  the Series by integer position; pandas 3 treats integer keys as labels, so that fails. The wrapper
  stops with a clear message instead (pandas 2.x only warns, and gives the right values).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import platform
import random
import runpy
import sys
from pathlib import Path


def _model_module(run_args: list[str]) -> str:
    """The module run.py will import GRU4Rec from (its -g/--gru4rec_model option)."""
    for i, a in enumerate(run_args[:-1]):
        if a in ("-g", "--gru4rec_model"):
            return run_args[i + 1]
    return "gru4rec_pytorch"


def _numpy2_float32_init_shim(module_name: str) -> None:
    import numpy as np

    cls = importlib.import_module(module_name).GRU4RecModel
    original = cls._init_numpy_weights

    def init_float32(self, shape):
        return original(self, shape).astype(np.float32)

    cls._init_numpy_weights = init_float32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gru4rec-path", required=True, help="folder of the official checkout (holds run.py)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--info", help="write versions/device/seed here as JSON")
    ap.add_argument("run_args", nargs=argparse.REMAINDER, help="-- then the arguments of run.py")
    args = ap.parse_args()
    run_args = args.run_args[1:] if args.run_args[:1] == ["--"] else args.run_args

    root = Path(args.gru4rec_path).resolve()
    missing = [f for f in ("run.py", "gru4rec_pytorch.py", "evaluation.py") if not (root / f).is_file()]
    if missing:
        sys.exit(f"gru4rec_official.py: {root} is not a GRU4Rec_PyTorch_Official checkout (missing {missing})")

    import numpy as np
    import pandas as pd
    import torch

    if int(pd.__version__.split(".")[0]) >= 3:
        sys.exit(f"gru4rec_official.py: pandas {pd.__version__} found; the official GRU4Rec needs pandas < 3 "
                 "(its fit() reads a Series by integer position). Use benchmarks/.envs/gru4rec "
                 "(bash benchmarks/setup_peers.sh gru4rec) or a python with pandas 2.x.")

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)  # also seeds every CUDA device

    info = {
        "seed": args.seed,
        "seeded": "random/numpy/torch global RNGs by this wrapper (run.py has no seed option); "
                  "initial weights are fixed by run.py's compatibility mode (np.random.seed(42))",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "gru4rec_path": str(root),
        "run_py_args": run_args,
    }
    print("[gru4rec_official.py] " + json.dumps(info), flush=True)
    if args.info:
        Path(args.info).write_text(json.dumps(info, indent=2), encoding="utf-8")

    if torch.cuda.is_available():
        atexit.register(lambda: print("[gru4rec_official.py] cuda_max_memory_allocated_mb: "
                                      f"{torch.cuda.max_memory_allocated() / 2**20:.1f}", flush=True))

    # As `python run.py ...` would: the script's folder first on sys.path (run.py imports
    # gru4rec_pytorch / evaluation from it) and argv[0] = the script.
    sys.path.insert(0, str(root))
    if int(np.__version__.split(".")[0]) >= 2:
        _numpy2_float32_init_shim(_model_module(run_args))
        info["numpy2_float32_init_shim"] = True
        print("[gru4rec_official.py] numpy >= 2: GRU4RecModel._init_numpy_weights wrapped to return float32",
              flush=True)
        if args.info:
            Path(args.info).write_text(json.dumps(info, indent=2), encoding="utf-8")
    sys.argv = [str(root / "run.py"), *run_args]
    runpy.run_path(str(root / "run.py"), run_name="__main__")


if __name__ == "__main__":
    main()
