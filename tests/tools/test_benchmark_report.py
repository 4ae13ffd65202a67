"""The benchmark's arithmetic against figures worked out by hand (no timing here)."""
import pytest

from alexnet_tf.tools._benchmark_report import derived, table

ROWS = {
    "matmul_ceiling": {"gflops": 200.0},
    "train_b64_command_synthetic": {"images_per_second": 40.0, "peak_rss_gb": 3.0},
    "train_b64_bare_step": {"images_per_second": 32.0},
    "train_b64_plain_tf_step": {"images_per_second": 36.0},
    "torch_train_b64": {"images_per_second": 16.0},
    "infer_b64_keras": {"images_per_second": 100.0},
    "torch_infer_b64": {"images_per_second": 40.0},
    "infer_b64_plain_tf": {"images_per_second": 80.0},
    "latency_b1_keras": {"latency_ms_median": 21.0, "latency_ms_p90": 24.0},
    "torch_latency_b1": {"latency_ms_median": 30.0, "latency_ms_p90": 33.0},
    "memory_b128_command": {"peak_rss_gb": 3.9},
    "memory_b128_torch": {"peak_rss_gb": 3.0},
    "runtime_import": {"peak_rss_gb": 0.7},
    "torch_runtime_import": {"peak_rss_gb": 0.2},
    "latency_b1_parts": {"whole_ms": 22.0, "conv_ms": 10.0, "fc_ms": 11.0, "plain_ms": 20.0,
                         "bandwidth_gb_per_s": 23.4487808},
}


def test_ratios_gflops_and_floors():
    out = derived(ROWS)
    assert out["train_b64_command_synthetic_vs_torch_train_b64"] == pytest.approx(2.5)
    assert out["train_b64_command_synthetic_vs_train_b64_bare_step"] == pytest.approx(1.25)
    assert out["infer_b64_keras_vs_torch_infer_b64"] == pytest.approx(2.5)
    assert out["latency_b1_keras_vs_torch_latency_b1"] == pytest.approx(0.7)
    # 40 img/s x 4.1 GFLOP per training image; 100 x 1.45 per inference image
    assert out["train_b64_command_synthetic_gflops"] == pytest.approx(164.0)
    assert out["train_b64_command_synthetic_fraction_of_ceiling"] == pytest.approx(0.82)
    assert out["infer_b64_keras_gflops"] == pytest.approx(145.0)
    # the median-of-3 memory rows win over the single rows: 3.9 / 3.0
    assert out["peak_rss_b128_vs_torch"] == pytest.approx(1.3)
    assert out["runtime_import_rss_minus_torch_gb"] == pytest.approx(0.5)
    # what training adds above each runtime: (3.9 - 0.7) / (3.0 - 0.2)
    assert out["peak_rss_b128_above_runtime_vs_torch"] == pytest.approx(3.2 / 2.8)
    # the floor (plain TF) against the peer, and ours against the floor
    assert out["train_b64_plain_tf_step_vs_torch_train_b64"] == pytest.approx(2.25)
    assert out["infer_b64_keras_vs_infer_b64_plain_tf"] == pytest.approx(1.25)
    assert out["infer_b64_plain_tf_vs_torch_infer_b64"] == pytest.approx(2.0)
    assert out["latency_b1_plain_tf_vs_torch_latency_b1"] == pytest.approx(20.0 / 30.0)
    assert out["latency_b1_whole_vs_plain_tf"] == pytest.approx(1.1)
    # fc6-fc8: 58,621,952 float32 kernels = 234.487808 MB at 23.4487808 GB/s = 10 ms
    assert out["latency_b1_fc_floor_ms"] == pytest.approx(10.0)
    # conv1-conv5: 1.45 - 2 x 0.058621952 GFLOP at 200 GFLOP/s
    assert out["latency_b1_conv_floor_ms"] == pytest.approx(1000 * 1.332756096 / 200)


