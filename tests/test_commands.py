"""Every command follows `alexnet_tf.command`: a console script in setup.py, flags declared
only when it runs, `--help` listing them with exit 0, a bad flag one `error:` line with exit
2; from a checkout it runs as `python -m export.<name>` / `tools.<name>` and under its
package name too."""
import importlib
import os
import re
import subprocess
import sys

import pytest
from absl import flags

from alexnet_tf import command
from setup_py import CHECKOUT, console_commands

FOLDERS = {"alexnet_tf": "alexnet_tf", "export": "alexnet_tf.export", "tools": "alexnet_tf.tools"}
MAIN = re.compile(r'^if __name__ == "__main__":\n    sys\.exit\(run\(\)\)\n\Z', re.M)


def command_modules() -> dict:
    """{module name: source} of every module on disk that ends as a command does."""
    found = {}
    for folder, package in FOLDERS.items():
        for name in sorted(os.listdir(os.path.join(CHECKOUT, folder))):
            if name.endswith(".py") and not name.startswith("_"):
                with open(os.path.join(CHECKOUT, folder, name)) as f:
                    source = f.read()
                if "__main__" in source:
                    found[f"{package}.{name[:-3]}"] = source
    return found


COMMANDS = console_commands()


def test_every_command_has_one_console_script_and_every_script_a_command():
    modules = command_modules()
    assert sorted(COMMANDS.values()) == sorted(modules)
    assert len(set(COMMANDS.values())) == len(COMMANDS) >= 18
    assert all(script.startswith(command.SCRIPT_PREFIX) for script in COMMANDS)
    for module, source in modules.items():
        assert MAIN.search(source), f"{module} does not end in sys.exit(run())"


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_help_lists_every_flag_and_exits_0(script, capsys):
    module = importlib.import_module(COMMANDS[script])
    assert module.run.__defaults__ == (None,)            # run(argv=None)
    own = command.declared(module.define_flags)
    names = [name for name in own if own[name].name == name]
    assert names, f"{script} declares no flag"
    assert not set(names) & set(flags.FLAGS), "declared on import, or left behind by a run"
    assert module.run([script, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(module.__doc__.strip().splitlines()[0])
    for name in names:
        assert f"  --{name}: " in out, (script, name)
    assert not set(names) & set(flags.FLAGS)             # removed again after the run


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_a_bad_flag_is_one_error_line_and_exit_2(script, capsys):
    module = importlib.import_module(COMMANDS[script])
    assert module.run([script, "--no_such_flag=1"]) == command.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert "no_such_flag" in captured.err and captured.out == ""


def test_the_checkouts_module_paths_run_the_same_commands():
    """`python -m export.saved_model`, `python -m tools.figure_kernels` (the folders' own
    names in a checkout) and `python -m alexnet_tf.export.saved_model` (the package's)."""
    env = dict(os.environ, PYTHONPATH=CHECKOUT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)                # the commands' own quiet start
    runs = {module: subprocess.Popen([sys.executable, "-m", module, "--help"], cwd=CHECKOUT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
            for module in ("export.saved_model", "tools.figure_kernels",
                           "alexnet_tf.export.saved_model")}
    for module, process in runs.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (module, err[-2000:])
        assert "  --model: " in out, (module, out)
        assert err == "", (module, err[-2000:])          # no TensorFlow start-up lines
