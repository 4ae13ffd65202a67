"""Where a training step's time goes, from oneDNN's own log of every primitive it runs.

`ONEDNN_VERBOSE=profile_exec` makes oneDNN print one line per executed primitive with its
problem (shapes) and its time in ms. This module turns those lines into a table by layer and
pass of the model, with each row's GFLOP counted from the problem itself and its share of
the machine's matrix-multiply ceiling. Pure functions: `tools/profile_step.py` runs the
step; the test feeds hand-written lines.

Attribution is by shape: a convolution's (input channels, filters, kernel, input size) per
group, a dense layer's (inputs, units), LRN's window product (rows = batch x height x
width, channels x channels), a pooling's (channels, input size).
"""
from __future__ import annotations

import dataclasses
import re

_CONV = re.compile(r"(?:g(\d+))?mb(\d+)_ic(\d+)oc(\d+)_ih(\d+)oh(\d+)kh(\d+)\w*?_iw(\d+)ow(\d+)kw(\d+)")
_POOL = re.compile(r"mb(\d+)ic(\d+)_ih(\d+)oh(\d+)kh(\d+)")
_INNER = re.compile(r"mb(\d+)ic(\d+)oc(\d+)")
_SOURCE_TYPE = re.compile(r"\bsrc[_:]([a-z0-9]+)")
_PASSES = {"forward_training": "forward", "forward_inference": "forward",
           "backward_data": "backward data", "backward_weights": "backward weights",
           "backward": "backward"}


@dataclasses.dataclass(frozen=True)
class Primitive:
    kind: str       # convolution, matmul (gemm_api and matmul), inner_product, pooling, ...
    pass_: str      # forward, backward data, backward weights, or "" when oneDNN does not say
    problem: str    # oneDNN's problem descriptor
    ms: float
    stamp: float | None = None  # ms since the epoch, with ONEDNN_VERBOSE_TIMESTAMP=1
    impl: str = ""              # oneDNN's implementation and its ISA: brg_conv_fwd:avx512_core
    data_type: str = ""         # of the source operand: f32, bf16


def parse_lines(lines) -> list[Primitive]:
    """The executed primitives in `lines` (other output is skipped). Lines look like
    onednn_verbose,v1,[timestamp,]primitive,exec,cpu,KIND,IMPL,PROP,MDS,ATTRS,AUX,PROBLEM,MS
    """
    out = []
    for line in lines:
        if not line.startswith("onednn_verbose"):
            continue
        fields = line.rstrip("\n").split(",")
        try:
            at = fields.index("exec")
            ms = float(fields[-1])
        except ValueError:
            continue
        if len(fields) < at + 10 or fields[at - 1] != "primitive":
            continue
        stamp = None
        if at == 4:
            try:
                stamp = float(fields[2])
            except ValueError:
                pass
        kind = "matmul" if fields[at + 2] == "gemm_api" else fields[at + 2]
        source = _SOURCE_TYPE.search(fields[at + 5])
        out.append(Primitive(kind, _PASSES.get(fields[at + 4], ""), fields[-2], ms, stamp,
                             impl=fields[at + 3], data_type=source[1] if source else ""))
    return out


def _matmul_dims(problem: str):
    """(batch, M, K, N) of "MxK:KxN" (leading batch dims multiplied) or None."""
    if ":" not in problem:
        return None
    left, right = problem.split(":", 1)
    a = [int(v) for v in left.split("x")]
    b = [int(v) for v in right.split("x")]
    if len(a) < 2 or len(b) < 2:
        return None
    batch = 1
    for v in a[:-2]:
        batch *= v
    return batch, a[-2], a[-1], b[-1]


def gflop(p: Primitive) -> float:
    """Floating-point operations of one execution (multiply-adds count 2), in GFLOP."""
    if p.kind == "convolution":
        m = _CONV.search(p.problem)
        if not m:
            return 0.0
        g, mb, ic, oc, _, oh, kh, _, ow, kw = (int(v) if v else 1 for v in m.groups())
        return 2.0 * mb * oc * oh * ow * ic * kh * kw / 1e9  # ic, oc are per group when g
    if p.kind == "inner_product":
        m = _INNER.search(p.problem)
        return 2.0 * int(m[1]) * int(m[2]) * int(m[3]) / 1e9 if m else 0.0
    if p.kind == "matmul":
        dims = _matmul_dims(p.problem)
        if not dims:
            return 0.0
        batch, rows, inner, cols = dims
        return 2.0 * batch * rows * inner * cols / 1e9
    return 0.0


