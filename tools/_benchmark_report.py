"""The benchmark's arithmetic: ratios, GFLOP/s against the ceiling, floors, the table.

Kept apart from `tools/benchmark.py` (which measures, and defines absl flags) so it
can be imported and checked on its own (`tests/test_benchmark_report.py`).
"""
from __future__ import annotations

# The paper's arithmetic (docs/design.md, "The paper's numbers the tests pin").
TRAIN_GFLOP_PER_IMAGE = 4.1      # a training step is ~3x the forward pass
INFER_GFLOP_PER_IMAGE = 1.45     # 724,406,816 multiply-adds forward
FC_WEIGHTS = 9216 * 4096 + 4096 * 4096 + 4096 * 1000   # fc6-fc8 kernels
CONV_GFLOP_PER_IMAGE = INFER_GFLOP_PER_IMAGE - 2 * FC_WEIGHTS / 1e9  # conv1-conv5


def derived(rows: dict) -> dict:
    out = {}
    ceiling = rows.get("matmul_ceiling", {}).get("gflops")
    # bfloat16 rows (ours "..._bf16", the peer's "torch_bf16_...") against the bfloat16 one
    ceiling_bf16 = rows.get("matmul_ceiling_bf16", {}).get("gflops")

    def rate(name):
        return rows.get(name, {}).get("images_per_second")

    for name, row in rows.items():
        # ours are "train_...", a peer's "<peer>_train_..." (torch_compile_train_b64)
        training = name.startswith("train_") or "_train_" in name
        per_image = TRAIN_GFLOP_PER_IMAGE if training else INFER_GFLOP_PER_IMAGE
        its_ceiling = ceiling_bf16 if "bf16" in name else ceiling
        if row.get("images_per_second") and its_ceiling:
            gflops = row["images_per_second"] * per_image
            out[f"{name}_gflops"] = gflops
            out[f"{name}_fraction_of_ceiling"] = gflops / its_ceiling
    if ceiling and ceiling_bf16:
        out["matmul_ceiling_bf16_vs_matmul_ceiling"] = ceiling_bf16 / ceiling
    pairs = [("train_b64_command_synthetic", "torch_train_b64"),
             ("train_b128_command_synthetic", "torch_train_b128"),
             ("infer_b64_keras", "torch_infer_b64"),
             ("train_b64_command_synthetic", "torch_compile_train_b64"),
             ("infer_b64_keras", "onnxruntime_infer_b64"),
             ("train_b64_command_synthetic", "keras_naive_train_b64"),
             ("train_b128_command_synthetic", "keras_naive_train_b128"),
             ("infer_b64_keras", "keras_naive_infer_b64"),
             ("train_b64_command_synthetic", "train_b64_plain_tf_step"),
             ("train_b64_plain_tf_step", "torch_train_b64"),
             ("infer_b64_keras", "infer_b64_plain_tf"),
             ("infer_b64_plain_tf", "torch_infer_b64"),
             ("train_b64_command_synthetic", "train_b64_bare_step"),
             ("train_b64_command_tfrecord", "train_b64_command_synthetic"),
             ("train_b64_command_synthetic_bf16", "train_b64_command_synthetic"),
             ("infer_b64_keras_bf16", "infer_b64_keras"),
             ("serving_b64_bf16", "serving_b64"),
             ("train_b64_command_synthetic_bf16", "torch_train_b64"),
             ("train_b64_command_synthetic_bf16", "torch_bf16_train_b64"),
             ("infer_b64_keras_bf16", "torch_bf16_infer_b64"),
             ("torch_bf16_train_b64", "torch_train_b64"),
             ("torch_bf16_infer_b64", "torch_infer_b64")]
    for ours, theirs in pairs:
        if rate(ours) and rate(theirs):
            out[f"{ours}_vs_{theirs}"] = rate(ours) / rate(theirs)
    for ours, theirs in (("latency_b1_keras", "torch_latency_b1"),
                         ("serving_latency_b1", "torch_latency_b1"),
                         ("latency_b1_keras", "onnxruntime_latency_b1"),
                         ("serving_latency_b1", "onnxruntime_latency_b1"),
                         ("latency_b1_keras_bf16", "latency_b1_keras"),
                         ("serving_latency_b1_bf16", "serving_latency_b1")):
        a = rows.get(ours, {}).get("latency_ms_median")
        b = rows.get(theirs, {}).get("latency_ms_median")
        if a and b:
            out[f"{ours}_vs_{theirs}"] = a / b
    a = rows.get("memory_b128_command", rows.get("train_b128_command_synthetic", {}))
    b = rows.get("memory_b128_torch", rows.get("torch_train_b128", {}))
    if a.get("peak_rss_gb") and b.get("peak_rss_gb"):
        out["peak_rss_b128_vs_torch"] = a["peak_rss_gb"] / b["peak_rss_gb"]
    a_runtime = rows.get("runtime_import", {}).get("peak_rss_gb")
    b_runtime = rows.get("torch_runtime_import", {}).get("peak_rss_gb")
    if a_runtime and b_runtime:
        out["runtime_import_rss_minus_torch_gb"] = a_runtime - b_runtime
        if "peak_rss_b128_vs_torch" in out:  # what training adds to each runtime
            out["peak_rss_b128_above_runtime_vs_torch"] = (
                (a["peak_rss_gb"] - a_runtime) / (b["peak_rss_gb"] - b_runtime))
    parts = rows.get("latency_b1_parts", {})
    torch_latency = rows.get("torch_latency_b1", {}).get("latency_ms_median")
    if parts.get("plain_ms") and torch_latency:  # the floor's own ratio on this machine
        out["latency_b1_plain_tf_vs_torch_latency_b1"] = parts["plain_ms"] / torch_latency
        out["latency_b1_whole_vs_plain_tf"] = parts["whole_ms"] / parts["plain_ms"]
    if parts and ceiling:
        out["latency_b1_conv_floor_ms"] = 1000 * CONV_GFLOP_PER_IMAGE / ceiling
        out["latency_b1_fc_floor_ms"] = 1000 * 4 * FC_WEIGHTS / 1e9 / parts["bandwidth_gb_per_s"]
        out["latency_b1_conv_fraction_of_ceiling"] = (
            CONV_GFLOP_PER_IMAGE / (parts["conv_ms"] / 1000) / ceiling)
    return out


