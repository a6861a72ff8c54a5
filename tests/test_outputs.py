"""Outputs never harm the user's system: devices and FIFOs are written, never renamed over; symlinks
are kept and their targets replaced; modes are `0666 & ~umask` for new files and kept for replaced
ones and their `.bak`. Everything happens in a temp folder (device nodes made there with os.mknod,
as root): the real /dev/null is never a target."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from asyncify_doctor.errors import InputError
from asyncify_doctor.system.outputs import write_atomic, write_output

DEMO_ARGS = ["--imports", "env.sleep_ms"]


@pytest.fixture()
def umask_022() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_new_file_gets_0666_minus_umask(tmp_path: Path) -> None:
    for umask, want in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(umask)
        try:
            p = tmp_path / f"new-{umask:o}.list"
            write_atomic(p, "f\n")
        finally:
            os.umask(old)
        assert p.read_text() == "f\n" and mode(p) == want


def test_replaced_file_and_bak_keep_the_original_mode(tmp_path: Path, umask_022: object) -> None:
    p = tmp_path / "only.list"
    p.write_text("old\n")
    os.chmod(p, 0o604)
    write_atomic(p, "new\n", backup=True)
    bak = tmp_path / "only.list.bak"
    assert p.read_text() == "new\n" and mode(p) == 0o604
    assert bak.read_text() == "old\n" and mode(bak) == 0o604


def test_symlink_is_kept_and_its_target_replaced(tmp_path: Path, umask_022: object) -> None:
    real = tmp_path / "lists" / "real.list"
    real.parent.mkdir()
    real.write_text("old\n")
    os.chmod(real, 0o640)
    link = tmp_path / "only.list"
    link.symlink_to(os.path.relpath(real, tmp_path))
    chain = tmp_path / "chain.list"
    chain.symlink_to("only.list")
    write_atomic(chain, "new\n", backup=True)
    assert chain.is_symlink() and link.is_symlink() and os.readlink(link) == "lists/real.list"
    assert real.read_text() == "new\n" and mode(real) == 0o640
    assert (real.parent / "real.list.bak").read_text() == "old\n"
    assert sorted(x.name for x in real.parent.iterdir()) == ["real.list", "real.list.bak"]


def test_dangling_symlink_creates_its_target(tmp_path: Path, umask_022: object) -> None:
    link = tmp_path / "out.json"
    link.symlink_to("made.json")
    write_atomic(link, "{}\n")
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "{}\n" and mode(tmp_path / "made.json") == 0o644


def test_fifo_is_written_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)  # never blocks the exit
    reader.start()
    write_atomic(fifo, "through the pipe\n")
    reader.join(timeout=30)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [x.name for x in tmp_path.iterdir()] == ["pipe"]


def _null_device(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root (CI runs as root)")
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))   # the same device as /dev/null, in our folder
    try:
        os.close(os.open(dev, os.O_WRONLY))
    except PermissionError:
        pytest.skip("the temp folder is on a nodev mount: device nodes there cannot be opened")
    return dev


def test_character_device_is_written_not_replaced(tmp_path: Path) -> None:
    dev = _null_device(tmp_path)
    before = os.lstat(dev)
    write_atomic(dev, "x" * 100_000, backup=True)
    after = os.lstat(dev)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert [x.name for x in tmp_path.iterdir()] == ["null"]   # no .bak, no temp file left


def test_cli_output_to_a_device_a_symlink_and_stdout(tmp_path: Path) -> None:
    """The whole command, as a user runs it: -o onto each kind of target."""
    from asyncify_doctor.commands.demo import demo_wasm
    wasm = str(demo_wasm())
    dev = _null_device(tmp_path)
    run = [sys.executable, "-m", "asyncify_doctor", "analyze", wasm, *DEMO_ARGS]
    proc = subprocess.run([*run, "--stats", "-o", str(dev)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "by indirect mode:" in proc.stderr and proc.stdout == ""
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    real = tmp_path / "real.list"
    (tmp_path / "link.list").symlink_to("real.list")
    subprocess.run([*run, "-o", str(tmp_path / "link.list")], check=True, capture_output=True)
    assert (tmp_path / "link.list").is_symlink() and "get_with_retry\n" in real.read_text()
    dash = subprocess.run([*run, "-o", "-"], check=True, capture_output=True, text=True)
    assert dash.stdout == real.read_text()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["link.list", "null", "real.list"]


def test_write_output_dash_is_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_output("-", "a\n")
    write_output(None, "b\n")
    assert capsys.readouterr().out == "a\nb\n"
    assert list(tmp_path.iterdir()) == []


def test_parts_are_written_as_they_come_and_a_failure_leaves_the_old_file(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`graph -o FILE` hands its text over part by part: the file gets all of it, or, when making a
    part fails half-way, stays exactly as it was (no temp file left)."""
    out = tmp_path / "g.json"
    out.write_text("old\n")
    write_atomic(out, (f"{i}\n" for i in range(50_000)))
    assert out.read_text() == "".join(f"{i}\n" for i in range(50_000))

    def broken():  # noqa: ANN202
        yield "new\n"
        raise RuntimeError("the graph failed half-way")
    with pytest.raises(RuntimeError):
        write_atomic(out, broken())
    assert out.read_text().startswith("0\n1\n") and [x.name for x in tmp_path.iterdir()] == ["g.json"]
    write_output("-", iter(["a", "b\n"]))
    assert capsys.readouterr().out == "ab\n"


def test_unwritable_targets_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="it is a directory"):
        write_atomic(tmp_path, "x")
    with pytest.raises(InputError, match="No such file or directory"):
        write_atomic(tmp_path / "no" / "such" / "dir.list", "x")
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    with pytest.raises(InputError, match="cannot write"):
        write_atomic(loop, "x")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["loop"]
