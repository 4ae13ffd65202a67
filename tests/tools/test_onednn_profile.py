"""The oneDNN log reader of `tools/profile_step.py` on hand-written log lines."""
import json

import pytest

from alexnet_tf.tools import _onednn_profile as profile
from tools_support import run_module

CONV = ("onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,"
        "forward_training,src:f32::blocked:acdb::f0 wei:f32:a:blocked:Acdb48a::f0,"
        "attr-post-ops:eltwise_relu,alg:convolution_direct,"
        "mb2_ic3oc4_ih9oh3kh3sh3dh0ph0_iw9ow3kw3sw3dw0pw0,1.5")
CONV_BWD_W = CONV.replace("brg_conv_fwd", "jit").replace("forward_training",
                                                           "backward_weights")[:-3] + "4.5"
STAMPED_GEMM = ("onednn_verbose,v1,1700000000123.5,primitive,exec,cpu,gemm_api,,undef,"
                "src_f32::blocked:ab:f0 wei_f32::blocked:ba:f0 dst_f32::blocked:ab:f0,,,"
                "2x6:6x5,0.25")
LRN_PRODUCT = ("onednn_verbose,v1,primitive,exec,cpu,inner_product,brgemm:avx512_core,"
               "forward_inference,src:f32::blocked:ab::f0,attr-scratchpad:user,,mb8ic5oc5,0.5")
POOL = ("onednn_verbose,v1,primitive,exec,cpu,pooling,jit:avx512_core,backward_data,"
        "src:f32::blocked:acdb::f0,,alg:pooling_max,"
        "mb2ic4_ih3oh1kh3sh2dh0ph0_iw3ow1kw3sw2dw0pw0,0.125")
NOISE = ["onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,jit,forward_training,"
         "src,,,mb2_ic3oc4_ih9oh3kh3sh3dh0ph0_iw9ow3kw3sw3dw0pw0,0.01",
         "onednn_verbose,v1,info,cpu,isa:Intel AVX-512",
         "profile_step:{}", "an unrelated line"]
SHAPES = profile.LayerShapes(convs={(3, 4, 3, 9): "conv1"}, denses={(6, 5): "fc6"},
                             lrns={(8, 5): "norm1"}, pools={(4, 3): "pool1"})


def test_only_executions_are_read_with_kind_pass_problem_time_and_stamp():
    prims = profile.parse_lines(NOISE + [CONV, STAMPED_GEMM, LRN_PRODUCT, POOL])
    assert [(p.kind, p.pass_, p.ms) for p in prims] == [
        ("convolution", "forward", 1.5), ("matmul", "", 0.25),
        ("inner_product", "forward", 0.5), ("pooling", "backward data", 0.125)]
    assert prims[0].problem.startswith("mb2_ic3oc4") and prims[0].stamp is None
    assert prims[1].problem == "2x6:6x5" and prims[1].stamp == 1700000000123.5


def test_flops_are_counted_from_the_problem_by_hand():
    conv, gemm, inner, pool = profile.parse_lines([CONV, STAMPED_GEMM, LRN_PRODUCT, POOL])
    # 2 images x 4 filters x 3x3 outputs x (3 channels x 3x3 kernel) multiply-adds, x2
    assert profile.gflop(conv) == pytest.approx(2 * 2 * 4 * 9 * 27 / 1e9)
    assert profile.gflop(gemm) == pytest.approx(2 * 2 * 6 * 5 / 1e9)
    assert profile.gflop(inner) == pytest.approx(2 * 8 * 5 * 5 / 1e9)
    assert profile.gflop(pool) == 0.0
    batched = profile.Primitive("matmul", "", "3x2x6:3x6x5", 1.0)
    assert profile.gflop(batched) == pytest.approx(3 * 2 * 2 * 6 * 5 / 1e9)


@pytest.mark.parametrize("problem,expected", [
    ("2x6:6x5", ("fc6", "forward")),            # x [batch, in] @ W [in, out]
    ("2x5:5x6", ("fc6", "backward data")),      # dy [batch, out] @ W^T
    ("6x2:2x5", ("fc6", "backward weights")),   # x^T @ dy
    ("8x5:5x5", ("norm1", "window product")),   # LRN's band product
    ("7x7:7x7", ("other", "matmul")),
])
def test_matrix_products_are_named_by_their_shapes(problem, expected):
    assert profile.label(profile.Primitive("matmul", "", problem, 1.0), SHAPES, 2) == expected


def test_square_dense_layers_cannot_tell_forward_from_backward_data():
    shapes = profile.LayerShapes(convs={}, denses={(5, 5): "fc7"}, lrns={}, pools={})
    assert profile.label(profile.Primitive("matmul", "", "2x5:5x5", 1.0), shapes, 2) == (
        "fc7", "forward, backward data")
    fused = profile.Primitive("inner_product", "forward", "mb2ic5oc5", 1.0)
    assert profile.label(fused, shapes, 2) == ("fc7", "forward")


def test_convolutions_pools_and_lrn_as_a_1x1_convolution_are_named():
    conv, _, _, pool = profile.parse_lines([CONV, STAMPED_GEMM, LRN_PRODUCT, POOL])
    assert profile.label(conv, SHAPES, 2) == ("conv1", "forward")
    assert profile.label(pool, SHAPES, 2) == ("pool1", "backward data")
    one_by_one = profile.Primitive("convolution", "forward",
                                   "mb2_ic5oc5_ih2oh2kh1sh1dh0ph0_iw2ow2kw1sw1dw0pw0", 1.0)
    assert profile.label(one_by_one, SHAPES, 2) == ("norm1", "window product")


def test_table_averages_over_steps_and_rates_against_the_ceiling():
    lines = [CONV, CONV_BWD_W, STAMPED_GEMM] * 2          # two steps
    rows = profile.table(profile.parse_lines(lines), SHAPES, batch=2, steps=2,
                         ceiling_gflops=1e-5)
    by_key = {(r[0], r[1]): r[2:] for r in rows}
    ms, flop, rate, share = by_key[("conv1", "forward")]
    assert ms == 1.5 and flop == pytest.approx(3888 / 1e9)
    assert rate == pytest.approx(3888 / 1e9 / 1.5e-3)
    assert share == pytest.approx(rate / 1e-5)
    assert by_key[("conv1", "backward weights")][0] == 4.5
    assert by_key[("fc6", "forward")][:2] == (0.25, pytest.approx(120 / 1e9))
    assert [r[:2] for r in rows] == [("conv1", "forward"), ("conv1", "backward weights"),
                                     ("fc6", "forward")]


def test_each_rows_implementation_isa_and_data_type_are_read_from_the_log():
    amx = CONV.replace("brg_conv_fwd:avx512_core", "brg_conv_fwd:avx10_1_512_amx").replace(
        "src:f32", "src:bf16").replace("wei:f32", "wei:bf16")
    prims = profile.parse_lines([CONV, STAMPED_GEMM, amx, CONV_BWD_W])
    assert [(p.impl, p.data_type) for p in prims] == [
        ("brg_conv_fwd:avx512_core", "f32"), ("", "f32"),
        ("brg_conv_fwd:avx10_1_512_amx", "bf16"), ("jit:avx512_core", "f32")]
    assert profile.implementations(prims, SHAPES, batch=2) == {
        ("conv1", "forward"): "brg_conv_fwd:avx512_core (f32), "
                              "brg_conv_fwd:avx10_1_512_amx (bf16)",
        ("fc6", "forward"): "? (f32)", ("conv1", "backward weights"): "jit:avx512_core (f32)"}


def _conv_gflop(batch, size, filters, channels, groups, kernel):
    return 2.0 * batch * size * size * filters * (channels // groups) * kernel * kernel / 1e9


@pytest.mark.parametrize("precision,data_type", [("float32", "f32"), ("bfloat16", "bf16")])
@pytest.mark.slow
def test_the_command_profiles_a_tiny_step_and_counts_its_convolutions(tmp_path, precision,
                                                                      data_type):
    """End to end on the `tiny` preset (67 px; conv1 11x11/4 -> 15, pool -> 7, conv2-5
    'same'; pool -> 3): every convolution's forward GFLOP as computed by hand here, run
    in the precision asked for."""
    out = tmp_path / "profile.json"
    run = run_module("tools.profile_step", "--preset=tiny", "--batch=2", "--steps=1",
                     f"--precision={precision}", f"--output={out}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "outside oneDNN" in run.stdout
    rows = {(r["layer"], r["pass"]): r for r in json.loads(out.read_text())["rows"]}
    expected = {"conv1": _conv_gflop(2, 15, 12, 3, 1, 11), "conv2": _conv_gflop(2, 7, 32, 12, 2, 5),
                "conv3": _conv_gflop(2, 3, 48, 32, 1, 3), "conv4": _conv_gflop(2, 3, 48, 48, 2, 3),
                "conv5": _conv_gflop(2, 3, 32, 48, 2, 3)}
    for name, gflop in expected.items():
        assert rows[(name, "forward")]["gflop"] == pytest.approx(gflop), name
        assert rows[(name, "backward weights")]["gflop"] == pytest.approx(gflop), name
        assert rows[(name, "forward")]["implementation"].endswith(f"({data_type})"), name
    assert ("conv1", "backward data") not in rows        # the images need no gradient
    assert all(r["ms"] >= 0 for r in rows.values())


@pytest.mark.slow
def test_an_unknown_preset_is_one_clear_error():
    run = run_module("tools.profile_step", "--preset=nope")
    assert run.returncode != 0 and "unknown preset 'nope'" in run.stderr
