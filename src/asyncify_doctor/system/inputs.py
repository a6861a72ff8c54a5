"""Reading what the user gives, bounded, once, and remembered.

Every input the tool reads (the .wasm, `-` standard input, list files, `--imports @FILE`, the JS glue,
`--observed` stacks, trace logs, `fix --undo`'s `.bak`) goes through `read_input` (or `open_input`,
for the mapped .wasm):

- it is opened once: a named FIFO opened twice waits for a second writer that never comes (what was
  read of a FIFO, pipe or device is kept, and given again when the same name is read again);
- at most the size limit (`--max-size`, 2048 MB by default) plus one byte is read, whatever the
  file is: a device (`/dev/zero`, `/dev/urandom`) or a pipe never ends, and its `st_size` says
  nothing, so a regular file is refused by its size up front and anything else as it is read;
- an endless stream is refused early when its first bytes show it is not what is expected (a .wasm
  without the magic, a "text" file full of NULs or invalid UTF-8);
- the identity (device, inode) of every regular file read is remembered, so that `outputs` never
  writes over an input (`analyze X -o X`).

The CLI sets the limit (`set_limit`) and clears what was read (`reset`) once per command line.
"""
from __future__ import annotations

import codecs
import errno
import os
import stat
import sys
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional

from ..errors import InputError

DEFAULT_MAX_MB = 2048.0
CHUNK = 1 << 20
HEAD = 1 << 16

_limit_mb = DEFAULT_MAX_MB
_tracking = False   # under the CLI only (`reset`)
_read: set[tuple[int, int]] = set()
_streams: dict[str, bytes] = {}   # what was read of each pipe, FIFO or device, by the name it was given
STDIN_CLOSED = False   # set by the CLI when it found file descriptor 0 closed (`<&-`)

Head = Callable[[bytes], Optional[str]]   # first bytes of a stream -> why it is refused, or None
MakeError = Callable[[str, str], Exception]


def set_limit(max_mb: float) -> None:
    global _limit_mb
    _limit_mb = max_mb


def limit_bytes(max_mb: float | None = None) -> int:
    return int((_limit_mb if max_mb is None else max_mb) * 1e6)


def reset() -> None:
    """A new command line (`main`; a process may run many): forget the inputs of the one before, and
    remember this one's. Outside the CLI (the library) nothing is remembered: a long-lived process
    would otherwise take a new file that reuses an old input's inode for that input. `STDIN_CLOSED`
    is the process's, set once by `guard_streams` before the first command line: it stays."""
    global _limit_mb, _tracking
    _tracking = True
    _read.clear()
    _streams.clear()
    _limit_mb = DEFAULT_MAX_MB


def remember(st: os.stat_result) -> None:
    if _tracking and stat.S_ISREG(st.st_mode):
        _read.add((st.st_dev, st.st_ino))


def is_input(st: os.stat_result) -> bool:
    """Whether this regular file was read as an input of this command line."""
    return (st.st_dev, st.st_ino) in _read


def _input_error(path: str, message: str) -> Exception:
    return InputError(path, None, message)


def stdin_closed_error(make: MakeError = _input_error) -> Exception:
    return make("<stdin>", "standard input is closed; give a file instead of -")


@dataclass
class Opened:
    """An input opened once: its file object and what fstat said about it."""

    file: BinaryIO
    st: os.stat_result
    shown: str

    @property
    def regular(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)


