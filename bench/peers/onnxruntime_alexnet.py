"""Benchmark peer: ONNX Runtime inference on the PyTorch peer's model.

Builds `torch_alexnet.alexnet()` (the same architecture, same seed), exports it with
`torch.onnx.export` to a temporary file (a dynamic batch dimension, so one file serves
batch 64 and batch 1) and times an `onnxruntime.InferenceSession` on the CPU with its
default options (all graph optimisations, one intra-op thread per core). Runs in the
peers' environment (bash bench/setup_peers.sh):

    .peers/torch/bin/python bench/peers/onnxruntime_alexnet.py --batch 64 --steps 10
    .peers/torch/bin/python bench/peers/onnxruntime_alexnet.py --batch 1 --steps 20

Prints, last, `onnxruntime infer <images/s>` (total images over the total time of the
timed calls, after warm-up): tools/benchmark.py reads it. Inference only (`--mode infer`
is accepted for symmetry with the other peers).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import onnxruntime
import torch

from torch_alexnet import alexnet


def export(model: torch.nn.Module, path: str) -> None:
    example = torch.randn(2, 3, 227, 227)
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.onnx.export(model, (example,), path, input_names=["images"],
                      output_names=["logits"], dynamic_shapes=({0: batch},),
                      external_data=False, verbose=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed calls after warm-up")
    parser.add_argument("--mode", choices=["infer"], default="infer")
    args = parser.parse_args()
    if args.batch < 1 or args.steps < 1:
        parser.error("--batch and --steps must be at least 1")

    torch.manual_seed(0)
    model = alexnet().eval()
    x = torch.randn(args.batch, 3, 227, 227)
    with tempfile.TemporaryDirectory(prefix="onnx_peer_") as tmp:
        path = os.path.join(tmp, "alexnet.onnx")
        export(model, path)
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {"images": x.numpy()}
    with torch.inference_mode():
        expected = model(x).numpy()
    got = session.run(None, feed)[0]     # also the warm-up call
    if not np.allclose(got, expected, rtol=1e-3, atol=1e-4):
        raise SystemExit("error: ONNX Runtime's output differs from PyTorch's "
                         f"(max |diff| {np.abs(got - expected).max():.3g})")
    start = time.perf_counter()
    for _ in range(args.steps):
        session.run(None, feed)
    seconds = time.perf_counter() - start
    print(f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}")
    print(f"onnxruntime infer {args.batch * args.steps / seconds:.1f}")


if __name__ == "__main__":
    main()
