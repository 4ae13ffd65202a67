"""The wheel, installed into a fresh virtual environment outside the checkout, owns one
name (`alexnet_tf`) and runs every console script there, and one real export.

The environment reuses this interpreter's packages (`--system-site-packages`: TensorFlow &
co., no network); everything runs with the checkout neither the working directory nor on
PYTHONPATH, and each check says where `alexnet_tf` came from."""
import importlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import tools_support
from alexnet_tf import command
from setup_py import CHECKOUT, console_commands

pytestmark = pytest.mark.slow  # builds a wheel and a virtual environment, runs 20 processes

COMMANDS = console_commands()
SOURCES = ("setup.py", "README.md", "alexnet_tf", "export", "tools")
AT_ONCE = 3     # TensorFlow processes started together


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-3000:])
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, the environment's bin folder, env and cwd to run commands with)."""
    root = tmp_path_factory.mktemp("wheel")
    assert not str(root.resolve()).startswith(os.path.realpath(CHECKOUT) + os.sep)
    source = root / "source"       # a copy: building writes build/ and *.egg-info beside it
    for name in SOURCES:
        path = os.path.join(CHECKOUT, name)
        if os.path.isdir(path):
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(path, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "--quiet", "-w", str(root / "dist"), str(source)])
    wheel, = (root / "dist").glob("alexnet_tf-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
          str(wheel)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONNOUSERSITE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)      # the commands' own quiet start
    work = root / "run"
    work.mkdir()
    return dict(wheel=wheel, venv=venv, bin=venv / "bin", env=env, cwd=work, root=root)


def test_the_wheel_holds_one_top_level_name_and_every_script(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = wheel.namelist()
        info, = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"alexnet_tf", info}
    for module in ("alexnet_tf/export/saved_model.py", "alexnet_tf/tools/figure_kernels.py",
                   "alexnet_tf/export/tflite_conversion.py",
                   "alexnet_tf/figures/kernel_figure.py",
                   "alexnet_tf/resources/imagenet_class_names.tsv"):
        assert module in names
    scripts = dict(line.replace(" ", "").split("=") for line in entry_points.splitlines()
                   if "=" in line)
    assert scripts == {script: f"{module}:run" for script, module in COMMANDS.items()}


def test_alexnet_tf_is_imported_from_the_environment(installed):
    script = ("import json, sys, alexnet_tf, alexnet_tf.export.saved_model, "
              "alexnet_tf.tools.figure_kernels\n"
              "print(json.dumps({'files': [alexnet_tf.__file__, "
              "alexnet_tf.export.saved_model.__file__, "
              "alexnet_tf.tools.figure_kernels.__file__], "
              "'top_level': sorted(m for m in sys.modules if m in ('export', 'tools'))}))")
    out = _run([str(installed["bin"] / "python"), "-c", script], env=installed["env"],
               cwd=installed["cwd"]).stdout
    found = json.loads(out.strip().splitlines()[-1])
    site = str(installed["venv"].resolve()) + os.sep
    for path in found["files"]:
        assert os.path.realpath(path).startswith(site), (path, site)
    assert found["top_level"] == []        # no second name for the command folders


def _help_flags(script):
    flag_values = command.declared(importlib.import_module(COMMANDS[script]).define_flags)
    return [name for name in flag_values if flag_values[name].name == name]


def test_every_console_script_runs_its_help(installed):
    scripts = sorted(COMMANDS)
    for start in range(0, len(scripts), AT_ONCE):
        running = {script: subprocess.Popen([str(installed["bin"] / script), "--help"],
                                            env=installed["env"], cwd=installed["cwd"],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True)
                   for script in scripts[start:start + AT_ONCE]}
        for script, process in running.items():
            out, err = process.communicate(timeout=600)
            assert process.returncode == 0, (script, err[-3000:])
            assert err == "", (script, err[-3000:])      # a quiet start
            for name in _help_flags(script):
                assert f"  --{name}: " in out, (script, name, out)


def test_a_real_export_and_tflite_from_the_installed_scripts(installed):
    work = tools_support.make_workdir(installed["root"] / "trained")
    base = installed["root"] / "models" / "alexnet"
    exported = _run([str(installed["bin"] / "alexnet-export"), f"--model={work}",
                     f"--output={base}"], env=installed["env"], cwd=installed["cwd"])
    assert f"wrote {base / '1'} (version 1" in exported.stdout
    assert (base / "1" / "saved_model.pb").is_file()   # published only once it served
    assert (base.parent / "models.config").is_file()
    checked = _run([str(installed["bin"] / "alexnet-serving-check"), f"--model_dir={base}"],
                   env=installed["env"], cwd=installed["cwd"])
    assert f"OK: {base / '1'} loads and runs with XLA compilation disabled" in checked.stdout
    lite = installed["root"] / "tflite"
    _run([str(installed["bin"] / "alexnet-export-tflite"), f"--model={work}",
          f"--output={lite}", "--kinds=float32", "--calibration_images=8",
          "--verification_images=8"], env=installed["env"], cwd=installed["cwd"])
    report = json.loads((lite / "tflite_report.json").read_text())
    assert report["float32"]["within_tolerance"] and (lite / "alexnet_float32.tflite").is_file()