def test_bfloat16_rows_rate_against_the_bfloat16_ceiling_and_sit_beside_float32():
    rows = dict(ROWS, **{
        "matmul_ceiling_bf16": {"gflops": 400.0},
        "train_b64_command_synthetic_bf16": {"images_per_second": 60.0},
        "infer_b64_keras_bf16": {"images_per_second": 250.0},
        "torch_bf16_train_b64": {"images_per_second": 8.0},
        "latency_b1_keras_bf16": {"latency_ms_median": 14.0},
        "serving_b64": {"images_per_second": 90.0},
        "serving_b64_bf16": {"images_per_second": 180.0}})
    out = derived(rows)
    assert out["matmul_ceiling_bf16_vs_matmul_ceiling"] == pytest.approx(2.0)
    # 60 img/s x 4.1 GFLOP = 246 GFLOP/s of the 400 bfloat16 ceiling
    assert out["train_b64_command_synthetic_bf16_fraction_of_ceiling"] == pytest.approx(0.615)
    assert out["train_b64_command_synthetic_fraction_of_ceiling"] == pytest.approx(0.82)
    assert out["torch_bf16_train_b64_fraction_of_ceiling"] == pytest.approx(8 * 4.1 / 400)
    assert out["train_b64_command_synthetic_bf16_vs_train_b64_command_synthetic"] == \
        pytest.approx(1.5)
    assert out["infer_b64_keras_bf16_vs_infer_b64_keras"] == pytest.approx(2.5)
    assert out["serving_b64_bf16_vs_serving_b64"] == pytest.approx(2.0)
    assert out["latency_b1_keras_bf16_vs_latency_b1_keras"] == pytest.approx(14 / 21)
    assert out["train_b64_command_synthetic_bf16_vs_torch_bf16_train_b64"] == \
        pytest.approx(7.5)
    assert out["torch_bf16_train_b64_vs_torch_train_b64"] == pytest.approx(0.5)
    assert "infer_b64_keras_bf16" in table(rows, out)


def test_missing_rows_give_no_ratio_and_the_table_still_prints():
    rows = {"train_b64_command_synthetic": {"images_per_second": 40.0}}
    out = derived(rows)
    assert not any("_vs_" in key for key in out)
    text = table(rows, out)
    assert "train_b64_command_synthetic" in text and "40.0" in text


def test_compiled_peer_training_counts_training_flops_and_new_peers_get_ratios():
    rows = {"matmul_ceiling": {"gflops": 200.0},
            "train_b64_command_synthetic": {"images_per_second": 40.0},
            "torch_compile_train_b64": {"images_per_second": 25.0},
            "infer_b64_keras": {"images_per_second": 120.0},
            "onnxruntime_infer_b64": {"images_per_second": 80.0},
            "latency_b1_keras": {"latency_ms_median": 21.0},
            "onnxruntime_latency_b1": {"latency_ms_median": 28.0}}
    out = derived(rows)
    # a training row of a peer: 25 img/s x 4.1 GFLOP per training image
    assert out["torch_compile_train_b64_gflops"] == pytest.approx(102.5)
    assert out["onnxruntime_infer_b64_gflops"] == pytest.approx(116.0)   # 80 x 1.45
    assert out["train_b64_command_synthetic_vs_torch_compile_train_b64"] == pytest.approx(1.6)
    assert out["infer_b64_keras_vs_onnxruntime_infer_b64"] == pytest.approx(1.5)
    assert out["latency_b1_keras_vs_onnxruntime_latency_b1"] == pytest.approx(0.75)


def test_a_peer_that_cannot_run_is_one_line_of_the_table():
    note = "PyTorch peer: not installed — run bench/setup_peers.sh"
    rows = {"train_b64_command_synthetic": {"images_per_second": 40.0},
            "torch_missing": {"note": note}}
    out = derived(rows)
    assert not any("_vs_" in key for key in out)
    lines = table(rows, out).splitlines()
    assert [line for line in lines if "PyTorch" in line] == [note]
