"""Bad input gets one line naming the file and byte offset, exit status 2, no traceback, and
nothing written — over a few hundred mutated real binaries, and the classic broken files."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.cli import main
from asyncify_doctor.decode import decode
from asyncify_doctor.errors import DecodeError


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    how = rng.randrange(5)
    if how == 0:
        return bytes(b[:rng.randrange(len(b))])                       # truncated
    if how == 1:
        for _ in range(rng.randint(1, 4)):                             # flipped bytes
            b[rng.randrange(8, len(b))] = rng.randrange(256)
        return bytes(b)
    if how == 2:
        at = rng.randrange(8, len(b))                                  # inserted garbage
        return bytes(b[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + b[at:])
    if how == 3:
        at = rng.randrange(8, len(b))                                  # bad LEB128 run
        return bytes(b[:at] + b"\xff" * rng.randint(5, 11) + b[at:])
    a, c = sorted(rng.sample(range(8, len(b)), 2))                     # spliced: a chunk deleted
    return bytes(b[:a] + b[c:])


def _outcome(data: bytes, accelerate: bool) -> tuple:
    try:
        m = decode(data, "m.wasm", accelerate=accelerate)
    except DecodeError as exc:
        return ("error", exc.offset, exc.message, exc.function)
    return ("ok", bytes(m.code.bodies), bytes(m.code.events), bytes(m.code.counts)) if m.code else ("ok",)


def assert_scanners_agree(data: bytes) -> None:
    """Differential check: the C scanner and the pure-Python one accept and reject exactly alike."""
    assert _outcome(data, True) == _outcome(data, False)


def test_mutated_binaries_never_crash(features_wasm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(20261124)
    data = features_wasm.read_bytes()
    rejected = 0
    for i in range(300):
        bad = tmp_path / f"m{i}.wasm"
        mutated = mutate(data, rng)
        bad.write_bytes(mutated)
        assert_scanners_agree(mutated)
        out_file = tmp_path / f"out{i}.json"
        code, _, err = run_cli(["analyze", str(bad), "--imports", "env.sleep_ms", "--format", "json",
                                "-o", str(out_file)], capsys)
        if code == 0:
            assert out_file.exists()
            continue
        rejected += 1
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"asyncify-doctor: error: {bad}: byte offset "), err
        assert "Traceback" not in err
        assert not out_file.exists(), "a rejected input must not leave an output file"
    assert rejected > 200  # most mutations of a small binary are caught


@pytest.mark.parametrize("data, message", [
    (b"", "not a wasm binary"),
    (b"\0as", "not a wasm binary"),
    (b"\x7fELF\x02\x01\x01\x00", "wrong magic"),
    (b"\0asm\x0d\x00\x01\x00", "unsupported wasm version 0x1000d"),
    (b"\0asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x7f", "bad LEB128"),
    (b"\0asm\x01\x00\x00\x00\x01\x10\x00", "runs past the end"),
    (b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x03\x00\xfa\x0b", "unknown opcode 0xfa (in function 0)"),
    (b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x06\x01\x04\x00\xfd\x9a\x01", "unknown opcode 0xfd 0x9a (SIMD prefix)"),
    (b"\0asm\x01\x00\x00\x00\x00\x0b\x04name\x01\x04\x01\x00\x01\xff", "not valid UTF-8"),
])
def test_classic_broken_files(data: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(data)
    code, out, err = run_cli(["analyze", str(bad)], capsys)
    assert code == 2 and out == ""
    assert message in err and "byte offset" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("accelerate", [True, False])
def test_unknown_opcode_names_offset_and_function(accelerate: bool) -> None:
    data = b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x03\x00\xfa\x0b"
    from asyncify_doctor.decode import decode
    with pytest.raises(DecodeError) as exc:
        decode(data, "x.wasm", accelerate=accelerate)
    assert (exc.value.offset, exc.value.function) == (len(data) - 2, 0)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(tmp_path / "nope.wasm")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot read" in proc.stderr


def test_max_size_refuses_big_files_fast(features_wasm: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["analyze", str(features_wasm), "--max-size", "0.0001"], capsys)
    assert code == 2 and "over --max-size" in err and err.count("\n") == 1
