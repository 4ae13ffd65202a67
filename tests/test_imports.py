"""Every module imports, from this checkout, under one name.

Under `bazel test` the checkout is the runfiles tree of the test (Bazel's py_library
targets); under plain pytest it is the repository these tests sit in. An editable or
regular install of alexnet_tf elsewhere must not be what gets imported.
"""
import importlib
import os
import subprocess
import sys
import warnings

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(TESTS_DIR)
# folder in the checkout -> its name as a package
FOLDERS = {"alexnet_tf": "alexnet_tf", "export": "alexnet_tf.export", "tools": "alexnet_tf.tools"}


def _modules():
    """(module name, file) of every .py file of the three folders, found on disk."""
    found = []
    for folder, package in FOLDERS.items():
        root = os.path.join(CHECKOUT, folder)
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__" and
                       os.path.exists(os.path.join(directory, d, "__init__.py"))]
            relative = os.path.relpath(directory, root)
            prefix = package if relative == "." else f"{package}.{relative.replace(os.sep, '.')}"
            for name in sorted(files):
                if not name.endswith(".py") or name == "BUILD":
                    continue
                stem = name[:-len(".py")]
                module = prefix if stem == "__init__" else f"{prefix}.{stem}"
                found.append((module, os.path.join(directory, name)))
    return found


MODULES = _modules()


def test_the_walk_found_every_sub_package():
    names = {name for name, _ in MODULES}
    for package in ("alexnet_tf.network", "alexnet_tf.data", "alexnet_tf.data.sources",
                    "alexnet_tf.training", "alexnet_tf.inference", "alexnet_tf.figures",
                    "alexnet_tf.export", "alexnet_tf.tools"):
        assert package in names
    assert len(MODULES) > 80


@pytest.mark.parametrize("module,path", MODULES, ids=[name for name, _ in MODULES])
def test_every_module_imports_from_the_checkout(module, path):
    imported = importlib.import_module(module)
    assert os.path.abspath(imported.__file__) == os.path.abspath(path)


def test_top_level_command_folders_are_the_same_modules():
    """`python -m export.saved_model` from a checkout imports `export.*`: those must be the
    `alexnet_tf.export.*` module objects themselves (one set of absl flags)."""
    script = ("import export.signatures, tools.figure_kernels, alexnet_tf.export.signatures, "
              "alexnet_tf.tools.figure_kernels, sys\n"
              "assert export.signatures is alexnet_tf.export.signatures\n"
              "assert tools.figure_kernels is alexnet_tf.tools.figure_kernels\n"
              "assert sys.modules['export'] is sys.modules['alexnet_tf.export']\n"
              "print('same')")
    env = dict(os.environ, PYTHONPATH=CHECKOUT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], cwd=CHECKOUT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "same"


# Release 0.1's documented paths: (old import, attribute, where it lives now).
MOVED = [
    ("alexnet_tf.checkpointing", "load_model", None),
    ("alexnet_tf.input_pipeline", "build_dataset", "alexnet_tf.data.pipeline"),
    ("alexnet_tf.evaluation", "evaluate_models", "alexnet_tf.inference.evaluation"),
    ("alexnet_tf.kernel_grid", "kernel_grid", "alexnet_tf.figures.kernel_grid"),
    ("alexnet_tf.retrieval", "nearest_neighbours", "alexnet_tf.inference.retrieval"),
    ("alexnet_tf.preprocessing", "serving_preprocess", "alexnet_tf.data.preprocessing"),
    ("alexnet_tf.class_names", "imagenet", "alexnet_tf.data.class_names"),
    ("alexnet_tf.statistics", "DatasetStatistics", "alexnet_tf.data.statistics"),
    ("alexnet_tf.applications", "AlexNet", "alexnet_tf.network.applications"),
    ("alexnet_tf.sources.folder", "FolderSource", "alexnet_tf.data.sources.folder"),
]


@pytest.mark.parametrize("old,attribute,home", MOVED, ids=[old for old, _, _ in MOVED])
def test_old_module_paths_still_work_and_warn(old, attribute, home):
    """In a fresh process: the first import of the old path warns, naming the new one."""
    script = (f"import warnings\nwarnings.simplefilter('always')\n"
              f"with warnings.catch_warnings(record=True) as caught:\n"
              f"    import {old} as old\n"
              f"    value = old.{attribute}\n"
              f"moved = [str(w.message) for w in caught if w.category is DeprecationWarning "
              f"and '{old} moved to' in str(w.message)]\n"
              f"assert moved, [str(w.message) for w in caught]\n"
              f"print(moved[0])\n")
    if home:
        script += f"import {home} as new\nassert value is new.{attribute}\n"
    env = dict(os.environ, PYTHONPATH=CHECKOUT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], cwd=CHECKOUT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keeps working until the next release" in result.stdout


def test_package_level_names_of_the_old_modules():
    from alexnet_tf import inference, training
    from alexnet_tf.inference import loader
    from alexnet_tf.training import loop
    assert training.train_and_evaluate is loop.train_and_evaluate
    assert training.RunOptions is loop.RunOptions
    assert inference.load_classifier is loader.load_classifier
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from alexnet_tf import figures
        from alexnet_tf.figures import plotting
        assert figures.save_png is plotting.save_png
    assert any("alexnet_tf.figures.save_png moved" in str(w.message) for w in caught)


def test_under_bazel_the_checkout_is_the_runfiles_tree():
    runfiles = os.environ.get("TEST_SRCDIR")
    if not runfiles:
        pytest.skip("not running under `bazel test`")
    import alexnet_tf
    path = os.path.abspath(alexnet_tf.__file__)
    assert path.startswith(os.path.abspath(runfiles) + os.sep), path
    # The runfiles entry is a link into the source tree: same file, different path.
    assert os.path.realpath(path) != path


def test_every_test_file_has_a_name_of_its_own():
    """pytest imports test files by their base name (no __init__.py in tests/): two files
    of one name in different folders fail collection when one process meets both."""
    import collections
    import pathlib
    names = collections.Counter(path.name for path in
                                pathlib.Path(__file__).parent.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
