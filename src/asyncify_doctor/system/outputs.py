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
  its mode (and, when allowed, its owner); a `.bak` gets the original's mode;
- an input of the same command line is never written (`analyze X -o X`), nor a file the caller may
  not write (0444: the shell's `>` refuses it, a rename would not); a list rewritten on purpose
  (`--update`, `fix`) is locked and compared with what was read first (`expect`).
"""
from __future__ import annotations

import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Union

from ..errors import InputError, OutputError, printable
from .inputs import is_input


Data = Union[str, bytes, Iterable[str]]   # an iterable of str: written part by part, never held whole


def write_output(target: str | os.PathLike[str] | None, text: Data, escape: str = "never") -> None:
    """Write a command's output: `None` or `-` is standard output, anything else `write_atomic`.

    `escape`: "always" (a report for people: its control characters escaped wherever it goes),
    "tty" (data: escaped only on a terminal, where no program reads it), "never". Standard output
    that cannot be written (closed, full, its reader gone) is an `OutputError`."""
    to_stdout = target is None or str(target) == "-"
    if escape == "always" or escape == "tty" and to_stdout and _stdout_is_tty():
        text = _escaped(text)
    if not to_stdout:
        assert target is not None
        write_atomic(target, text)
        return
    try:
        if isinstance(text, (bytes, bytearray, memoryview)):
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
        else:
            for part in [text] if isinstance(text, str) else text:
                sys.stdout.write(part)
        sys.stdout.flush()
    except OSError as exc:
        raise OutputError(exc) from None


def _stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (OSError, ValueError, AttributeError):
        return False


def _escaped(text: Data) -> Data:
    """Control characters escaped, line by line (JSON's lines: as JSON escapes, still JSON)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return text
    if isinstance(text, str):
        return printable(text, "\n\t", json=text.startswith("{"))
    return (printable(part, "\n\t", json=part.lstrip().startswith(("{", "[", '"'))) for part in text)


def _chunks(data: Data) -> Iterator[bytes]:
    if isinstance(data, str):
        yield data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
    else:
        for part in data:
            yield part.encode("utf-8")


def write_atomic(path: str | os.PathLike[str], data: Data, *, backup: bool = False, expect: bytes | None = None) -> None:
    """Put `data` (str: UTF-8; or an iterable of str, written as it comes) at `path` as described in
    the module docstring.

    An input of this command line (`inputs.is_input`: `analyze X -o X`) is never written, nor a file
    the caller may not write (a 0444 file, as the shell's `>` refuses it), except that an input
    may be rewritten through `expect`: the bytes this run read of it (`--update`, `fix`). Then the
    file is locked (flock) and read again; if it no longer holds `expect` (another run, an editor),
    nothing is written. With `backup`, the file's current content (with `expect`: exactly `expect`)
    is first kept as `<name>.bak` (same mode). Failures raise `InputError` (one line, the path and
    the reason) and leave the target as it was.
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
    if st is not None:
        _check_writable(p, target, st, expect is not None)
    if expect is not None:
        _replace_expected(p, target, data, expect, backup)
        return
    if backup and st is not None:
        try:
            original = target.read_bytes()
        except OSError as exc:
            raise _cannot(p, exc) from None
        _backup(p, target, original, st)
    _replace(target, payload, st, p)


def _check_writable(shown: Path, target: Path, st: os.stat_result, updating: bool) -> None:
    """Refuse what the shell's `>` would not do, or would do to the user's loss."""
    if is_input(st) and not updating:
        raise InputError(str(shown), None, "is an input of this command (the binary, or a file it reads): writing it "
                                           "would destroy it; give another output file")
    if not os.access(target, os.W_OK):
        raise InputError(str(shown), None, "cannot write: the file is read-only for you (as the shell's > would "
                                           "refuse it); make it writable (chmod u+w) or give another file")


def _backup(shown: Path, target: Path, original: bytes, st: os.stat_result) -> None:
    bak = target.with_name(target.name + ".bak")
    try:
        bst: os.stat_result | None = os.stat(bak)
    except OSError:
        bst = None
    if bst is not None and stat.S_ISREG(bst.st_mode) and not os.access(bak, os.W_OK):
        raise InputError(str(bak), None, "cannot write the backup: it is read-only for you; nothing was written")
    _replace(bak, iter([original]), st, bak)


def _replace_expected(shown: Path, target: Path, data: Data, expect: bytes, backup: bool) -> None:
    """Compare-and-swap under an exclusive flock of the file: two runs updating one list at once
    never lose each other's work nor the original (the second finds the file changed and stops)."""
    with _locked(shown, target) as (fd, st):
        current = _read_fd(fd, len(expect) + 1)
        if current != expect:
            if isinstance(data, (str, bytes)) and current == b"".join(_chunks(data)):
                return   # another run wrote exactly this already
            raise InputError(str(shown), None, "changed while this command worked (another run, or an editor); "
                                               "nothing was written: run the command again")
        if backup:
            _backup(shown, target, expect, st)
        _replace(target, _chunks(data), st, shown)


@contextmanager
def _locked(shown: Path, target: Path) -> Iterator[tuple[int, os.stat_result]]:
    """An exclusive flock of the file at `target` — the file the path names once locked: a run that
    locked a file since replaced (renamed over by the run before it) locks again."""
    import fcntl
    while True:
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise InputError(str(shown), None, "was removed while this command worked; nothing was written") from None
        except OSError as exc:
            raise _cannot(shown, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                now = os.stat(target)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                yield fd, st
                return
        finally:
            os.close(fd)   # and the lock with it


def _read_fd(fd: int, most: int) -> bytes:
    parts, got = [], 0
    while got < most:
        chunk = os.pread(fd, min(1 << 20, most - got), got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


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
