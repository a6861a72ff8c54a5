"""The process as a careless or hurried user starts it: closed or broken standard streams, and
signals from CI systems, `timeout` or a closed terminal.

`guard_streams` (the program's first step):
- a closed file descriptor 0, 1 or 2 (`<&-`, `>&-`, `2>&-`) is opened on /dev/null, so no file the
  tool opens, and no command it runs, ever takes its number and receives what was meant for it;
- a closed stdout stays closed for the tool: writing output there is an `OutputError` (one line on
  stderr, exit 2); `-o FILE` works as ever;
- a closed stdin is remembered (`inputs.STDIN_CLOSED`): reading `-` is a one-line error;
- stderr becomes `Messages`: what the tool says there is escaped (`errors.printable`: no name from a
  binary drives the terminal), and a stderr that fails (closed, `/dev/full`) silences the messages
  instead of stopping the work. `raw_stderr()` is the stream under it, for what is not the tool's to
  escape (the user's own build and test output, passed through) and for the progress line.

`guard_signals`: SIGTERM and SIGHUP raise `errors.Terminated` (SIGINT, KeyboardInterrupt) once; the
next ones are ignored while the cleanup (killing the user's commands, removing temp files) runs.
"""
from __future__ import annotations

import errno
import io
import os
import signal
import sys
from types import FrameType
from typing import TextIO

from ..errors import Terminated, printable
from . import inputs


class ClosedBinary(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")


class ClosedOutput(io.TextIOBase):
    """Standard output that was closed when the program started."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = ClosedBinary()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")

    def isatty(self) -> bool:
        return False


class Messages(io.TextIOBase):
    """stderr for what the tool says: escaped, and never a reason to stop (see the module docstring)."""

    def __init__(self, raw: TextIO | None) -> None:
        super().__init__()
        self.raw = raw
        self.failed = raw is None

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not self.failed and self.raw is not None:
            try:
                self.raw.write(printable(s, "\n\t"))
                self.raw.flush()
            except (OSError, ValueError):
                self.failed = True
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        try:
            return not self.failed and self.raw is not None and self.raw.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self.raw is None:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return self.raw.fileno()


def raw_stderr() -> TextIO | None:
    """The stream under `Messages` (None when stderr was closed), else sys.stderr as it is."""
    if isinstance(sys.stderr, Messages):
        return None if sys.stderr.failed else sys.stderr.raw
    return sys.stderr


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
        return False
    except OSError:
        return True


def guard_streams() -> None:
    closed = [fd for fd in (0, 1, 2) if _closed(fd)]
    for fd in closed:
        nfd = os.open(os.devnull, os.O_RDWR)
        if nfd != fd:
            os.dup2(nfd, fd)
            os.close(nfd)
    if 0 in closed:
        inputs.STDIN_CLOSED = True
    if 1 in closed:
        sys.stdout = ClosedOutput()
    raw = None if 2 in closed or sys.stderr is None else sys.stderr
    sys.stderr = Messages(raw)


def quiet_stdout() -> None:
    """After stdout failed: what is still buffered for it goes nowhere, so the interpreter's exit
    does not try again (and print `Exception ignored` on stderr)."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)   # one is enough: the cleanup it starts must not be cut short
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def guard_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:   # nohup's SIG_IGN stays
            signal.signal(sig, _on_signal)
