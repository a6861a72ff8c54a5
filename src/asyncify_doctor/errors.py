"""Errors users see. Every one prints as a single line (`path: byte offset N: message`).

The CLI turns any `DoctorError` into that line and exit status 2, so bad input never shows a
traceback; library users can catch the typed classes.
"""
from __future__ import annotations


def one_line(text: str) -> str:
    """Names from a broken binary can hold anything: escape control characters so every error
    stays one line."""
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)


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
