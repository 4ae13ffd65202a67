"""Shared test setup: quiet TensorFlow, deterministic seeds, the helpers in support/.

The test folders mirror the package's sub-packages; `support/` holds what several of them
import (NumPy references, tiny work directories, pipeline data) as plain modules.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))

import pytest  # noqa: E402

from alexnet_tf.precision import Hardware  # noqa: E402

NO_AMX_CPU = Hardware(cpu_model="a test CPU", cpu_flags=frozenset({"avx2", "avx512_bf16"}))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: a test of a whole command or of many steps (deselect with "
                   "-m 'not slow' for a quick local check)")


@pytest.fixture(autouse=True)
def _seed():
    import keras
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(autouse=True, scope="session")
def _cpu_without_amx():
    """`--precision=auto` reads the hardware: in-process tests (and module fixtures) see a
    CPU without AMX, so they train in float32 on every machine; tests of the choice pass
    hardware of their own, subprocess tests that need float32 ask for it. Its own patch:
    a test's `monkeypatch.undo()` leaves it in place."""
    from alexnet_tf import precision
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(precision, "detect", lambda cpuinfo=None: NO_AMX_CPU)
        yield


@pytest.fixture(scope="module")
def figure_inputs(tmp_path_factory):
    """A tiny model's work directory with gallery and query images (`tools_support`)."""
    import tools_support
    return tools_support.figure_inputs(tmp_path_factory.mktemp("figures"))
