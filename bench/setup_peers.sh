#!/usr/bin/env bash
# Creates the benchmark peers' environment: .peers/torch under the repository root, a
# virtual environment of its own with PyTorch, ONNX and ONNX Runtime. PyTorch must not
# share TensorFlow's environment (their native libraries and NumPy pins differ), so
# tools/benchmark.py runs the PyTorch, torch.compile and ONNX Runtime peers with
# .peers/torch/bin/python and the naive Keras peer with its own interpreter.
#
#   bash bench/setup_peers.sh                       # creates or completes .peers/torch
#   PYTHON=python3.11 bash bench/setup_peers.sh     # another base interpreter
#
# torch is pinned to 2.13.0, the version the recorded figures were measured with; on the
# project's machines its CPU wheel is available locally (an unpinned `torch` would pull a
# CUDA build of several GB). onnxscript is what torch.onnx.export needs to write the ONNX
# peer's model. Re-running the script is safe: an interrupted run is completed, and pip
# skips what is installed already.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_dir="$repo/.peers/torch"
python="${PYTHON:-python3}"
packages=("torch==2.13.0" numpy onnx onnxscript onnxruntime)

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "error: '$python' is not a Python >= 3.10 interpreter; set PYTHON=..." >&2
  exit 2
fi

if [ ! -x "$env_dir/bin/python" ]; then
  echo "creating $env_dir"
  mkdir -p "$repo/.peers"
  "$python" -m venv "$env_dir"
fi
echo "installing ${packages[*]} into $env_dir"
"$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"

"$env_dir/bin/python" - <<'PY'
import numpy, onnx, onnxruntime, torch
print(f"peers ready: torch {torch.__version__}, onnx {onnx.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}")
PY
echo "the peers' interpreter: $env_dir/bin/python (tools/benchmark.py finds it there)"