def table(rows: dict, ratios: dict) -> str:
    lines = [f"{'row':40s} {'img/s':>9s} {'lat med ms':>11s} {'lat p90 ms':>11s} "
             f"{'peak RSS GB':>11s} {'GFLOP/s':>8s}"]
    for name, row in rows.items():
        if "note" in row:   # a peer that could not run: one line saying why
            lines.append(row["note"])
            continue

        def cell(key, fmt):
            value = row.get(key)
            width = int(fmt.split(".")[0])
            return format(value, fmt) if isinstance(value, (int, float)) else "-".rjust(width)
        gflops = ratios.get(f"{name}_gflops", row.get("gflops"))
        lines.append(f"{name:40s} {cell('images_per_second', '9.1f')} "
                     f"{cell('latency_ms_median', '11.1f')} {cell('latency_ms_p90', '11.1f')} "
                     f"{cell('peak_rss_gb', '11.2f')} "
                     f"{format(gflops, '8.1f') if gflops else '-':>8s}")
    parts = rows.get("latency_b1_parts")
    if parts:
        lines.append(f"batch-1 latency, one process, interleaved: whole model "
                     f"{parts.get('whole_ms', float('nan')):.1f} ms; apart: conv1-pool5 "
                     f"{parts['conv_ms']:.1f} ms + fc6-fc8 "
                     f"{parts['fc_ms']:.1f} ms; plain TF forward "
                     f"{parts.get('plain_ms', float('nan')):.1f} ms; "
                     f"memory read {parts['bandwidth_gb_per_s']:.1f} GB/s")
    lines.append("")
    lines += [f"{k:60s} {v:8.2f}" for k, v in ratios.items()
              if "_vs_" in k or "rss" in k or "floor" in k or "latency_b1_conv" in k]
    return "\n".join(lines)
