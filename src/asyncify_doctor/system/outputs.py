"""Writing what the tool produces without ever harming the user's system.

Every file the tool writes (lists, reports, stacks, `fix` edits and their `.bak`) goes through
`write_atomic`, and every `-o` option through `write_output`:

- `-o -` (or no `-o`) is standard output;
- a regular file is replaced atomically: a temp file in the same folder, fsynced, renamed over it,
  so readers (and a crash, or SIGKILL) see the old file or the new one, never half of one;
- a target that is not a regular file (a character device such as /dev/null or a tty, a FIFO, a
  socket) is opened and written like the shell's `>` does: a rename would turn it into a regular
  file — as root, `-o /dev/null` would otherwise replace the system's /dev/null;
- a symlink is followed: the file it points to is replaced atomically and the link itself is kept;
- a new file gets `0666 & ~umask` (the kernel applies the umask, as for `>`); a replaced file keeps
  its mode (and, when allowed, its owner); a `.bak` gets the original's mode.
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Iterable, Iterator, Union

from ..errors import InputError


Data = Union[str, bytes, Iterable[str]]   # an iterable of str: written part by part, never held whole


def write_output(target: str | os.PathLike[str] | None, text: Data) -> None:
    """Write a command's output: `None` or `-` is standard output, anything else `write_atomic`."""
    if target is None or str(target) == "-":
        if isinstance(text, (bytes, bytearray, memoryview)):
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
        else:
            for part in [text] if isinstance(text, str) else text:
                sys.stdout.write(part)
        sys.stdout.flush()
        return
    write_atomic(target, text)


def _chunks(data: Data) -> Iterator[bytes]:
    if isinstance(data, str):
        yield data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
    else:
        for part in data:
            yield part.encode("utf-8")


def write_atomic(path: str | os.PathLike[str], data: Data, *, backup: bool = False) -> None:
    """Put `data` (str: UTF-8; or an iterable of str, written as it comes) at `path` as described in
    the module docstring.

    With `backup`, the current content of a regular file is first kept as `<name>.bak` (same mode).
    Failures raise `InputError` (one line, the path and the reason) and leave the target as it was.
    """
    p = Path(path)
    payload = _chunks(data)
    target = Path(os.path.realpath(p)) if p.is_symlink() else p
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _cannot(p, exc) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError(str(p), None, "cannot write: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_in_place(p, target, payload)
        return
    if backup and st is not None:
        try:
            original = target.read_bytes()
        except OSError as exc:
            raise _cannot(p, exc) from None
        _replace(target.with_name(target.name + ".bak"), iter([original]), st, p)
    _replace(target, payload, st, p)


def _replace(target: Path, payload: Iterator[bytes], like: os.stat_result | None, shown: Path) -> None:
    """Temp file beside `target` (created 0666 & ~umask), fsync, mode/owner of `like`, rename, fsync folder."""
    folder = target.parent
    tmp = folder / f".{target.name}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise _cannot(shown, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            for part in payload:
                fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        if like is not None:
            _copy_owner(tmp, like)
            os.chmod(tmp, stat.S_IMODE(like.st_mode))
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _cannot(shown, exc) from None
        raise
    _fsync_folder(folder)


def _copy_owner(tmp: Path, like: os.stat_result) -> None:
    """A file replaced by root keeps its owner; elsewhere this is not allowed and not needed."""
    if (like.st_uid, like.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.chown(tmp, like.st_uid, like.st_gid)
    except OSError:
        pass


def _write_in_place(shown: Path, target: Path, payload: Iterator[bytes]) -> None:
    """A device, FIFO or socket: open it for writing (no create, no rename) and write everything."""
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "wb") as fh:
            for part in payload:
                fh.write(part)
    except OSError as exc:
        raise _cannot(shown, exc) from None


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every file system allows fsync on a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cannot(path: Path, exc: OSError) -> InputError:
    return InputError(str(path), None, f"cannot write: {exc.strerror or exc}")
