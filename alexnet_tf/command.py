"""How every command runs: `python -m alexnet_tf.train`, `python -m export.saved_model`,
`python -m tools.figure_kernels`, and their `alexnet-*` console scripts.

A command module holds `define_flags(flags)` (called when the command runs, never on import,
so one process may import any number of commands), `main(args)` (the work: one library
call; `args` are the positional arguments of a command that takes them) and

    def run(argv=None):
        return command.run(__name__, define_flags, main)

Exit codes, the same in every command:

| code | meaning |
|---|---|
| 0 | done |
| 1 | an unexpected error (its traceback is printed) |
| 2 | usage or bad input: one `error: ...` line naming what to fix, no traceback |
| 3 | the training loss became NaN or infinite (the last good checkpoint is kept) |
| 42 | stopped by SIGTERM/SIGINT after saving; the same command resumes |

A command whose inputs are partly usable (`predict`, the figure tools with some
unreadable images among those named) reports each unusable one and exits 2 after doing the
rest. A dataset's unreadable files (training, `write_tfrecords`, `compute_statistics`) are
skipped instead and the run still exits 0 (`write_tfrecords` counts them in dataset.json).
A full disk is one `error: disk full writing <file>` line, exit 2, whichever command it
stops.

A command that runs another in a child process (`export.saved_model` its serving check,
the benchmarks their measurements) starts it with `child_process(...)`, so that the
child imports this same alexnet_tf: a checkout's, an installed one or Bazel's.

A quiet start: TensorFlow's C++ start-up lines (`cpu_feature_guard`, `cuInit`, `oneDNN
custom operations`, ...) are kept off the screen unless `TF_CPP_MIN_LOG_LEVEL` asks for
them (`TF_CPP_MIN_LOG_LEVEL=0` shows everything). Nothing here imports TensorFlow: the
package's `__init__` calls `start()` before anything else.
"""
from __future__ import annotations

import functools
import os
import sys
import tempfile

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NONFINITE = 3
EXIT_PREEMPTED = 42   # the code of tf.distribute's PreemptionCheckpointHandler

COMMAND_PACKAGES = ("alexnet_tf", "export", "tools")
SCRIPT_PREFIX = "alexnet-"
TRAINING_COMMANDS = ("alexnet_tf.train", "alexnet-train", "tools.experiments",
                     "alexnet_tf.tools.experiments", "alexnet-experiments")
QUIET_LOG_LEVEL = "3"     # TensorFlow's C++ log: FATAL only


class UserError(Exception):
    """Something the user can fix (a path, a file, a value, a full disk): a command prints
    its message as one `error:` line and exits 2. Library errors of that kind derive
    from it (or from ValueError / FileNotFoundError, which count the same)."""


USER_ERRORS = (UserError, ValueError, FileNotFoundError, FileExistsError, IsADirectoryError,
               NotADirectoryError, PermissionError)


def command_being_run() -> str | None:
    """The command this process was started as (`alexnet_tf.train`, `export.tflite`, an
    `alexnet-*` script), or None when alexnet_tf is imported as a library (or by a script
    such as pytest that is not one of ours)."""
    args = iter(list(getattr(sys, "orig_argv", sys.argv))[1:])
    for arg in args:
        if not arg.startswith("-") or arg == "-":          # a script: is it ours?
            name = os.path.basename(arg)
            return name if name.startswith(SCRIPT_PREFIX) else None
        if arg.startswith("--"):
            continue
        for i, letter in enumerate(arg[1:], start=2):      # short options, maybe clustered
            if letter in "mcXW":
                value = arg[i:] or next(args, "")
                if letter == "m":
                    return value if value.split(".")[0] in COMMAND_PACKAGES else None
                if letter == "c":
                    return None
                break
    return None