@dataclasses.dataclass(frozen=True)
class LayerShapes:
    """The shapes that name a primitive's layer, per layer of the model."""
    convs: dict      # (ic per group, oc per group, kernel, input height) -> name
    denses: dict     # (inputs, units) -> name
    lrns: dict       # (rows, channels) -> name
    pools: dict      # (channels, input height) -> name


def label(p: Primitive, shapes: LayerShapes, batch: int) -> tuple[str, str]:
    """(layer, pass) of a primitive; ("other", kind) when no layer matches."""
    if p.kind == "convolution":
        m = _CONV.search(p.problem)
        if m:
            g, mb, ic, oc, ih, _, kh, iw, _, _ = (int(v) if v else 1 for v in m.groups())
            name = shapes.convs.get((ic, oc, kh, ih))
            if name:
                return name, p.pass_
            lrn = shapes.lrns.get((mb * ih * iw, ic))  # LRN for inference: a 1x1 convolution
            if lrn and kh == 1 and ic == oc:
                return lrn, "window product"
    if p.kind == "pooling":
        m = _POOL.search(p.problem)
        if m and (int(m[2]), int(m[3])) in shapes.pools:
            return shapes.pools[(int(m[2]), int(m[3]))], p.pass_
    if p.kind in ("matmul", "inner_product"):
        if p.kind == "inner_product":
            m = _INNER.search(p.problem)
            dims = (1, int(m[1]), int(m[2]), int(m[3])) if m else None
        else:
            dims = _matmul_dims(p.problem)
        if dims:
            _, rows, inner, cols = dims
            if inner == cols and (rows, cols) in shapes.lrns:
                return shapes.lrns[(rows, cols)], "window product"
            if p.kind == "inner_product" and rows == batch and (inner, cols) in shapes.denses:
                return shapes.denses[(inner, cols)], "forward"  # TF's fused forward only
            if rows == batch and inner == cols and (inner, cols) in shapes.denses:
                # a square layer's forward and dL/dx have the same shapes
                return shapes.denses[(inner, cols)], "forward, backward data"
            if rows == batch and (inner, cols) in shapes.denses:
                return shapes.denses[(inner, cols)], "forward"
            if rows == batch and (cols, inner) in shapes.denses:
                return shapes.denses[(cols, inner)], "backward data"
            if inner == batch and (rows, cols) in shapes.denses:
                return shapes.denses[(rows, cols)], "backward weights"
    return "other", p.kind


def implementations(primitives, shapes: LayerShapes, batch: int) -> dict:
    """(layer, pass) -> the implementations oneDNN ran for it with their ISA and source
    type, in order of first use: "brg_conv_fwd:avx512_core_bf16 (bf16)"."""
    found: dict = {}
    for p in primitives:
        names = found.setdefault(label(p, shapes, batch), [])
        name = f"{p.impl or '?'} ({p.data_type or '?'})"
        if name not in names:
            names.append(name)
    return {key: ", ".join(names) for key, names in found.items()}


def table(primitives, shapes: LayerShapes, batch: int, steps: int, ceiling_gflops: float):
    """Rows (layer, pass, ms per step, GFLOP per step, GFLOP/s, share of the ceiling) in
    order of first execution, summed over `steps` steps."""
    sums: dict = {}
    for p in primitives:
        key = label(p, shapes, batch)
        ms, flop = sums.get(key, (0.0, 0.0))
        sums[key] = (ms + p.ms, flop + gflop(p))
    rows = []
    for (layer, pass_), (ms, flop) in sums.items():
        ms, flop = ms / steps, flop / steps
        rate = flop / (ms / 1e3) if ms > 0 else 0.0
        rows.append((layer, pass_, ms, flop, rate, rate / ceiling_gflops if flop else None))
    return rows
