"""A progress line on a terminal, for work long enough to wonder about (decoding a big binary)."""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO, TypeVar

T = TypeVar("T")


class Progress:
    """A progress line on stderr, shown only when decoding takes over a second and stderr is a TTY."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, delay: float = 1.0) -> None:
        self.label, self.stream, self.delay = label, stream, delay
        self.start = time.monotonic()
        self.shown = False
        self.enabled = stream.isatty() and not os.environ.get("CI")

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        pct = 100 * done // max(total, 1)
        self.stream.write(f"\r{self.label}: {pct:3d}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (len(self.label) + 30) + "\r")
            self.stream.flush()


def with_progress(label: str, work: "Callable[[Progress], T]") -> T:
    """`work(progress)` with a progress line, cleared when it ends however it ends."""
    progress = Progress(label)
    try:
        return work(progress)
    finally:
        progress.finish()
