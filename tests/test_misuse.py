"""Issue 24: nothing the user owns is harmed, even when the tool is misused. Each case runs the real
program (`python -m asyncify_doctor`, the console script's `run`) as a careless or hurried user would:
closed and broken standard streams, endless inputs, outputs onto inputs, read-only files (as an
unprivileged user), signals from CI, FIFOs, concurrent `--update`s, escape sequences in names, long
warnings, nonsense numbers. docs/safety.md says what each gets."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from asyncify_doctor.commands.demo import demo_wasm

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
import extreme  # noqa: E402

PROG = [sys.executable, "-m", "asyncify_doctor"]
IMPORTS = ["--imports", "env.sleep_ms"]
DEMO_LIST = "backoff\nget_with_retry\nmain_loop\n"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    wasm = tmp_path / "demo.wasm"
    shutil.copy(demo_wasm(), wasm)
    return wasm


def sh(command: str, cwd: Path, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    """A command line as a user types it (redirections included), through the shell."""
    prog = " ".join(PROG)
    return subprocess.run(["bash", "-c", command.replace("DOCTOR", prog)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kw)  # type: ignore[call-overload]


def one_line_error(proc: subprocess.CompletedProcess[str], message: str, code: int = 2) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "internal error" not in proc.stderr + proc.stdout


# --- closed or broken standard streams ------------------------------------------------------------

def test_closed_stdout_is_one_line_and_o_still_works(demo: Path) -> None:
    for cmd in (f"DOCTOR analyze demo.wasm {' '.join(IMPORTS)} >&-", "DOCTOR graph demo.wasm >&-",
                "DOCTOR audit demo.wasm >&-", "DOCTOR why demo.wasm main_loop --imports env.sleep_ms >&-"):
        one_line_error(sh(cmd, demo.parent), "cannot write to standard output: it is closed")
    for cmd, out in ((f"DOCTOR analyze demo.wasm {' '.join(IMPORTS)} -o a.list >&-", "a.list"),
                     ("DOCTOR graph demo.wasm -o g.json >&-", "g.json"), ("DOCTOR audit demo.wasm -o au.txt >&-", "au.txt")):
        proc = sh(cmd, demo.parent)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr and "error" not in proc.stderr, (cmd, proc.stderr)
        assert (demo.parent / out).stat().st_size > 0
    assert (demo.parent / "a.list").read_text() == DEMO_LIST


def test_closed_stderr_is_never_stdout(demo: Path) -> None:
    proc = sh(f"DOCTOR analyze demo.wasm {' '.join(IMPORTS)} 2>&-", demo.parent)
    assert (proc.returncode, proc.stdout) == (0, DEMO_LIST)
    proc = sh("DOCTOR why demo.wasm no_such_function --imports env.sleep_ms 2>&-", demo.parent)
    assert (proc.returncode, proc.stdout) == (2, "")   # the error had nowhere to go: said nowhere, never on stdout


def test_closed_stdin(demo: Path) -> None:
    one_line_error(sh("DOCTOR parse-trace <&-", demo.parent), "standard input is closed: give the log with --log FILE")
    one_line_error(sh("DOCTOR analyze - --imports env.sleep_ms <&-", demo.parent), "standard input is closed")


def test_full_stdout_is_one_line_exit_2(demo: Path) -> None:
    for cmd in ("DOCTOR parse-trace --log /dev/null > /dev/full", f"DOCTOR analyze demo.wasm {' '.join(IMPORTS)} > /dev/full",
                "DOCTOR graph demo.wasm > /dev/full"):
        one_line_error(sh(cmd, demo.parent), "cannot write to standard output: No space left on device")
    one_line_error(sh(f"DOCTOR analyze demo.wasm {' '.join(IMPORTS)} -o /dev/full", demo.parent), "No space left on device")


def test_full_stderr_does_not_stop_the_work(demo: Path) -> None:
    proc = sh(f"DOCTOR analyze demo.wasm {' '.join(IMPORTS)} 2>/dev/full", demo.parent)
    assert (proc.returncode, proc.stdout) == (0, DEMO_LIST)


def test_a_reader_that_leaves_is_exit_141_and_silent(tmp_path: Path) -> None:
    big = tmp_path / "big.wasm"
    big.write_bytes(extreme.many_functions(20_000))   # a graph of MBs: more than a pipe holds
    proc = subprocess.Popen([*PROG, "graph", str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


# --- endless inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["analyze", "/dev/zero"], "not a wasm binary"),
    (["analyze", "/dev/urandom"], "not a wasm binary"),
    (["graph", "/dev/zero"], "not a wasm binary"),
    (["analyze", "{demo}", "--imports", "@/dev/zero"], "/dev/zero: not text: it holds NUL bytes"),
    (["analyze", "{demo}", "--imports", "@/dev/urandom"], "/dev/urandom: not text"),
    (["analyze", "{demo}", "--observed", "/dev/zero"], "/dev/zero: not text"),
    (["analyze", "{demo}", "--glue", "/dev/zero"], "/dev/zero: not text"),
    (["analyze", "{demo}", "--imports", "env.sleep_ms", "--list", "/dev/urandom"], "/dev/urandom: not text"),
    (["parse-trace", "--log", "/dev/zero"], "not a text log"),
    (["parse-trace", "--log", "/dev/urandom"], "not a text log"),
])
def test_endless_devices_are_refused_at_once(args: list[str], message: str, demo: Path) -> None:
    start = time.monotonic()
    proc = subprocess.run([*PROG, *[a.format(demo=demo) for a in args]], capture_output=True, text=True, timeout=60)
    one_line_error(proc, message)
    assert time.monotonic() - start < 30


def test_endless_text_stops_at_max_size(demo: Path) -> None:
    """Text that never ends (`yes`) is read to --max-size, then refused: bounded memory, one line."""
    proc = sh("yes env.sleep_ms | DOCTOR analyze demo.wasm --imports @/dev/stdin --max-size 2", demo.parent)
    one_line_error(proc, "more than --max-size 2 MB read (a device or pipe that does not end?)")
    proc = sh("yes 'some log line' | DOCTOR parse-trace --max-size 1", demo.parent)
    one_line_error(proc, "<stdin>: more than --max-size 1 MB read")
    proc = sh("(cat demo.wasm; yes) | DOCTOR analyze - --max-size 1", demo.parent)
    one_line_error(proc, "<stdin>: more than --max-size 1 MB read")


def test_ctrl_c_while_reading_an_endless_stream(demo: Path) -> None:
    proc = subprocess.Popen([*PROG, "analyze", str(demo), "--imports", "@/dev/stdin", "--max-size", "100000"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write("env.sleep_ms\n" * 1000)
    proc.stdin.flush()
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip() == "asyncify-doctor: interrupted" and out == ""


# --- outputs onto inputs, read-only files -------------------------------------------------------------

def test_output_onto_an_input_is_refused_and_the_input_untouched(demo: Path) -> None:
    before = demo.read_bytes()
    (demo.parent / "link.wasm").symlink_to("demo.wasm")
    (demo.parent / "imports.list").write_text("env.sleep_ms\n")
    for args in (["analyze", "demo.wasm", *IMPORTS, "-o", "demo.wasm"], ["graph", "demo.wasm", "-o", "demo.wasm"],
                 ["graph", "demo.wasm", "-o", "link.wasm"], ["audit", "demo.wasm", "-o", "./demo.wasm"],
                 ["analyze", "demo.wasm", "--imports", "@imports.list", "-o", "imports.list"],
                 ["why", "demo.wasm", "main_loop", *IMPORTS, "-o", "demo.wasm"]):
        proc = subprocess.run([*PROG, *args], capture_output=True, text=True, cwd=demo.parent, timeout=60)
        one_line_error(proc, "is an input of this command")
    assert demo.read_bytes() == before and (demo.parent / "imports.list").read_text() == "env.sleep_ms\n"
    assert (demo.parent / "link.wasm").is_symlink()
    assert sorted(p.name for p in demo.parent.iterdir()) == ["demo.wasm", "imports.list", "link.wasm"]


def as_nobody() -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the program as the unprivileged user nobody (setpriv)")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to run as nobody")
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder the unprivileged user may write (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="asyncify-doctor-misuse-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_read_only_files_are_respected_by_an_unprivileged_user(shared: Path) -> None:
    """`-o` onto a 0444 file in a folder the user may write: the shell's `>` refuses, so do we (a rename
    would succeed); the same for `--update` of a read-only list. Root may, as with `>`."""
    prefix = as_nobody()
    shutil.copy(demo_wasm(), shared / "demo.wasm")
    (shared / "demo.wasm").chmod(0o444)
    for name, text in (("ro.list", "old\n"), ("only.list", "main_loop\n")):
        (shared / name).write_text(text)
        os.chown(shared / name, 65534, 65534)
        (shared / name).chmod(0o444)
    shell = subprocess.run([*prefix, "bash", "-c", "echo x > ro.list"], cwd=shared, capture_output=True, text=True)
    assert shell.returncode != 0 and "Permission denied" in shell.stderr   # what the user expects
    proc = subprocess.run([*prefix, *PROG, "analyze", "demo.wasm", *IMPORTS, "-o", "ro.list"], cwd=shared,
                          capture_output=True, text=True, timeout=60)
    one_line_error(proc, "ro.list: cannot write: the file is read-only for you")
    proc = subprocess.run([*prefix, *PROG, "analyze", "demo.wasm", *IMPORTS, "--list", "only.list", "--update"],
                          cwd=shared, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "only.list: cannot write: the file is read-only for you" in proc.stderr, proc.stderr
    assert (shared / "ro.list").read_text() == "old\n" and (shared / "only.list").read_text() == "main_loop\n"
    assert sorted(p.name for p in shared.iterdir()) == ["demo.wasm", "only.list", "ro.list"]   # no .bak, no temp
    ok = subprocess.run([*prefix, *PROG, "analyze", "demo.wasm", *IMPORTS, "-o", "new.list"], cwd=shared,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and (shared / "new.list").read_text() == DEMO_LIST
    subprocess.run([*PROG, "analyze", "demo.wasm", *IMPORTS, "-o", "ro.list"], cwd=shared, check=True, capture_output=True)
    assert (shared / "ro.list").read_text() == DEMO_LIST   # root: as the shell's > does


# --- signals -------------------------------------------------------------------------------------------

SLEEPER = """echo $$ > {dir}/shell.pid
sleep 300 &
echo $! > {dir}/child.pid
wait
"""


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting to be reaped by init (it was killed: its parent died first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for(path: Path, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("command", ["fix", "trace"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_leaves_no_process_behind(command: str, sig: signal.Signals, tmp_path: Path) -> None:
    (tmp_path / "sleeper.sh").write_text(SLEEPER.format(dir=tmp_path))
    (tmp_path / "only.list").write_text("main_loop\n")
    args = (["fix", "--list", "only.list", "--build", "true", "--test", "sh sleeper.sh"] if command == "fix"
            else ["trace", "--imports", "env.sleep_ms", "-o", "s.json", "--", "sh", "sleeper.sh"])
    if sig == signal.SIGTERM:   # what CI systems send, through coreutils' timeout
        proc = subprocess.Popen(["timeout", "--preserve-status", "-s", "TERM", "4", *PROG, *args], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    else:
        proc = subprocess.Popen([*PROG, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(tmp_path / "child.pid")
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert f"asyncify-doctor: terminated ({sig.name})" in err and "Traceback" not in err
    pids = [int((tmp_path / f).read_text()) for f in ("shell.pid", "child.pid")]
    assert all(dead(p) for p in pids), pids
    assert (tmp_path / "only.list").read_text() == "main_loop\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --- FIFOs -----------------------------------------------------------------------------------------------

def feed(fifo: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(fifo, "wb") as fh:   # blocks until the program opens it: once
            fh.write(data)
    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("args", [["analyze", "{fifo}", *IMPORTS], ["why", "{fifo}", "main_loop", *IMPORTS],
                                  ["audit", "{fifo}"], ["graph", "{fifo}"], ["parse-trace", "{fifo}", "--log", "/dev/null"],
                                  ["analyze", "{demo}", "--imports", "@{fifo}"]])
def test_a_fifo_is_opened_once(args: list[str], demo: Path) -> None:
    fifo = demo.parent / "in.fifo"
    os.mkfifo(fifo)
    data = b"env.sleep_ms\n" if "--imports" in args and "@{fifo}" in args else demo.read_bytes()
    writer = feed(fifo, data)
    proc = subprocess.run([*PROG, *[a.format(fifo=fifo, demo=demo) for a in args]], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr and "error" not in proc.stderr, proc.stderr
    writer.join(timeout=10)
    if args[0] == "analyze":
        assert proc.stdout == DEMO_LIST


# --- concurrent --update -----------------------------------------------------------------------------------

def test_update_waits_for_the_lock_and_refuses_a_list_changed_meanwhile(demo: Path) -> None:
    """Another writer holds the list (flock) while this run wants to rewrite it, and changes it: the run
    waits, then finds the list is not what it read and writes nothing; the other writer's work stays."""
    lst = demo.parent / "only.list"
    lst.write_text("main_loop\n")
    with open(lst, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen([*PROG, "analyze", str(demo), *IMPORTS, "--list", str(lst), "--update"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()   # the diff is printed after the list was read, before it is rewritten
        assert first.strip(), first
        time.sleep(1.0)
        assert proc.poll() is None and lst.read_text() == "main_loop\n"   # waiting for the lock
        with open(lst, "w") as fh:
            fh.write("main_loop\nmine\n")   # the other writer's change (an editor saving in place)
        fcntl.flock(held, fcntl.LOCK_UN)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "changed while this command worked" in err, err
    assert lst.read_text() == "main_loop\nmine\n" and not (demo.parent / "only.list.bak").exists()


def test_concurrent_updates_never_lose_the_original(demo: Path) -> None:
    lst = demo.parent / "only.list"
    original = "# the original\nmain_loop\n"
    lst.write_text(original)
    procs = [subprocess.Popen([*PROG, "analyze", str(demo), *IMPORTS, "--list", str(lst), "--update"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 or (code == 2 and "changed while this command worked" in err) for code, err in results), results
    assert any(code == 0 for code, _ in results)
    assert (demo.parent / "only.list.bak").read_text() == original
    assert lst.read_text().splitlines()[1:] and set(DEMO_LIST.split()) <= set(lst.read_text().split())


# --- escape sequences in names --------------------------------------------------------------------------------

EVIL = "evil\x1b]0;pwned\x07"
RED = "red\x1b[31m\x9b2J"


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    wasm = tmp_path / "evil.wasm"
    wasm.write_bytes(extreme.module([b"\x10\x02\x0b", b"\x10\x00\x0b"], names={1: EVIL, 2: RED}))
    return wasm


def no_raw_controls(text: str) -> None:
    assert not any(ord(c) < 0x20 and c not in "\n\t" or 0x7f <= ord(c) < 0xa0 for c in text), repr(text)


def test_control_characters_are_escaped_in_everything_printed(evil: Path) -> None:
    why = subprocess.run([*PROG, "why", str(evil), EVIL, *IMPORTS], capture_output=True, text=True)
    assert why.returncode == 0 and "evil\\x1b]0;pwned\\x07" in why.stdout, why.stdout
    no_raw_controls(why.stdout + why.stderr)
    unknown = subprocess.run([*PROG, "why", str(evil), "nope\x1b[2J", *IMPORTS], capture_output=True, text=True)
    assert unknown.returncode == 2 and "nope\\x1b[2J" in unknown.stderr
    no_raw_controls(unknown.stderr)
    (evil.parent / "only.list").write_text("x\n")
    (evil.parent / "crash.log").write_text(f"RuntimeError: unreachable\n    at {RED} (wasm://wasm/0a1b2c3d:wasm-function[2]:0x40)\n")
    for args in (["analyze", str(evil), *IMPORTS, "--list", str(evil.parent / "only.list")],
                 ["parse-trace", "--log", str(evil.parent / "crash.log")]):
        proc = subprocess.run([*PROG, *args], capture_output=True, text=True)
        assert "Traceback" not in proc.stderr and "\\x1b" in proc.stdout + proc.stderr, proc
        no_raw_controls(proc.stdout + proc.stderr)
    doc = subprocess.run([*PROG, "why", str(evil), EVIL, *IMPORTS, "--format", "json"], capture_output=True, text=True)
    assert EVIL in strings(json.loads(doc.stdout))   # JSON stays JSON: json escapes the controls itself
    listing = subprocess.run([*PROG, "analyze", str(evil), *IMPORTS, "--format", "emscripten"], capture_output=True, text=True)
    names = json.loads(listing.stdout)   # data, as it is (emcc's `*` for its special characters)
    assert listing.returncode == 0 and len(names) == 2 and all("\x1b" in n for n in names), listing
    no_raw_controls(listing.stderr)


def strings(doc: object) -> set[str]:
    if isinstance(doc, str):
        return {doc}
    if isinstance(doc, dict):
        return set().union(*map(strings, doc.values()), set())
    if isinstance(doc, list):
        return set().union(*map(strings, doc), set())
    return set()


# --- warnings, long lines, numbers ----------------------------------------------------------------------------------

@pytest.fixture
def dotted(tmp_path: Path) -> Path:
    """Twelve functions whose names emcc reads differently (a `.` becomes a space): a warning each."""
    n = 12
    wasm = tmp_path / "dotted.wasm"
    wasm.write_bytes(extreme.module([b"\x10" + bytes([i + 2]) + b"\x0b" for i in range(n - 1)] + [b"\x10\x00\x0b"],
                                    names={i + 1: f"f.specialized.{i}" + "x" * 1200 for i in range(n)}))
    return wasm


def test_warnings_are_grouped_and_capped(dotted: Path) -> None:
    run = [*PROG, "analyze", str(dotted), *IMPORTS]
    default = subprocess.run(run, capture_output=True, text=True)
    verbose = subprocess.run([*run, "--verbose"], capture_output=True, text=True)
    quiet = subprocess.run([*run, "--quiet"], capture_output=True, text=True)
    assert default.returncode == verbose.returncode == quiet.returncode == 0
    assert default.stdout == verbose.stdout == quiet.stdout
    lines = default.stderr.splitlines()
    assert len(lines) <= 8 and max(map(len, lines)) <= 1030, lines
    assert "more warning(s) and note(s) not shown (--verbose shows them)" in lines[-1]
    assert sum("emcc reads" in ln for ln in lines) == 2 and "--verbose for all of it" in default.stderr
    assert sum("emcc reads" in ln for ln in verbose.stderr.splitlines()) == 5 and "not shown" not in verbose.stderr
    assert max(map(len, verbose.stderr.splitlines())) > 1100
    assert quiet.stderr == ""


def test_jspi_report_lines_stay_readable(tmp_path: Path) -> None:
    """`jspi --list` naming 300 exports that never suspend: the report names 20 and counts the rest
    (PHP's made a 260 KB line), --format json keeps them all."""
    n = 300
    wasm = tmp_path / "many.wasm"
    wasm.write_bytes(extreme.module([b"\x10\x00\x0b"] + [b"\x0b"] * n, names={i + 1: f"f{i}" for i in range(n + 1)},
                                    exports=n + 1))
    (tmp_path / "jspi.list").write_text("".join(f"e{i}\n" for i in range(n + 1)))
    proc = subprocess.run([*PROG, "jspi", str(wasm), *IMPORTS, "--list", str(tmp_path / "jspi.list")],
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    needless = [ln for ln in proc.stdout.splitlines() if ln.startswith("wrapped needlessly")]
    assert needless and len(needless[0]) < 600 and f"… and {n - 20} more (--format json lists them all)" in needless[0]
    assert max(map(len, proc.stdout.splitlines())) < 1000


@pytest.mark.parametrize("args, message", [
    (["analyze", "{demo}", "--max-size", "nan"], "argument --max-size: 'nan' is not above 0"),
    (["analyze", "{demo}", "--max-size", "-1"], "argument --max-size: '-1' is not above 0"),
    (["graph", "{demo}", "--max-size", "inf"], "argument --max-size: 'inf' is not above 0"),
    (["audit", "{demo}", "--max-size", "0"], "argument --max-size: '0' is not above 0"),
    (["analyze", "{demo}", "--format", "binaryen", "--binaryen-version", "-3"], "argument --binaryen-version: '-3' is not above 0"),
    (["analyze", "{demo}", "--format", "binaryen", "--binaryen-version", "1e3"], "argument --binaryen-version: '1e3' is not a whole number"),
    (["audit", "{demo}", "--top", "-1"], "argument --top: '-1' is not 0 or more"),
    (["fix", "--list", "x", "--build", "true", "--test", "true", "--timeout", "nan"], "argument --timeout: 'nan' is not above 0"),
    (["fix", "--list", "x", "--build", "true", "--test", "true", "--max-rounds", "0"], "argument --max-rounds: '0' is not above 0"),
    (["trace", "--timeout", "-5", "--imports", "env.f", "--", "true"], "argument --timeout: '-5' is not above 0"),
    (["parse-trace", "--max-size", "nan"], "argument --max-size: 'nan' is not above 0"),
])
def test_numeric_flags_are_validated(args: list[str], message: str, demo: Path) -> None:
    proc = subprocess.run([*PROG, *[a.format(demo=demo) for a in args]], capture_output=True, text=True, timeout=60)
    one_line_error(proc, message)
    assert proc.stdout == "" and "(--help for usage)" in proc.stderr
