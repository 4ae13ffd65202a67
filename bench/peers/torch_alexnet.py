"""Benchmark peer: the 2012 AlexNet in plain PyTorch, as a PyTorch user writes it.

The `paper` preset's architecture: 227x227 input, grouped conv2/conv4/conv5, LRN after
conv1 and conv2 (k=2, n=5, alpha=1e-4 undivided, beta=0.75), overlapping 3/2 pooling,
dropout 0.5 on the outputs of fc6 and fc7, 60,965,224 parameters. One difference, in the
peer's favour: LRN spans all 96/256 channels in one `nn.LocalResponseNorm` call (as most
ports and Caffe do) instead of each group's half (same arithmetic, fewer ops).

Runs in its own environment (bash bench/setup_peers.sh), never TensorFlow's:

    .peers/torch/bin/python bench/peers/torch_alexnet.py --mode train --batch 64 --steps 10
    .peers/torch/bin/python bench/peers/torch_alexnet.py --mode train --compile

Times `--steps` steps after warm-up on synthetic data (SGD with momentum and weight decay
for training, `inference_mode` for inference). The last line printed is
`<peer> <mode> <images/s>` (peer `torch`, or `torch-compile` with `--compile`), images/s
being total images over the total time of the timed steps: tools/benchmark.py reads it.
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch
from torch import nn

PARAMETERS = 60_965_224   # the paper's count for this architecture (docs/design.md)


def alexnet(num_classes: int = 1000) -> nn.Sequential:
    def lrn():
        # torch divides alpha by the window size n=5; 5e-4 / 5 is the paper's 1e-4.
        return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True), lrn(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, num_classes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after warm-up")
    parser.add_argument("--mode", choices=["train", "infer"], default="train")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (its first calls compile: warm-up)")
    parser.add_argument("--bf16", action="store_true",
                        help="run the model under torch.autocast('cpu', bfloat16)")
    args = parser.parse_args()
    if args.batch < 1 or args.steps < 1:
        parser.error("--batch and --steps must be at least 1")

    torch.manual_seed(0)
    model = alexnet()
    count = sum(p.numel() for p in model.parameters())
    if count != PARAMETERS:
        raise SystemExit(f"error: the peer has {count} parameters, not {PARAMETERS}")
    net = torch.compile(model) if args.compile else model
    x = torch.randn(args.batch, 3, 227, 227)
    y = torch.randint(0, 1000, (args.batch,))
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if args.bf16 \
        else contextlib.nullcontext
    if args.mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = loss_fn(net(x).float(), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), autocast():
                net(x)
    for _ in range(2 if args.compile else 1):   # compiled code may recompile once
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    name = ("torch-compile" if args.compile else "torch") + ("-bf16" if args.bf16 else "")
    print(f"params {count}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"{name} {args.mode} {args.batch * args.steps / seconds:.1f}")


if __name__ == "__main__":
    main()