def start():
    """At the package's first import in a command process: catch the training command's
    stop signals from its very start, and import TensorFlow without its C++ start-up log."""
    command = command_being_run()
    if command is None:
        return
    if command in TRAINING_COMMANDS:
        from alexnet_tf.training import stop_signals
        stop_signals.for_command()   # a SIGTERM while Keras loads still ends in exit 42
    quiet_tensorflow_import()


def quiet_tensorflow_import():
    """Imports TensorFlow with stderr set aside: its C++ code logs before absl's logging is
    initialised, ignoring TF_CPP_MIN_LOG_LEVEL. What it printed is shown if the import
    fails, or if TF_CPP_MIN_LOG_LEVEL=0 asks for INFO lines."""
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LOG_LEVEL)
    if level == "0" or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def error_line(error) -> str:
    """One line: the error's text, a very long one (e.g. TFDS listing every dataset) cut
    to its first line."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    if len(lines) <= 8:
        return " ".join(line.strip() for line in lines) if len(lines) > 1 else lines[0]
    return f"{lines[0]} [{len(lines) - 1} more lines]"


def disk_full_line(error) -> str | None:
    """`disk full writing <file>` when `error` is a full disk or quota that no library code
    worded itself (an OSError, or TensorFlow's "<file>; No space left on device"), else None."""
    from alexnet_tf import atomic
    if not atomic.is_disk_full(error):
        return None
    return f"disk full writing {atomic.full_path(error) or 'the output'}"


def define_config_flags(flags, *, applies_to: str = "", also: str = ""):
    """--preset, --set and --dataset: the config a training command starts from, declared
    the same way by every command that trains (`applies_to`: whose config they set;
    `also`: what else the command accepts)."""
    flags.DEFINE_string("preset", "digits", "Config preset: paper, digits or tiny.")
    flags.DEFINE_multi_string("set", [], f"Config override section.field=value{applies_to} "
                              f"(repeatable), e.g. train.batch_size=64{also}.")
    flags.DEFINE_string("dataset", None, "Shortcut for --set data.dataset=...: digits, "
                        "imagenet2012 (or any TFDS name), folder, tfrecord.")


_MODEL_REFERENCE = ("A training work directory, a checkpoint prefix "
                    "(<workdir>/checkpoints/ckpt-N), a .keras file or bvlc_alexnet.npy")


def define_model_flags(flags, *, ensemble: bool = False, class_names: bool = True):
    """--model and what the one loader (`alexnet_tf.inference.loader`) takes beside it, the
    same in every command that reads a trained model."""
    if ensemble:
        flags.DEFINE_multi_string("model", None, f"{_MODEL_REFERENCE}; repeat for an "
                                  "ensemble (softmax averaged).", required=True)
    else:
        flags.DEFINE_string("model", None, f"{_MODEL_REFERENCE}.", required=True)
    flags.DEFINE_string("preset", None, "The preset (paper, digits, tiny) a model was "
                        "trained with when no config.json of its work directory says it.")
    flags.DEFINE_multi_string("set", [], "Config override section.field=value (repeatable).")
    flags.DEFINE_string("statistics", None, "Dataset statistics .npz (default: the work "
                        "directory's, else the dataset's own).")
    if class_names:
        flags.DEFINE_string("class_names", None, "class_names.txt (default: the work "
                            "directory's, else the dataset's names).")


def model_arguments() -> dict:
    """The loader's keyword arguments from the flags `define_model_flags` declared."""
    from absl.flags import FLAGS
    arguments = {"preset": FLAGS.preset, "overrides": list(FLAGS.set),
                 "statistics": FLAGS.statistics}
    if "class_names" in FLAGS:
        arguments["class_names"] = FLAGS.class_names
    return arguments


def child_process(module: str, *args) -> dict:
    """subprocess keyword arguments running `python -m <module> args` with the alexnet_tf
    this process imported: the child starts in the folder it was imported from, so paths
    among `args` must be absolute."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {"args": [sys.executable, "-m", module, *map(str, args)], "cwd": root}


def fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return EXIT_USAGE


def skipped(messages) -> int:
    """After a command did what its usable inputs allowed: one `skipped: ...` line on stderr
    per input it could not use, and the exit code, 2 if there was any (else 0)."""
    for message in messages:
        sys.stderr.write(f"skipped: {message}\n")
    return EXIT_USAGE if messages else EXIT_OK


def wrote(paths, skipped_inputs=()) -> int:
    """The end of a command that writes files: `wrote <path>` for each, then `skipped`."""
    for path in paths:
        print(f"wrote {path}")
    return skipped(skipped_inputs)


_HELP = ("--help", "-h", "-?", "--helpshort", "--helpfull")


def run(module_name: str, define_flags, main, *, takes_arguments: bool = False,
        argv=None, parse=None) -> int:
    """Declares the flags, parses argv, calls `main(args)`; returns the exit code.

    `parse(argv) -> argv` may take arguments absl cannot declare out of argv first
    (the training command's `--config.a.b=v`). The command's flags are removed again when
    it returns, so one process (a test) may run any number of commands in turn."""
    from absl import flags
    defined = set(flags.FLAGS)
    own = []
    try:
        try:
            define_flags(flags)
        finally:   # only these: a library main imports may define flags of its own
            own = [name for name in flags.FLAGS if name not in defined]
        return _parse_and_run(module_name, own, main, takes_arguments=takes_arguments,
                              argv=list(sys.argv if argv is None else argv), parse=parse)
    finally:
        for name in own:
            delattr(flags.FLAGS, name)


def _parse_and_run(module_name, own, main, *, takes_arguments, argv, parse) -> int:
    from absl import flags, logging
    if any(arg in _HELP for arg in argv[1:]):
        print(_help(module_name, own, full="--helpfull" in argv[1:]))
        return EXIT_OK
    try:
        if parse is not None:
            argv = parse(argv)
        args = flags.FLAGS(argv)[1:]
    except (flags.Error, ValueError) as e:
        return fail(f"{e} (--help lists this command's flags)")
    if args and not takes_arguments:
        return fail(f"unexpected argument(s): {' '.join(args)} (flags are --name=value; "
                    f"--help lists them)")
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines would drown the output
    try:
        code = main(args)
    except USER_ERRORS as e:
        return fail(error_line(e))
    except Exception as e:
        if disk_full_line(e) is None:
            raise
        return fail(disk_full_line(e))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return EXIT_OK if code is None else int(code)


class _FlagsInto:
    """`absl.flags` whose DEFINE_* and mark_* declare into one FlagValues."""

    def __init__(self, flag_values):
        self._flag_values = flag_values

    def __getattr__(self, name):
        from absl import flags
        attribute = getattr(flags, name)
        if name.startswith(("DEFINE", "mark_")):
            return functools.partial(attribute, flag_values=self._flag_values)
        return attribute


def declared(define_flags):
    """A fresh absl FlagValues holding just the flags `define_flags` declares (for tests and
    for listing a command's flags without touching the process's own)."""
    from absl import flags
    flag_values = flags.FlagValues()
    define_flags(_FlagsInto(flag_values))
    return flag_values


def _help(module_name, names, full=False) -> str:
    from absl import flags
    module = sys.modules.get(module_name)
    doc = (getattr(module, "__doc__", None) or "").strip()
    if full:
        return f"{doc}\n\n{flags.FLAGS.get_help()}"
    lines = [doc, "", "flags:"] if doc else ["flags:"]
    for name in names:
        flag = flags.FLAGS[name]
        if flag.name != name:   # a short alias
            continue
        default = f" (default: {flag.default_as_str})" if flag.default_as_str else ""
        lines.append(f"  --{name}: {flag.help}{default}")
    lines.append("  --helpfull: every flag, absl's and TensorFlow's included")
    return "\n".join(lines)
