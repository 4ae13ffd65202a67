"""The tests exercise this checkout's code, not a pip-installed copy of it.

Under `bazel test` the checkout is the runfiles tree of the test (Bazel's py_library
targets); under plain pytest it is the repository these tests sit in. An editable or
regular install of alexnet_tf elsewhere must not be what gets imported.
"""
import importlib
import os

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(TESTS_DIR)
PACKAGES = ["alexnet_tf", "export", "tools"]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_is_imported_from_the_checkout(package):
    init = os.path.join(CHECKOUT, package, "__init__.py")
    if not os.path.exists(init):
        pytest.skip(f"{package}/ is not a package in this checkout")
    module = importlib.import_module(package)
    assert os.path.abspath(module.__file__) == init


def test_under_bazel_the_checkout_is_the_runfiles_tree():
    runfiles = os.environ.get("TEST_SRCDIR")
    if not runfiles:
        pytest.skip("not running under `bazel test`")
    import alexnet_tf
    path = os.path.abspath(alexnet_tf.__file__)
    assert path.startswith(os.path.abspath(runfiles) + os.sep), path
    # The runfiles entry is a link into the source tree: same file, different path.
    assert os.path.realpath(path) != path
