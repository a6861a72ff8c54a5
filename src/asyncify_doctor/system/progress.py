"""A progress line on a terminal, for work long enough to wonder about (decoding a big binary)."""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO, TypeVar

from ..errors import printable

T = TypeVar("T")


class Progress:
    """A progress line on stderr, shown only when decoding takes over a second and stderr is a TTY."""

    def __init__(self, label: str, stream: TextIO | None = None, delay: float = 1.0) -> None:
        if stream is None:
            from .guard import raw_stderr
            stream = raw_stderr()
        self.label, self.delay = label, delay
        self.start = time.monotonic()
        self.shown = False
        try:
            self.enabled = stream is not None and stream.isatty() and not os.environ.get("CI")
        except (OSError, ValueError):
            self.enabled = False
        self.stream: TextIO = stream if stream is not None else sys.stderr

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        pct = 100 * done // max(total, 1)
        self._write(f"\r{printable(self.label)}: {pct:3d}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)")
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self._write("\r" + " " * (len(self.label) + 30) + "\r")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False


def with_progress(label: str, work: "Callable[[Progress], T]") -> T:
    """`work(progress)` with a progress line, cleared when it ends however it ends."""
    progress = Progress(label)
    try:
        return work(progress)
    finally:
        progress.finish()
