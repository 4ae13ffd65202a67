"""The experiments command end to end on a tiny grid: work directories per run, the report's
statistics against NumPy on the per-run numbers it records, resume and the --only/--seeds
split, and an image folder as the data."""
import dataclasses
import json
import pathlib

import numpy as np
import pytest

import pipeline_data
from alexnet_tf import command, config
from alexnet_tf.experiments import claims, runner
from alexnet_tf.tools import experiments

# A few steps per run: a tenth of the digits' training images (142, 17 steps of 8).
TINY = ["--preset=tiny", "--epochs=1", "--set=data.train_fraction=0.1",
        "--clean_train_images=40"]


def _run(*argv):
    return experiments.run(["alexnet-experiments", *TINY, *argv])


def _history_times(output):
    return {path: path.stat().st_mtime_ns for path in (output / "runs").glob("*/*/history.json")}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """lrn and ten_crop on seed 0, then seed 1 added: the second call must skip seed 0."""
    output = tmp_path_factory.mktemp("grid")
    assert _run(f"--output={output}", "--only=lrn,ten_crop", "--seeds=0") == 0
    first = _history_times(output)
    assert _run(f"--output={output}", "--only=lrn,ten_crop", "--seeds=0,1") == 0
    return output, first


def test_each_run_is_a_work_directory_and_a_rerun_skips_finished_runs(grid, capsys):
    output, first = grid
    assert sorted(p.parent.relative_to(output / "runs").as_posix() for p in first) == [
        "baseline/seed0", "no_lrn/seed0"]
    second = _history_times(output)
    assert len(second) == 4 and all(second[p] == t for p, t in first.items())
    saved = config.override(config.get_config("tiny"), [
        "train.epochs=1", "data.train_fraction=0.1", "train.lr_schedule=fixed",
        "train.lr_step_epochs=", "model.lrn_after=", "train.seed=1", "train.precision=float32"])
    from alexnet_tf.training import checkpoints
    loaded = checkpoints.load_config(output / "runs" / "no_lrn" / "seed1")
    assert loaded.train.precision_reason           # the run records why it is float32
    assert loaded == dataclasses.replace(saved, train=dataclasses.replace(
        saved.train, precision_reason=loaded.train.precision_reason))
    capsys.readouterr()
    assert _run(f"--output={output}", "--only=lrn,ten_crop", "--seeds=0,1") == 0
    out = capsys.readouterr().out
    assert out.count("finished before, skipped") == 4 and "training " not in out
    assert _history_times(output) == second


