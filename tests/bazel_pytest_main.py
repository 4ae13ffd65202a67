"""Main of every Bazel py_test: run pytest on one test file and exit with pytest's code.

Bazel runs a py_test's main as a plain script; a pytest-style file run that way defines its
test functions and exits 0 without calling any. Usage (tests/BUILD passes the file):
    bazel_pytest_main.py tests/test_x.py [pytest args...]
"""
import importlib.util
import os
import sys

_SCRIPT_DIR = os.path.dirname(os.path.realpath(__file__))


def _checkout_import_error(runfiles_dir):
    """Why `alexnet_tf` would not come from this build's runfiles, or None if it does."""
    spec = importlib.util.find_spec("alexnet_tf")
    if spec is None or spec.origin is None:
        return "cannot import alexnet_tf at all (is //alexnet_tf in the test's deps?)"
    origin = os.path.abspath(spec.origin)
    if not origin.startswith(os.path.abspath(runfiles_dir) + os.sep):
        return (f"alexnet_tf would be imported from {origin}, outside the runfiles tree "
                f"{runfiles_dir}: the test would check an installed copy, not this build")
    return None


def main(argv):
    if not argv:
        sys.exit("usage: bazel_pytest_main.py TEST_FILE [pytest args...]")
    # Python put the real (symlink-resolved) directory of this script, i.e. the source
    # tree's tests/, first on sys.path; the runfiles copy must be the only one in play.
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != _SCRIPT_DIR]
    runfiles_dir = os.environ.get("TEST_SRCDIR")
    if runfiles_dir:
        error = _checkout_import_error(runfiles_dir)
        if error:
            sys.exit("bazel_pytest_main: " + error)
        # Bazel leaves HOME unset and its sandbox mounts the real one read-only; Keras,
        # Matplotlib and TFDS keep their config and caches under ~.
        os.environ.setdefault("HOME", os.environ["TEST_TMPDIR"])
    args = [argv[0], "-p", "no:cacheprovider"]  # nothing to write into the runfiles tree
    if os.environ.get("XML_OUTPUT_FILE"):
        args.append("--junitxml=" + os.environ["XML_OUTPUT_FILE"])  # per-test results
    import pytest
    return pytest.main(args + argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
