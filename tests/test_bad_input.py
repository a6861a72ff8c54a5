"""Bad input gets one line naming the file and byte offset, exit status 2, no traceback, and
nothing written — over a few hundred mutated real binaries, and the classic broken files."""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest

from asyncify_doctor import accel
from asyncify_doctor.commands.cli import main
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


def _outcome(data: bytes, pure: bool) -> tuple:
    try:
        with accel.pure_python() if pure else nullcontext():
            m = decode(data, "m.wasm")
    except DecodeError as exc:
        return ("error", exc.offset, exc.message, exc.function)
    return ("ok", m.code, m.data_uses) if m.code else ("ok", m.data_uses)


def assert_scanners_agree(data: bytes) -> None:
    """Differential check: the C scanner and the pure-Python one accept and reject exactly alike."""
    assert _outcome(data, False) == _outcome(data, True)


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


@pytest.mark.parametrize("pure", [False, True])
def test_unknown_opcode_names_offset_and_function(pure: bool) -> None:
    data = b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x03\x00\xfa\x0b"
    from asyncify_doctor.decode import decode
    with accel.pure_python() if pure else nullcontext(), pytest.raises(DecodeError) as exc:
        decode(data, "x.wasm")
    assert (exc.value.offset, exc.value.function) == (len(data) - 2, 0)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(tmp_path / "nope.wasm")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot read" in proc.stderr


def test_max_size_refuses_big_files_fast(features_wasm: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["analyze", str(features_wasm), "--max-size", "0.0001"], capsys)
    assert code == 2 and "over --max-size" in err and err.count("\n") == 1


def test_sizes_read_as_sentences() -> None:
    """`1 byte left`, not `1 bytes left` — in both scanners (the C one reads the code section)."""
    head = b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"
    for data, message in ((b"\0asm\x01\x00\x00\x00\x01\x02\x00", "size 2 runs past the end (1 byte left)"),
                          (head + b"\x0a\x03\x01\x02\x00", "size 2 runs past the end (1 byte left)"),
                          (head + b"\x0a\x04\x01\x05\x00\x0b", "size 5 runs past the end (2 bytes left)")):
        assert_scanners_agree(data)
        with pytest.raises(DecodeError, match=re.escape(message)):
            decode(data, "x.wasm")


def _demo() -> str:
    from asyncify_doctor.commands.demo import demo_wasm
    return str(demo_wasm())