def test_the_reports_statistics_are_numpys_on_the_recorded_runs(grid):
    output, _ = grid
    report = json.loads((output / "report.json").read_text())
    runs = {(r["arm"], r["seed"]): r for r in report["runs"]}
    for (arm, seed), r in runs.items():   # the recorded numbers are the run's own history
        last = json.loads((output / "runs" / arm / f"seed{seed}" / "history.json").read_text())[-1]
        assert r["top1_error"] == last["validation_top1_error"]
        assert r["overfitting"] == pytest.approx(last["validation_top1_error"]
                                                 - last["clean_train_top1_error"])
    lrn = next(c for c in report["claims"] if c["key"] == "lrn")
    assert lrn["section"] == "3.3" and "normalisation" in lrn["statement"]
    for measure in ("top1_error", "top5_error"):
        base = np.array([runs["baseline", s][measure] for s in (0, 1)])
        variant = np.array([runs["no_lrn", s][measure] for s in (0, 1)])
        d = variant - base
        got = lrn["measures"][measure]
        assert got["baseline"]["mean"] == pytest.approx(base.mean())
        assert got["baseline"]["sd"] == pytest.approx(base.std(ddof=1))
        assert got["difference"]["mean"] == pytest.approx(d.mean())
        half = 12.706 * d.std(ddof=1) / np.sqrt(2)      # t_{0.975, 1}, printed tables
        np.testing.assert_allclose(got["difference"]["interval"],
                                   [d.mean() - half, d.mean() + half], rtol=0, atol=1e-4)
        assert got["difference"]["excludes_zero"] == bool(abs(d.mean()) > half)
    ten = next(c for c in report["claims"] if c["key"] == "ten_crop")["measures"]["top1_error"]
    for seed in (0, 1):
        crops = runs["baseline", seed]["multi_crop"]
        assert crops["center"]["top1_error"] == runs["baseline", seed]["top1_error"]
        assert ten["values"]["ten_crop"][str(seed)] == crops["ten_crop"]["top1_error"]
    markdown = (output / "report.md").read_text()
    assert "## §3.3: lrn" in markdown and "## §6: ten_crop" in markdown
    assert "§3.4" not in markdown and report["complete"] and report["tests"] == 3
    assert (output / "curves_lrn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unknown_claim_or_seed_is_one_error_line(tmp_path, capsys):
    assert _run(f"--output={tmp_path}", "--only=lrn,relu") == command.EXIT_USAGE
    err = capsys.readouterr().err
    assert err == ("error: --only names no claim 'relu'; the claims are groups, lrn, pooling, "
                   "crops, pca, dropout, ten_crop, figure1\n")
    assert _run(f"--output={tmp_path}", "--seeds=0,0") == command.EXIT_USAGE
    assert "--seeds must be distinct" in capsys.readouterr().err
    assert _run(f"--output={tmp_path}", "--seeds=0,one") == command.EXIT_USAGE
    assert capsys.readouterr().err == ("error: --seeds takes integers, e.g. --seeds=0,1,2; got "
                                       "0,one\n")
    assert _run(f"--output={tmp_path}", "--report_only") == command.EXIT_USAGE
    assert "nothing to report" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not list(tmp_path.iterdir())


def test_a_work_directory_of_another_configuration_is_refused(grid, tmp_path, capsys):
    output, _ = grid
    assert _run(f"--output={output}", "--only=lrn", "--seeds=0",
                "--set=train.learning_rate=0.02") == command.EXIT_USAGE
    assert "holds a run with another configuration" in capsys.readouterr().err


def test_the_runs_a_selection_of_claims_plans(tmp_path):
    def arms(*only, seeds=(0, 1)):
        grid = runner.Grid(runner.GridSpec(preset="tiny", only=only, seeds=seeds), tmp_path)
        return ([(r.arm, r.seed) for r in grid.ablation_runs()],
                [(r.arm, r.seed) for r in grid.sweep_runs()])
    # §6 evaluates the baseline's models twice: on its own it still trains the baseline.
    assert arms("ten_crop") == ([("baseline", 0), ("baseline", 1)], [])
    assert arms("lrn", "dropout", seeds=(2,)) == ([("baseline", 2), ("no_lrn", 2),
                                                    ("no_dropout", 2)], [])
    ablations, sweep = arms("figure1", seeds=(1,))
    # The tiny preset's rate 0.01 times 0.3, 1, 3 and 10, for each activation, on seed 0.
    assert ablations == [] and sweep == [(f"figure1_{a}_lr{r}", 0) for a in ("relu", "tanh")
                                         for r in ("0.003", "0.01", "0.03", "0.1")]
    assert not tmp_path.joinpath("runs").exists()     # planning writes nothing


def test_the_variants_of_the_paper_preset():
    """§3.2's one-group net halves conv1-conv4 and keeps conv5 and the fc layers (the
    footnote); §3.4's 2x2 pooling gives the same map sizes, 27, 13 and 6, as 3x3 stride 2."""
    base = config.get_config("paper")
    variants = claims.variant_overrides(base)
    half = config.validate(config.override(base, variants["one_group_half_width"]))
    assert half.model.conv_filters == (48, 128, 192, 192, 256)
    assert half.model.conv_groups == (1,) * 5 and half.model.fc_units == (4096, 4096)
    pooled = config.validate(config.override(base, variants["pool_2x2"]))
    assert claims.pooled_sizes(base.model) == claims.pooled_sizes(pooled.model) == [27, 13, 6]
    digits = config.get_config("digits")
    assert claims.pooled_sizes(config.override(
        digits, claims.variant_overrides(digits)["pool_2x2"]).model) == [7, 3, 1]


def test_epochs_to_target_is_interpolated_between_epoch_ends():
    history = [{"epoch": 1, "global_step": 10, "seconds": 4.0, "clean_train_top1_error": 0.5},
               {"epoch": 2, "global_step": 20, "seconds": 2.0, "clean_train_top1_error": 0.2}]
    # From 0.5 at epoch 1 to 0.2 at epoch 2, 0.25 is 5/6 of the way: epoch 1.8333.
    hit = runner.crossing(history, 0.25, start_error=0.9)
    assert hit == pytest.approx({"epochs": 1 + 5 / 6, "steps": 10 + 50 / 6,
                                 "seconds": 4 + 10 / 6})
    assert runner.crossing(history, 0.1, start_error=0.9) is None
    assert runner.crossing(history, 0.7, start_error=0.9)["epochs"] == pytest.approx(0.5)
    rows = [{"validation_top1_error": e} for e in (0.5, 0.1, 0.095, 0.09, 0.089)]
    assert runner.epochs_to_converge(rows, 0.01) == 3       # 0.095 <= 0.089 + 0.01


@pytest.mark.slow
def test_the_whole_grid_with_figure_1_and_an_image_folder(tmp_path, capsys):
    root, _, _ = pipeline_data.make_image_folder(tmp_path / "images", 80)
    output = tmp_path / "grid"
    code = experiments.run(["alexnet-experiments", "--preset=tiny", "--epochs=1",
                            "--seeds=0,1", f"--output={output}", "--dataset=folder",
                            f"--data_dir={root}", "--set=model.num_classes=3",
                            "--figure1_rates=0.01,0.03", "--clean_train_images=18"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((output / "report.json").read_text())
    assert [c["key"] for c in report["claims"]] == [c.key for c in claims.CLAIMS]
    assert report["complete"] and report["setup"]["dataset"] == "folder"
    f1 = report["figure1"]
    assert set(f1["chosen_rates"]) == {"relu", "tanh"} and len(f1["sweep"]) == 4
    assert set(f1["crossings"]) == {"relu", "tanh"}
    names = sorted(p.name for p in output.glob("*.png"))
    assert names == sorted(["figure1.png"] + [f"curves_{c.key}.png" for c in claims.CLAIMS
                                              if c.key != "ten_crop"])


@pytest.mark.slow
def test_a_grid_killed_mid_run_resumes_and_skips_what_was_finished(tmp_path):
    """SIGTERM while the second run trains: exit 42, the first run finished and kept; the same
    command again skips it and resumes the second from its checkpoint."""
    import os
    import signal
    import subprocess
    import sys
    root = str(pathlib.Path(__file__).resolve().parents[2])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-u", "-m", "tools.experiments",
            *[arg.replace("--epochs=1", "--epochs=3") for arg in TINY],
            f"--output={tmp_path}", "--only=lrn", "--seeds=0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=root)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "epoch 1:" in line and any("training no_lrn" in seen for seen in lines):
            process.send_signal(signal.SIGTERM)
            break
    out, err = process.communicate(timeout=300)
    assert process.returncode == command.EXIT_PREEMPTED, err[-2000:]
    assert "the same command resumes" in "".join(lines) + out
    baseline = tmp_path / "runs" / "baseline" / "seed0" / "history.json"
    stamp = baseline.stat().st_mtime_ns
    assert not (tmp_path / "runs" / "no_lrn" / "seed0" / "model.keras").exists()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=root,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "baseline seed 0: finished before, skipped" in result.stdout
    assert "resumed from" in result.stdout and baseline.stat().st_mtime_ns == stamp
    history = json.loads((tmp_path / "runs" / "no_lrn" / "seed0" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]


def test_figure_1s_net_is_four_layers_of_the_presets_without_regularisation():
    """digits: conv1-conv3 (24, 64, 96 kernels, one group), pooling after each (67 -> 15 ->
    7 -> 7 -> 3 -> 3 -> 1), fc8 on the 96 values left; counted by hand."""
    from alexnet_tf.network.model import build_alexnet
    base = config.get_config("digits")
    cfg = config.validate(config.override(base, claims.figure1_overrides(base, "tanh", 0.03)))
    model = build_alexnet(cfg.model)
    assert [layer.name for layer in model.layers[1:]] == [
        "conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "flatten", "fc8"]
    expected = {"conv1": 11 * 11 * 3 * 24 + 24, "conv2": 5 * 5 * 24 * 64 + 64,
                "conv3": 3 * 3 * 64 * 96 + 96, "fc8": 96 * 10 + 10}
    assert {name: model.get_layer(name).count_params() for name in expected} == expected
    assert model.get_layer("conv2").activation.__name__ == "tanh"
    assert cfg.train.weight_decay == 0 and cfg.train.learning_rate == 0.03
    assert cfg.train.lr_step_epochs == () and cfg.data.pca_stddev == 0
    assert not cfg.data.random_crop and not cfg.data.random_flip
