#!/usr/bin/env bash
# Creates the peer virtualenvs for benchmarks/loo_benchmark.py (git-ignored):
#   benchmarks/.envs/rectools  — RecTools 0.19.0 with its torch extra (SASRecModel)
#   benchmarks/.envs/recbole   — RecBole 1.2.1 (GRU4Rec)
# and for benchmarks/session_benchmark.py:
#   benchmarks/.envs/gru4rec   — torch, numpy, pandas, joblib: the runtime of the OFFICIAL PyTorch GRU4Rec.
#                                Its code is NOT installed here (its licence forbids redistribution): clone
#                                hidasib/GRU4Rec_PyTorch_Official yourself and pass the folder to the
#                                harness with --gru4rec-path.
# Peers are installed from PyPI into their own envs; no peer code is copied into the repo.
#
# torch==2.13.0 is installed FIRST and is named again on every later pip command line, so pip never
# swaps it for another build (an unpinned torch would pull multi-GB CUDA wheels). On this machine pip
# finds the CPU wheel (torch-2.13.0+cpu) in its configured find-links. Elsewhere, point pip at a
# CPU wheel through TORCH_PIP_ARGS (for example an --index-url of a CPU-only wheel index).
#
# Every other package is pinned by benchmarks/peers/constraints-<env>.txt (a pip freeze of the
# envs the published numbers were measured with). Re-running is cheap: an env whose stamp matches
# the constraints file is left alone. Usage: bash benchmarks/setup_peers.sh [rectools] [recbole] [gru4rec]
# (no argument: rectools and recbole, the `loo` peers).
set -euo pipefail

cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
ENVS="${PEER_ENVS:-benchmarks/.envs}"
PEERS=benchmarks/peers
TORCH="torch==2.13.0"
read -r -a TORCH_ARGS <<< "${TORCH_PIP_ARGS:-}"
PIP_FLAGS=(--quiet --disable-pip-version-check)

command -v "$PY" >/dev/null || { echo "setup_peers.sh: $PY not found (Python 3.11 is required)" >&2; exit 1; }

stamp_of() { sha256sum "$PEERS/constraints-$1.txt" "$0" | sha256sum | cut -c1-16; }

make_env() {  # make_env NAME -> creates the venv and installs torch first
    local name=$1 env="$ENVS/$1"
    if [ -f "$env/.stamp" ] && [ "$(cat "$env/.stamp")" = "$(stamp_of "$name")" ]; then
        echo "[$name] up to date ($env)"; return 1
    fi
    echo "[$name] creating $env"
    [ -x "$env/bin/python" ] || "$PY" -m venv "$env"
    "$env/bin/python" -m pip install "${PIP_FLAGS[@]}" "${TORCH_ARGS[@]}" "$TORCH"
    return 0
}

setup_rectools() {
    local env="$ENVS/rectools"
    make_env rectools || return 0
    "$env/bin/python" -m pip install "${PIP_FLAGS[@]}" "${TORCH_ARGS[@]}" -c "$PEERS/constraints-rectools.txt" \
        "$TORCH" "rectools[torch]==0.19.0"
    "$env/bin/python" -c "import torch, rectools, pytorch_lightning; from rectools.models import SASRecModel; \
print('[rectools] ok: rectools', rectools.__version__, 'torch', torch.__version__, 'lightning', pytorch_lightning.__version__)"
    stamp_of rectools > "$env/.stamp"
}

setup_recbole() {
    local env="$ENVS/recbole"
    make_env recbole || return 0
    # RecBole 1.2.1's metadata also requires ray<=2.6.3 (and plotly): both are used only by
    # recbole.quick_start / hyper-parameter tuning, which the runner does not import, so RecBole
    # itself goes in with --no-deps and its real runtime imports are listed here (pinned by the
    # constraints file; numpy<2 because RecBole uses the np.float/np.int aliases).
    "$env/bin/python" -m pip install "${PIP_FLAGS[@]}" "${TORCH_ARGS[@]}" -c "$PEERS/constraints-recbole.txt" \
        "$TORCH" numpy pandas scipy scikit-learn colorlog colorama pyyaml tensorboard tqdm texttable tabulate \
        psutil thop setuptools
    "$env/bin/python" -m pip install "${PIP_FLAGS[@]}" --no-deps -c "$PEERS/constraints-recbole.txt" "recbole==1.2.1"
    "$env/bin/python" -c "import torch, recbole; from recbole.config import Config; \
from recbole.model.sequential_recommender import GRU4Rec; from recbole.trainer import Trainer; \
print('[recbole] ok: recbole', recbole.__version__, 'torch', torch.__version__)"
    stamp_of recbole > "$env/.stamp"
}

setup_gru4rec() {
    local env="$ENVS/gru4rec"
    make_env gru4rec || return 0
    # run.py of the official GRU4Rec imports numpy, pandas, joblib (and torch); nothing else.
    # numpy<2: under NumPy 2's type promotion its compatibility-mode initialisation produces float64
    # weights and fails ("Could not set tensor of type double to a tensor of type float").
    "$env/bin/python" -m pip install "${PIP_FLAGS[@]}" "${TORCH_ARGS[@]}" -c "$PEERS/constraints-gru4rec.txt" \
        "$TORCH" numpy==1.26.4 pandas==2.2.3 joblib==1.6.0
    "$env/bin/python" -c "import torch, numpy, pandas, joblib; \
print('[gru4rec] ok: torch', torch.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'joblib', joblib.__version__)"
    stamp_of gru4rec > "$env/.stamp"
}

mkdir -p "$ENVS"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(rectools recbole)
for t in "${targets[@]}"; do
    case "$t" in
        rectools) setup_rectools ;;
        recbole) setup_recbole ;;
        gru4rec) setup_gru4rec ;;
        *) echo "unknown env '$t' (rectools | recbole | gru4rec)" >&2; exit 2 ;;
    esac
done