def open_input(path: str | os.PathLike[str], make: MakeError = _input_error, max_mb: float | None = None) -> Opened:
    """Open an input once (`-`: standard input, not closed by the caller's `with`). A folder, or a regular
    file over the limit, is refused here; the caller closes `.file`."""
    shown = str(path)
    if shown == "-":
        if STDIN_CLOSED or sys.stdin is None:
            raise stdin_closed_error(make)
        try:
            fh: BinaryIO = os.fdopen(os.dup(0), "rb", buffering=0)   # a dup: closing it keeps fd 0
        except OSError:
            raise stdin_closed_error(make) from None
        shown = "<stdin>"
    else:
        try:
            fh = open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
        except IsADirectoryError:
            raise make(shown, "cannot read: Is a directory") from None
        except OSError as exc:
            raise make(shown, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fh.fileno())
    except OSError as exc:
        fh.close()
        raise make(shown, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        fh.close()
        raise make(shown, "cannot read: Is a directory")
    limit = limit_bytes(max_mb)
    if stat.S_ISREG(st.st_mode) and st.st_size > limit:
        fh.close()
        raise make(shown, f"the file is {st.st_size / 1e6:.0f} MB, over --max-size {limit / 1e6:g} MB; "
                          "raise --max-size if it really is the file you mean")
    remember(st)
    return Opened(fh, st, shown)


def read_opened(op: Opened, make: MakeError = _input_error, head: Head | None = None, max_mb: float | None = None) -> bytes:
    """All of an opened input, at most the limit: one byte more is refused. `head` checks the first
    bytes of anything that is not a regular file (whose size is known, and checked, up front)."""
    limit = limit_bytes(max_mb)
    parts: list[bytes] = []
    got = 0
    checked = head is None or op.regular
    while True:
        try:
            chunk = op.file.read(min(CHUNK, limit + 1 - got))
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise make(op.shown, "cannot read: Is a directory") from None
            raise make(op.shown, f"cannot read: {exc.strerror or exc}") from None
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
        if not checked and got >= HEAD:
            checked = True
            why = head(b"".join(parts)) if head is not None else None
            if why:
                raise make(op.shown, why)
        if got > limit:
            kind = "standard input" if op.shown == "<stdin>" else "the file" if op.regular else "a device or pipe"
            raise make(op.shown, f"more than --max-size {limit / 1e6:g} MB read ({kind} that does not end?); "
                                 "raise --max-size if it really is the input you mean")
    data = b"".join(parts)
    if not checked and head is not None and data:
        why = head(data)
        if why:
            raise make(op.shown, why)
    return data


def read_input(path: str | os.PathLike[str], make: MakeError = _input_error, head: Head | None = None,
               max_mb: float | None = None) -> bytes:
    """An input's bytes (see the module docstring), or `make(path, reason)` raised."""
    key = str(path)
    if _tracking and key in _streams:
        return _streams[key]
    op = open_input(path, make, max_mb)
    try:
        data = read_opened(op, make, head, max_mb)
    finally:
        op.file.close()
    if _tracking and not op.regular:   # a FIFO or pipe ends once: asked again (`--imports @FIFO` is read twice), the same bytes
        _streams[key] = data
    return data


def wasm_head(data: bytes) -> str | None:
    """A stream that does not open with the wasm magic is not read to its end (`/dev/zero`)."""
    if data[:4] != b"\0asm"[:len(data[:4])]:
        return f"not a wasm binary: it starts with {data[:4]!r}, not the magic \\0asm"
    return None


def text_head(data: bytes) -> str | None:
    """A text input (a list, stacks JSON, the JS glue) streamed from a device or pipe: NULs or bytes
    that are not UTF-8 say it is not text, before reading on (`/dev/zero`, `/dev/urandom`)."""
    if data.count(b"\0") > len(data) // 100:
        return "not text: it holds NUL bytes (a binary, or a device such as /dev/zero)"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError as exc:
        return f"not text: not UTF-8 at byte {exc.start} (a binary, or a device such as /dev/urandom)"
    return None


def log_head(data: bytes) -> str | None:
    """A log is any text, in any encoding; a stream whose first bytes are mostly control bytes is not
    one (`/dev/zero`, `/dev/urandom`)."""
    controls = sum(1 for b in data if b < 0x20 and b not in (9, 10, 13, 27))
    if controls > len(data) // 20:
        return "not a text log: most of its first bytes are control bytes (a binary, or a device such as /dev/urandom)"
    return None
