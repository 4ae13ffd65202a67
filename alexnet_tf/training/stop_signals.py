"""SIGTERM/SIGINT as a flag: the training loop checks it between compiled calls, saves
and exits with code 42 instead of dying mid-write.

The training command catches the signals from its very start: `python -m alexnet_tf.train`
imports the package (and with it Keras and TensorFlow, seconds) before the command's own
code runs, so the package's start-up (`alexnet_tf.command.start`) installs
`for_command()` first when that command is running. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import signal

from alexnet_tf.command import EXIT_PREEMPTED as PREEMPTED_EXIT_CODE  # noqa: E402


class StopSignals:
    """Records the first SIGTERM/SIGINT in `received` (its name) instead of dying."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def install(self) -> "StopSignals":
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        self.received = self.received or signal.Signals(signum).name

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.restore()


_COMMAND_SIGNALS = None


def for_command() -> StopSignals:
    """The training command's StopSignals, installed on the first call and kept for the
    life of the process."""
    global _COMMAND_SIGNALS
    if _COMMAND_SIGNALS is None:
        _COMMAND_SIGNALS = StopSignals().install()
    return _COMMAND_SIGNALS


def ignore_sigterm_while_exiting():
    """For the command's exit, once its work is saved and its status decided: the
    interpreter's shutdown (a second or more after TensorFlow) puts the default handlers
    back, and a SIGTERM then would turn the status into -15. Ctrl-C still ends a hung
    exit."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass
