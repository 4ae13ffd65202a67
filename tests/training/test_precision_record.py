"""A run's precision: chosen once (auto, from injected hardware), printed first, recorded in
config.json, kept on resume; weights saved in float32 whatever the run computes in."""
import json

import numpy as np
import pytest
import tensorflow as tf
from random_images import RandomImages, tiny

from alexnet_tf import precision
from alexnet_tf.training import checkpoints as checkpointing
from alexnet_tf.training.loop import RunOptions, WorkDirError, train_and_evaluate

NO_AMX_CPU = precision.Hardware(cpu_model="AMD EPYC", cpu_flags=frozenset({"avx512_bf16"}))
AMX_CPU = precision.Hardware(cpu_model="Intel Xeon with AMX",
                             cpu_flags=frozenset({"avx512_bf16", "amx_bf16", "amx_tile"}))


def _run(workdir, steps, **options):
    lines = []
    summary = train_and_evaluate(tiny(), workdir, RunOptions(
        strategy="single", progress=False, max_steps=steps, checkpoint_every_steps=1,
        **options), data=RandomImages(), log=lines.append)
    return summary, lines


def _recorded(workdir):
    train = json.loads((workdir / "config.json").read_text())["train"]
    return train.get("precision"), train.get("precision_reason")


def test_auto_on_amx_trains_in_bfloat16_records_it_and_saves_float32_weights(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision, "detect", lambda cpuinfo=None: AMX_CPU)
    summary, lines = _run(tmp_path, 2)
    assert summary["global_step"] == 2
    assert lines[0] == ("precision: bfloat16 (auto: Intel Xeon with AMX (AMX, AVX512-BF16) "
                        "multiplies bfloat16 on AMX through oneDNN)")
    assert _recorded(tmp_path) == ("bfloat16", lines[0][len("precision: bfloat16 ("):-1])
    model = checkpointing.load_model(tmp_path / "model.keras")
    assert {w.dtype for w in model.weights} == {"float32"}
    prefix = checkpointing.CheckpointSaver(tmp_path / "checkpoints").listed()[0]
    dtypes = tf.train.load_checkpoint(prefix).get_variable_to_dtype_map()
    weights = {k: v for k, v in dtypes.items() if "conv1" in k or "fc8" in k}
    assert weights and set(weights.values()) == {tf.float32}, weights   # incl. momentum

    # Resumed where auto says float32 (no AMX): stays bfloat16, warns.
    monkeypatch.setattr(precision, "detect", lambda cpuinfo=None: NO_AMX_CPU)
    capsys.readouterr()
    summary, lines = _run(tmp_path, 3)
    assert summary["global_step"] == 3
    assert lines[0].startswith("precision: bfloat16 (resumed: ")
    assert "records bfloat16" in lines[0] and "multiplies bfloat16 on AMX" in lines[0]
    warnings = [l for l in capsys.readouterr().err.splitlines() if l.startswith("warning: ")]
    assert len(warnings) == 1 and "auto would choose float32" in warnings[0]
    assert "no AMX" in warnings[0]
    assert _recorded(tmp_path)[0] == "bfloat16"      # the record is the first run's

    with pytest.raises(WorkDirError, match="trained in bfloat16; resume it with "
                                           "--precision=bfloat16"):
        _run(tmp_path, 4, precision="float32")


def test_a_work_directory_from_before_the_record_resumes_in_float32(tmp_path, monkeypatch):
    _run(tmp_path, 2, precision="float32")
    before = checkpointing.load_model(tmp_path / "model.keras").get_layer("conv1").kernel.numpy()
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["train"]["precision"], saved["train"]["precision_reason"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    monkeypatch.setattr(precision, "detect", lambda cpuinfo=None: AMX_CPU)  # auto: bfloat16
    summary, lines = _run(tmp_path, 3)
    assert summary["global_step"] == 3
    assert lines[0].startswith("precision: float32 (resumed: ") and "before" in lines[0]
    assert not np.array_equal(
        before, checkpointing.load_model(tmp_path / "model.keras").get_layer("conv1").kernel)
