"""A one-line progress bar for an epoch: loss, accuracy, images/s and ETA.

On a terminal the line is redrawn in place; otherwise (logs, CI, pipes) a line is printed
about every 10% so the log stays short.
"""
from __future__ import annotations

import sys
import time


def format_duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressBar:

    def __init__(self, total_steps: int, *, title: str, stream=None, enabled=True, width=24):
        self.total = max(int(total_steps), 1)
        self.title = title
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.width = width
        self.interactive = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.start_step = None
        self.last_printed_decile = -1

    def update(self, step: int, *, loss: float, accuracy: float, images_per_second: float):
        if not self.enabled:
            return
        if self.start_step is None:
            self.start_step = step
        elapsed = time.perf_counter() - self.start
        done = step - self.start_step
        eta = (self.total - step) * elapsed / done if done > 0 else float("nan")
        filled = int(self.width * step / self.total)
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        line = (f"{self.title} [{bar[:self.width]}] {step}/{self.total}  loss {loss:.4f}  "
                f"acc {100 * accuracy:5.1f}%  {images_per_second:,.0f} img/s  "
                f"ETA {format_duration(eta) if eta == eta else '?'}")
        if self.interactive:
            self.stream.write("\r" + line + "\033[K")
            self.stream.flush()
            return
        decile = 10 * step // self.total
        if decile > self.last_printed_decile or step == self.total:
            self.last_printed_decile = decile
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self, message: str = ""):
        if not self.enabled:
            return
        if self.interactive:
            self.stream.write("\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()
