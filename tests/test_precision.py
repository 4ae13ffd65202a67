"""`--precision=auto`'s choice from the hardware, with the detection injected: both
branches are checked on every CPU, with AMX or without."""
import pytest

from alexnet_tf import precision
from alexnet_tf.precision import Hardware

AMX_CPU = Hardware(cpu_model="Intel Xeon Platinum 8480+",
                   cpu_flags=frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
BF16_DOTS_CPU = Hardware(cpu_model="AMD EPYC", cpu_flags=frozenset({"avx512f", "avx512_bf16"}))
PLAIN_CPU = Hardware(cpu_model="Intel Xeon E5-2690", cpu_flags=frozenset({"avx2"}))


def test_auto_is_bfloat16_on_a_cpu_with_amx_and_onednn():
    choice = precision.choose("auto", hardware=AMX_CPU)
    assert choice.precision == "bfloat16"
    assert "Intel Xeon Platinum 8480+" in choice.reason and "AMX" in choice.reason


@pytest.mark.parametrize("hardware", [BF16_DOTS_CPU, PLAIN_CPU], ids=["avx512_bf16", "avx2"])
def test_auto_is_float32_on_a_cpu_without_amx(hardware):
    choice = precision.choose("auto", hardware=hardware)
    assert choice.precision == "float32"
    assert hardware.cpu_model in choice.reason and "no AMX" in choice.reason


def test_auto_is_float32_with_amx_when_onednn_is_off():
    choice = precision.choose("auto", hardware=Hardware(
        cpu_model="x", cpu_flags=AMX_CPU.cpu_flags, onednn=False))
    assert choice.precision == "float32" and "TF_ENABLE_ONEDNN_OPTS=0" in choice.reason


def test_auto_is_bfloat16_on_a_gpu_with_bfloat16():
    choice = precision.choose("auto", hardware=Hardware(bfloat16_gpus=("NVIDIA A100",)))
    assert choice == precision.Choice("bfloat16", "auto: GPU NVIDIA A100 has native bfloat16")


def test_an_explicit_precision_is_taken_as_asked_and_the_former_name_still_works():
    assert precision.choose("float32", hardware=AMX_CPU) == precision.Choice("float32",
                                                                             "asked for")
    assert precision.choose("mixed_bfloat16", hardware=PLAIN_CPU).precision == "bfloat16"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        precision.choose("fp8")


def test_the_cpu_model_and_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon Max\n"
                       "flags\t\t: fpu avx512_bf16 amx_bf16 amx_tile\n\n"
                       "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
    model, flags = precision.read_cpuinfo(cpuinfo)
    assert model == "Xeon Max" and {"amx_bf16", "avx512_bf16"} <= flags and "fpu" in flags
    assert Hardware(cpu_model=model, cpu_flags=flags).describe_cpu() == \
        "Xeon Max (AMX, AVX512-BF16)"
    assert precision.read_cpuinfo(tmp_path / "missing") == ("unknown CPU", frozenset())


def test_a_resumed_run_keeps_its_recorded_precision_and_warns_where_auto_would_not():
    kept = precision.resumed("bfloat16", "auto: X has AMX", source="run/config.json",
                             hardware=PLAIN_CPU)
    assert kept.precision == "bfloat16"
    assert "run/config.json records bfloat16" in kept.reason
    assert "auto would choose float32" in kept.warning and "half the float32" in kept.warning
    with_dots = precision.resumed("bfloat16", "", source="c", hardware=BF16_DOTS_CPU)
    assert "auto would choose float32" in with_dots.warning   # AVX512-BF16: no "half"
    assert "half" not in with_dots.warning
    assert precision.resumed("bfloat16", "", source="c", hardware=AMX_CPU).warning == ""
    assert precision.resumed("float32", "", source="c", hardware=AMX_CPU).precision == \
        "float32"


def test_a_run_from_before_the_record_resumes_as_it_ran():
    """Precision was a per-run option defaulting to float32 then."""
    old = precision.resumed(None, source="c", hardware=AMX_CPU)
    assert old.precision == "float32" and "before precision was recorded" in old.reason
    assert precision.resumed(None, source="c", requested="mixed_bfloat16",
                             hardware=AMX_CPU).precision == "bfloat16"


def test_policies():
    assert precision.training_policy("bfloat16") == "mixed_bfloat16"  # float32 variables
    assert precision.training_policy("float32") == "float32"
    assert precision.serving_policy("bfloat16") == "bfloat16"         # bfloat16 variables
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        precision.serving_policy("mixed_float16")