@pytest.mark.parametrize("case, make, args, message", [
    ("parse-trace of a missing log", None, ["parse-trace", "--log", "{tmp}/nosuch.log"], "nosuch.log: cannot read: No such file or directory"),
    ("parse-trace of a folder", None, ["parse-trace", "--log", "{tmp}"], "cannot read: Is a directory"),
    ("parse-trace of a log given as the binary", "RuntimeError: unreachable\n", ["parse-trace", "{tmp}/f"],
      "is not a .wasm binary; give the log with --log"),
    ("--observed missing", None, ["analyze", "{demo}", "--observed", "{tmp}/nosuch.json"], "nosuch.json: cannot read: No such file"),
    ("--observed a binary", None, ["analyze", "{demo}", "--observed", "{demo}"],
      "not a stacks file written by `asyncify-doctor trace -o FILE`: not UTF-8 text"),
    ("--observed not JSON", "stacks: []", ["why", "{demo}", "dispatch", "--observed", "{tmp}/f"], "not JSON (line 1, column 1: Expecting value)"),
    ("--observed other JSON", '{"stacks_": []}', ["analyze", "{demo}", "--observed", "{tmp}/f"], 'it has no "stacks" list'),
    ("--observed a bad stack", '{"stacks": [{"frames": []}]}', ["audit", "{demo}", "--observed", "{tmp}/f"], 'stack 1 of 1 has no "import" name'),
    ("--observed a bad frame", '{"stacks": [{"import": "env.a", "frames": [{"name": 1}]}]}', ["analyze", "{demo}", "--observed", "{tmp}/f"],
     "stack 1 of 1 has a frame that is not"),
    ("--update without --list", None, ["analyze", "{demo}", "--update"], "--update applies only with --list"),
    ("--binaryen-version with another format", None, ["analyze", "{demo}", "--binaryen-version", "110"],
      "--binaryen-version applies only with --format binaryen"),
    ("--top with json", None, ["audit", "{demo}", "--top", "3", "--format", "json"], "--top applies only with --format text"),
    ("fix --imports without WASM", "", ["fix", "--list", "{tmp}/f", "--build", "true", "--test", "true", "--imports", "env.x"],
      "--imports applies only with WASM"),
    ("--imports ''", None, ["analyze", "{demo}", "--imports", ""], "--imports '' names no import; give module.name patterns"),
    ("--imports ','", None, ["why", "{demo}", "dispatch", "--imports", "env.sleep_ms", "--imports", " , "], "--imports ' , ' names no import"),
    ("--imports @empty", "# nothing here\n", ["analyze", "{demo}", "--imports", "@{tmp}/f"], "lists no import pattern"),
    ("trace --imports ''", None, ["trace", "--imports", "", "--", "true"], "--imports '' names no import"),
    ("fix --imports ''", "", ["fix", "--list", "{tmp}/f", "--build", "true", "--test", "true", "--imports", ""], "--imports '' names no import"),
])
def test_error_matrix_is_one_line_exit_2(case: str, make: str | None, args: list[str], message: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Every mistake a user can make on the command line: one line, exit status 2, no exception text."""
    if make is not None:
        (tmp_path / "f").write_text(make)
    before = sorted(tmp_path.iterdir())
    code, out, err = run_cli([a.format(tmp=tmp_path, demo=_demo()) for a in args], capsys)
    assert (code, out) == (2, ""), (case, code, out, err)
    assert err.startswith("asyncify-doctor: error: ") and err.count("\n") == 1 and message in err, (case, err)
    assert "Traceback" not in err and "('" not in err and "Errno" not in err
    assert sorted(tmp_path.iterdir()) == before


def test_parse_trace_says_when_a_log_has_no_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ok.log"
    log.write_text("PASS all 12 tests\nError: expected 3 to equal 4\n")
    code, out, err = run_cli(["parse-trace", "--log", str(log)], capsys)
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert f"no wasm crash trace in {log} (2 lines)" in err


def trace_cli(tmp_path: Path, *command: str, extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "stacks.json"
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "trace", "--imports", "env.sleep_ms", *extra,
                           "-o", str(out), "--", *command], capture_output=True, text=True)
    return proc, json.loads(out.read_text())


def test_trace_passes_the_command_exit_status_through(tmp_path: Path) -> None:
    proc, doc = trace_cli(tmp_path, "nosuchcommand-asyncify-doctor")
    assert proc.returncode == 127 and doc["exit_status"] == 127
    assert "the command exited with 127 (command not found)" in proc.stderr and "Traceback" not in proc.stderr
    proc, doc = trace_cli(tmp_path, "sh", "-c", "exit 3")
    assert proc.returncode == 3 and doc["exit_status"] == 3
    proc, doc = trace_cli(tmp_path, "sh", "-c", "kill -TERM $$")
    assert proc.returncode == 128 + 15
    proc, doc = trace_cli(tmp_path, "sleep", "30", extra=("--timeout", "0.5"))
    assert proc.returncode == 124 and "killed after --timeout 0.5 s" in proc.stderr


def test_trace_that_records_nothing_says_why(tmp_path: Path) -> None:
    proc, doc = trace_cli(tmp_path, "true")
    assert proc.returncode == 1 and doc["stacks"] == []
    assert "nothing was recorded: the preload only sees node processes" in proc.stderr


def test_every_argument_of_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from asyncify_doctor.commands.cli import build_parser
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) >= {"analyze", "why", "graph", "audit", "jspi", "fix", "parse-trace", "trace", "demo"}
    for name, p in sub.choices.items():
        assert p.description, f"{name} has no description"
        for action in p._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([name, "--help"])
        assert exit_.value.code == 0
    assert "usage: asyncify-doctor" in capsys.readouterr().out


def test_a_command_line_builds_only_its_command_and_reads_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    """`main` builds only the subcommand named first (start-up): its help, errors and parsed
    arguments must be what the whole parser gives; anything else before it gets the whole parser."""
    from asyncify_doctor.commands.cli import COMMANDS, build_parser

    def run(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str, str]:
        try:
            got: object = vars(parser.parse_args(argv))
        except SystemExit as exc:
            got = exc.code
        out = capsys.readouterr()
        return got, out.out, out.err

    for name in COMMANDS:
        for argv in ([name, "--help"], [name, "--no-such-option"], [name, "x.wasm", "--imports", "env.f"], [name]):
            assert run(build_parser(argv), argv) == run(build_parser(), argv), argv
    for argv in (["--help"], ["-h", "analyze"], ["analyse"], []):
        assert run(build_parser(argv), argv) == run(build_parser(), argv), argv


def test_the_program_exits_at_once_with_everything_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`asyncify-doctor` leaves a one-shot command's objects to the OS (`cli.run`): its stdout, to a
    pipe or a file, and its stderr must still be whole, and its exit status kept. `main`, called in a
    process of the caller's, leaves its garbage collector on."""
    import gc
    from asyncify_doctor.commands.demo import demo_wasm
    wasm = str(demo_wasm())
    exe = shutil.which("asyncify-doctor")
    assert exe, "the installed console script"
    for argv, code in ((["graph", wasm], 0), (["why", wasm, "main_loop", "--imports", "env.sleep_ms"], 0),
                       (["why", wasm, "no_such_function", "--imports", "env.sleep_ms"], 2)):
        assert main(argv) == code and gc.isenabled()
        want = capsys.readouterr()
        proc = subprocess.run([exe, *argv], capture_output=True, text=True)
        assert (proc.returncode, proc.stdout, proc.stderr) == (code, want.out, want.err)
        with open(tmp_path / "out", "w") as fh:
            assert subprocess.run([exe, *argv], stdout=fh, stderr=subprocess.DEVNULL).returncode == code
        assert (tmp_path / "out").read_text() == want.out
    assert main(["why", wasm, "main", "--imports", "env.sleep_ms"]) == 2   # an export and a function share the name
    assert "did you mean: main_loop?" in capsys.readouterr().err
