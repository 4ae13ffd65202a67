"""Macros that keep the BUILD files free of file lists.

Every list is a glob, so a new module, script or tests/test_*.py is built and tested
without editing a BUILD file. Globs pass allow_empty = True because export/ and tools/
may hold no sources yet (and Bazel 8 turns empty globs into errors by default).
"""

_NOT_SOURCES = ["**/__pycache__/**", "**/*.pyc"]

def py_package(name, data = [], deps = [], visibility = ["//visibility:public"]):
    """A py_library of every .py file under this BUILD file's directory.

    `imports = [".."]` puts the repository root on sys.path, so the package imports as
    `import <directory>` from the runfiles tree, whatever the repository is called.
    """
    native.py_library(
        name = name,
        srcs = native.glob(["**/*.py"], exclude = _NOT_SOURCES, allow_empty = True),
        data = data,
        deps = deps,
        imports = [".."],
        visibility = visibility,
    )

def _module_launcher_impl(ctx):
    # Same as `python -m <module>`: the module runs as __main__ inside its package, so
    # relative imports work, and the launcher's own directory leaves sys.path (a script's
    # directory would otherwise shadow top-level modules with the package's file names).
    # sys.orig_argv says so too: alexnet_tf.command tells a command's process (a quiet
    # TensorFlow start; the training command's early signal handling) by it.
    # `bazel run` starts binaries inside their runfiles tree; relative paths in flags mean
    # the caller's directory, which Bazel passes as BUILD_WORKING_DIRECTORY.
    ctx.actions.write(
        output = ctx.outputs.out,
        content = "\n".join([
            "import os",
            "import runpy",
            "import sys",
            "",
            "del sys.path[0]",
            "sys.orig_argv = [sys.executable, \"-m\", %r] + sys.argv[1:]" % ctx.attr.module,
            "if os.environ.get(\"BUILD_WORKING_DIRECTORY\"):",
            "    os.chdir(os.environ[\"BUILD_WORKING_DIRECTORY\"])",
            "runpy.run_module(%r, run_name=\"__main__\", alter_sys=True)" % ctx.attr.module,
            "",
        ]),
    )

_module_launcher = rule(
    implementation = _module_launcher_impl,
    attrs = {
        "module": attr.string(mandatory = True),
        "out": attr.output(mandatory = True),
    },
)

def _package_name(directory):
    """The Python package of a directory: export/ and tools/ install as alexnet_tf.export and
    alexnet_tf.tools (setup.py's package_dir), so their commands run under those names."""
    name = directory.replace("/", ".")
    return name if name == "alexnet_tf" or name.startswith("alexnet_tf.") else "alexnet_tf." + name

def py_module_binaries(library, modules = None, exclude = []):
    """One py_binary per command module of this package that exists on disk.

    `bazel run //<package>:<module> -- <flags>` does what `python -m <package>.<module>
    <flags>` does in a checkout (run under its installed name, e.g. alexnet_tf.export.
    saved_model). `modules` lists the command modules by name (e.g. ["train"]); None means
    every module of the directory except `__init__` and names starting with "_" or in
    `exclude`. A listed module whose file does not exist (yet) gets no target.
    """
    package = native.package_name()
    present = [
        f[:-len(".py")]
        for f in native.glob(["*.py"], allow_empty = True)
        if not f.startswith("_") and f[:-len(".py")] not in exclude
    ]
    names = present if modules == None else [m for m in modules if m in present]
    for module in names:
        launcher = "_launch_%s.py" % module
        _module_launcher(
            name = "_launch_" + module,
            module = "%s.%s" % (_package_name(package), module),
            out = launcher,
        )
        native.py_binary(
            name = module,
            srcs = [launcher],
            main = launcher,
            deps = [library],
            legacy_create_init = False,
            python_version = "PY3",
            visibility = ["//visibility:public"],
        )

def pytest_files(
        main,
        deps,
        data = [],
        fast = [],
        fast_size = "medium",
        slow_size = "large"):
    """One py_test per test_*.py file under this directory, each run through pytest by `main`.

    Test files in sub-folders (tests/network/test_layers.py) become targets named by their
    path (//tests:network/test_layers), so the folders need no BUILD files of their own.

    A py_test runs its main file as a plain script, which would define pytest's test
    functions and exit 0 without calling one. `main` runs pytest on the one file given in
    args and exits with pytest's code, so a failing test fails `bazel test`.

    Tests named in `fast` are tagged "fast" and get `fast_size`; every other file, including
    ones added later, is tagged "slow" and gets `slow_size` (Bazel's timeout for "large"
    is 15 minutes). CI selects the quick subset with --test_tag_filters=fast.
    """
    for src in native.glob(["**/test_*.py"], allow_empty = True):
        name = src[:-len(".py")]
        is_fast = name in fast
        native.py_test(
            name = name,
            srcs = [main, src],
            main = main,
            args = ["$(location %s)" % src],
            deps = deps,
            data = data,
            size = fast_size if is_fast else slow_size,
            tags = ["fast"] if is_fast else ["slow"],
            legacy_create_init = False,
            python_version = "PY3",
        )
