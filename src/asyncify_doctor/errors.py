"""Errors users see. Every one prints as a single line (`path: byte offset N: message`).

The CLI turns any `DoctorError` into that line and exit status 2, so bad input never shows a
traceback; library users can catch the typed classes.
"""
from __future__ import annotations


def printable(text: str, keep: str = "", json: bool = False) -> str:
    """`text` safe to show on a terminal: every character that is not printable (C0/C1 controls such
    as ESC, which start colour and window-title sequences, DEL, bidi overrides, zero-width marks) is
    written as an escape (`\\x1b`; with `json`, `\\u001b`, still valid inside a JSON string), except
    the characters in `keep` (e.g. newline and tab in a multi-line report). Names in a binary can hold
    anything; what the tool prints must never drive the user's terminal."""
    if "\n" in keep and "\n" in text:
        rest = keep.replace("\n", "")
        return "\n".join(printable(line, rest, json) for line in text.split("\n"))
    probe = text
    for k in keep:
        probe = probe.replace(k, "")
    if probe.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else _escape(c, json) for c in text)


def _escape(c: str, json: bool) -> str:
    n = ord(c)
    if json:
        if n < 0x10000:
            return f"\\u{n:04x}"
        n -= 0x10000
        return f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def one_line(text: str) -> str:
    """Names from a broken binary can hold anything: escape control characters so every error
    stays one line (and never drives the terminal)."""
    return printable(text)


class DoctorError(Exception):
    """Base of every error asyncify-doctor raises on purpose."""

    exit_status = 2


class InputError(DoctorError):
    """Bad input: a file we cannot read or parse. Carries where, so users can look."""

    def __init__(self, path: str, offset: int | None, message: str) -> None:
        self.path = str(path)
        self.offset = offset
        self.message = one_line(message)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: byte offset {self.offset}" if self.offset is not None else self.path
        return f"{where}: {self.message}"


class DecodeError(InputError):
    """The wasm binary is malformed or uses something we cannot decode.

    `function` is the function index when the problem is inside a code body, so users can
    find it with `wasm-tools print` / `wasm-objdump -d`.
    """

    def __init__(self, path: str, offset: int | None, message: str, function: int | None = None) -> None:
        self.function = function
        if function is not None:
            message = f"{message} (in function {function})"
        super().__init__(path, offset, message)


class UsageError(DoctorError):
    """The command line asks for something that cannot be done (unknown function, bad flag mix)."""


class OutputError(DoctorError):
    """Standard output cannot be written: closed (`>&-`), full (`/dev/full`), or a pipe whose reader
    left (EPIPE: exit status 141, as the shell reports a writer killed by SIGPIPE, and no message)."""

    def __init__(self, exc: OSError) -> None:
        import errno
        self.broken_pipe = exc.errno == errno.EPIPE
        self.exit_status = 141 if self.broken_pipe else 2
        why = "it is closed" if exc.errno == errno.EBADF else (exc.strerror or str(exc))
        super().__init__(f"cannot write to standard output: {why}; nothing more was written (-o FILE writes a file)")


class Terminated(BaseException):
    """SIGTERM or SIGHUP (what CI systems, `timeout` and a closed terminal send), raised like
    KeyboardInterrupt so that every `finally` runs: temp files go, the user's commands are killed."""

    def __init__(self, signum: int) -> None:
        import signal
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(signal.Signals(signum).name)
