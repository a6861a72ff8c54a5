"""fix: the repair loop converges on the fixtures and on the taskrunner (a project it was not written
around, run by the npm runtime asyncify-wasm and by the Emscripten-style runtime, asyncified at -O0,
-O2 and -O3 with names kept and stripped) from an empty list to exactly the minimal list, and stops
with a clear explanation and an untouched list when frames cannot be named honestly, the build
fails, the tests hang, or nothing in the output is a wasm stack."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncify_doctor.commands.demo import demo_wasm
from asyncify_doctor.decode import read_module
from asyncify_doctor.lists import binaryen_reads, read_list
from asyncify_doctor.runtime.toolchain import compile_c
from proof import ASYNC, EXPECTS, SRC, cli_list

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "taskrunner"))
from taskrunner_project import HERE as TASKRUNNER, RUNTIMES, project  # noqa: E402

HERE = Path(__file__).parent / "fixtures" / "fixloop"
PY = sys.executable


def fix(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "asyncify_doctor", "fix", "--list", str(tmp / "only.list"), *args],
                          capture_output=True, text=True, cwd=tmp, timeout=600)


def setup(tmp: Path, wasm: Path, list_text: str = "") -> tuple[str, str]:
    shutil.copy(wasm, tmp / "in.wasm")
    (tmp / "only.list").write_text(list_text)
    build = f"{PY} {HERE / 'build.py'} only.list in.wasm out.wasm"
    subprocess.run(build, shell=True, check=True, cwd=tmp)
    return build, str(tmp / "out.wasm")


def check(out: str, host: str, name: str) -> str:
    cases = " ".join(f"{e}={v}" for e, v in EXPECTS[name].exports.items())
    return f"{PY} {HERE / 'check.py'} {out} {host} {cases}"


def rounds_of(stderr: str) -> int:
    return int(stderr.split("tests pass after ")[1].split()[0])


def names_only(path: Path) -> list[str]:
    """The list's entries, asserting Binaryen reads exactly those (no comment lines, nothing else)."""
    entries = read_list(path).entries
    assert binaryen_reads(path.read_text()).names == (entries or None), path.read_text()
    return entries


@pytest.mark.parametrize("name", EXPECTS)
def test_converges_from_an_empty_list_with_wasm(name: str, tmp_path: Path) -> None:
    """With the fixture's analyze arguments (lock_ctl: --async-when, dispatch_table: --host-memory
    module), fix arrives at analyze's list."""
    wasm = compile_c(SRC / f"{name}.c", tmp_path / f"{name}.wasm")
    build, out = setup(tmp_path, wasm)
    proc = fix(tmp_path, "--build", build, "--test", check(out, "node", name), "--wasm", "in.wasm", "--built", out,
               "--imports", ",".join(ASYNC), *EXPECTS[name].analyze)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # one round per independent path: the test stops at its first failing export, and two_exports
    # has two exports whose paths share nothing but the import
    assert rounds_of(proc.stderr) == (2 if name == "two_exports" else 1), proc.stderr[-3000:]
    assert sorted(names_only(tmp_path / "only.list")) == sorted(cli_list(wasm, tmp_path / "minimal.list", *EXPECTS[name].analyze))
    assert (tmp_path / "only.list.bak").read_text() == ""
    assert subprocess.run(check(out, "wasmtime", name), shell=True).returncode == 0


def test_built_may_be_a_file_the_build_creates(tmp_path: Path) -> None:
    """`--built` (and `--wasm`) need not exist before fix starts: it builds first, then checks them,
    and checks them again after every build."""
    wasm = compile_c(SRC / "direct_chain.c", tmp_path / "direct_chain.wasm")
    shutil.copy(wasm, tmp_path / "in.wasm")
    (tmp_path / "only.list").write_text("")
    build = f"{PY} {HERE / 'build.py'} only.list in.wasm out/app.async.wasm"
    out = str(tmp_path / "out" / "app.async.wasm")
    (tmp_path / "out").mkdir()
    proc = fix(tmp_path, "--build", build, "--test", check(out, "node", "direct_chain"), "--wasm", "in.wasm",
               "--built", "out/app.async.wasm", "--imports", "env.sleep_ms,env.fetch_value")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--built out/app.async.wasm does not exist yet: building first" in proc.stderr
    assert sorted(names_only(tmp_path / "only.list")) == sorted(cli_list(wasm, tmp_path / "minimal.list"))
    # a build that never writes it: one line, exit 2, the list untouched
    (tmp_path / "only.list").write_text("")
    proc = fix(tmp_path, "--build", "true", "--test", "false", "--built", "never.wasm")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].endswith(
        "the first build did not create --built never.wasm; the list is untouched. Check --build and the paths given to fix.")
    assert (tmp_path / "only.list").read_text() == ""


def test_frames_alone_converge_when_the_crash_names_the_function(tmp_path: Path) -> None:
    """Without --wasm only the crashed frames are added (Playground's fix-asyncify approach)."""
    wasm = compile_c(SRC / "loop.c", tmp_path / "loop.wasm")
    build, out = setup(tmp_path, wasm, "run\n")
    proc = fix(tmp_path, "--build", build, "--test", check(out, "wasmtime", "loop"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(read_list(tmp_path / "only.list").entries) == EXPECTS["loop"].instrument


def test_frames_alone_cannot_name_a_returned_callee_but_wasm_can(tmp_path: Path) -> None:
    """demo.c without `dispatch`: the trap is in main_loop (listed); dispatch has already returned."""
    start = "fetch_page\nbackoff\nget_with_retry\nhandle_redirect\nmain_loop\n"
    build, out = setup(tmp_path, demo_wasm(), start)
    test = f"{PY} {HERE / 'check.py'} {out} node main_loop=528"
    stuck = fix(tmp_path, "--build", build, "--test", test)
    assert stuck.returncode == 1 and "found nothing new" in stuck.stderr and "--wasm" in stuck.stderr
    assert (tmp_path / "only.list").read_text() == start
    # today's usage, --wasm given the built (asyncified) binary, still works, with a note
    done = fix(tmp_path, "--build", build, "--test", test, "--wasm", out, "--imports", "env.sleep_ms,env.fetch_value")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is already asyncified" in done.stderr
    assert re.search(r"round 1: \d+ crash\(es\), .*; adding 1 \(.*\): dispatch\n", done.stderr)
    assert "tests pass after 1 repair round(s)" in done.stderr


def test_build_failure_takes_the_round_back(tmp_path: Path) -> None:
    wasm = compile_c(SRC / "direct_chain.c", tmp_path / "direct_chain.wasm")
    _, out = setup(tmp_path, wasm)
    proc = fix(tmp_path, "--build", "echo 'make: *** [php] Error 2' && exit 2",
               "--test", check(out, "node", "direct_chain"))
    assert proc.returncode == 2 and "the build failed (exit 2)" in proc.stderr
    assert (tmp_path / "only.list").read_text() == ""


def test_hanging_tests_are_killed_with_their_children(tmp_path: Path) -> None:
    (tmp_path / "only.list").write_text("main\n")
    marker = f"asyncify-doctor-hang-{time.time_ns()}"
    start = time.monotonic()
    proc = fix(tmp_path, "--build", "true", "--test", f"sh -c 'sleep 300 # {marker}' & sleep 300", "--timeout", "2")
    assert proc.returncode == 2 and "did not finish in 2 s" in proc.stderr
    assert time.monotonic() - start < 60
    assert (tmp_path / "only.list").read_text() == "main\n"
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert left == "", f"children left behind: {left}"


def test_a_non_asyncify_failure_is_not_repaired(tmp_path: Path) -> None:
    (tmp_path / "only.list").write_text("main\n")
    proc = fix(tmp_path, "--build", "true", "--test", "echo 'AssertionError: expected 3, got 4' && exit 1")
    assert proc.returncode == 1 and "holds no wasm stack" in proc.stderr
    assert (tmp_path / "only.list").read_text() == "main\n"


def test_makefile_at_file_reference_edits_the_referenced_list(tmp_path: Path) -> None:
    wasm = compile_c(SRC / "loop.c", tmp_path / "loop.wasm")
    build, out = setup(tmp_path, wasm, "run\n")
    makefile = tmp_path / "Makefile"
    makefile.write_text("EMFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=@only.list\n")
    proc = subprocess.run([PY, "-m", "asyncify_doctor", "fix", "--list", str(makefile), "--build", build,
                           "--test", check(out, "wasmtime", "loop")], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "editing that file" in proc.stderr
    assert makefile.read_text() == "EMFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=@only.list\n"
    assert "step" in names_only(tmp_path / "only.list")


def test_makefile_list_is_repaired_in_its_own_syntax_and_make_still_runs(tmp_path: Path) -> None:
    """`-sASYNCIFY_ONLY=['run']` in a Makefile: fix adds inside the brackets, quoted alike, and the
    Makefile's recipe still runs under real make, handing emcc the whole list."""
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")
    from asyncify_doctor.lists import emcc_setting_reads
    wasm = compile_c(SRC / "loop.c", tmp_path / "loop.wasm")
    shutil.copy(wasm, tmp_path / "in.wasm")
    makefile = tmp_path / "Makefile"
    makefile.write_text("LDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=['run'] -O2\nall:\n\t@printf '%s\\n' $(LDFLAGS)\n")
    build = f"{PY} {HERE / 'build.py'} Makefile in.wasm out.wasm"
    subprocess.run(build, shell=True, check=True, cwd=tmp_path)
    proc = subprocess.run([PY, "-m", "asyncify_doctor", "fix", "--list", "Makefile", "--build", build,
                           "--test", check(str(tmp_path / "out.wasm"), "wasmtime", "loop")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(read_list(makefile).entries) == EXPECTS["loop"].instrument
    assert makefile.read_text().startswith("LDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=['run','")
    args = subprocess.run(["make", "-s"], capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split()
    value = next(a for a in args if a.startswith("-sASYNCIFY_ONLY=")).split("=", 1)[1]
    assert set(emcc_setting_reads(value).names or []) == EXPECTS["loop"].instrument


def test_undo_restores_the_original(tmp_path: Path) -> None:
    wasm = compile_c(SRC / "loop.c", tmp_path / "loop.wasm")
    build, out = setup(tmp_path, wasm, "# ours\nrun\n")
    assert fix(tmp_path, "--build", build, "--test", check(out, "wasmtime", "loop")).returncode == 0
    assert (tmp_path / "only.list").read_text() != "# ours\nrun\n"
    proc = fix(tmp_path, "--undo")
    assert proc.returncode == 0 and (tmp_path / "only.list").read_text() == "# ours\nrun\n"


def test_ctrl_c_kills_the_test_and_its_children(tmp_path: Path) -> None:
    import signal
    (tmp_path / "only.list").write_text("main\n")
    marker = f"asyncify-doctor-sigint-{time.time_ns()}"
    proc = subprocess.Popen([PY, "-m", "asyncify_doctor", "fix", "--list", str(tmp_path / "only.list"), "--build", "true",
                             "--test", f"sh -c 'sleep 300 # {marker}' & sleep 300"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    inner = f"^sh -c sleep 300 # {marker}"   # the test's own child, not fix (whose arguments hold the marker too)
    while not subprocess.run(["pgrep", "-f", inner], capture_output=True).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err, err
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout == ""
    assert (tmp_path / "only.list").read_text() == "main\n"


def test_a_bug_in_the_program_is_not_taken_for_a_missing_entry(tmp_path: Path) -> None:
    """A trap Asyncify does not cause (divide by zero) in listed code: the frames are named, nothing is
    called "already listed" that is not, and the message says what it looks like."""
    (tmp_path / "only.list").write_text("main\n")
    log = "RuntimeError: divide by zero\n    at app.wasm.main (wasm://wasm/app.wasm-12345678:wasm-function[3]:0x10)\n"
    (tmp_path / "log.txt").write_text(log)
    proc = fix(tmp_path, "--build", "true", "--test", "cat log.txt && exit 1")
    assert proc.returncode == 1 and "list is untouched" in proc.stderr
    assert (tmp_path / "only.list").read_text() == "main\n"


# --- the taskrunner: a user project never seen, third-party runtimes, every optimisation level -------

@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("taskrunner")


def fix_project(p, runtime: str, *extra: str, build: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    """`fix` on the taskrunner; its async imports go with the binary before asyncify (`--wasm`), the only
    one they apply to (without it, --imports would be ignored: an error)."""
    imports = ("--imports", "@imports.list") if "--wasm" in extra else ()
    return p.doctor("fix", "--list", "only.list", "--build", build or p.build_command(), "--test", p.test_command(runtime),
                    *imports, *extra)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("opt", ["-O0", "-O2", "-O3"])
def test_taskrunner_repaired_from_an_empty_list(opt: str, runtime: str, tmp_path: Path, cache: Path) -> None:
    """From nothing instrumented to exactly `analyze`'s list, one round per independent path: node's
    test runner reports all four jobs' crashes at once (one round); the Emscripten-style program
    aborts at its first failing job (one round per job)."""
    p = project(tmp_path, cache, opt, names=True)
    proc = fix_project(p, runtime, "--wasm", "app.wasm", "--built", "app.async.wasm")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert rounds_of(proc.stderr) == (1 if runtime == "asyncify-wasm" else 4), proc.stderr[-4000:]
    assert sorted(names_only(p.only)) == sorted(p.minimal_list())
    assert p.run_tests(runtime).returncode == 0
    assert "wasm-function[" not in p.only.read_text()


def test_taskrunner_stripped_at_O0_maps_frames_by_index(tmp_path: Path, cache: Path) -> None:
    """No names in the crashed binary, but -O0 keeps every function's index: shown, then used."""
    p = project(tmp_path, cache, "-O0", names=False)
    proc = fix_project(p, "asyncify-wasm", "--wasm", "app.wasm", "--built", "app.async.wasm")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert rounds_of(proc.stderr) == 1
    assert sorted(names_only(p.only)) == sorted(p.minimal_list())


@pytest.mark.parametrize("opt", ["-O2", "-O3"])
def test_taskrunner_stripped_and_optimised_stops_with_the_reason(opt: str, tmp_path: Path, cache: Path) -> None:
    """wasm-opt inlined, so indices moved and the crashed binary has no names: fix says why in one
    line and what to do, and the list stays as it was (no placeholders, no "already listed")."""
    p = project(tmp_path, cache, opt, names=False, only="")
    for flags, reason in ((["--wasm", "app.wasm", "--built", "app.async.wasm"], "does not number its functions like app.wasm"),
                          (["--wasm", "app.wasm"], "not the binary that crashed"),
                          ([], "the frames have no names")):
        proc = fix_project(p, "asyncify-wasm", *flags)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 1 and reason in last and "keep names" in last, proc.stderr[-3000:]
        assert last.startswith("asyncify-doctor fix: round 1 cannot name the crashed frames")
        assert "already listed" not in proc.stderr
        assert p.only.read_text() == "" and not (tmp_path / "only.list.bak").exists()


def test_taskrunner_nameless_asyncified_binary_as_wasm_writes_nothing(tmp_path: Path, cache: Path) -> None:
    """Today's `fix --wasm app.async.wasm` on the nameless binary the build produces: it is the binary
    that crashed (the offsets agree) but it has no names, so nothing Binaryen could match exists."""
    p = project(tmp_path, cache, "-O0", names=False)
    proc = fix_project(p, "asyncify-wasm", "--wasm", "app.async.wasm")
    assert proc.returncode == 1 and "has no name for function" in proc.stderr, proc.stderr[-3000:]
    assert p.only.read_text() == ""


def test_taskrunner_empty_list_read_as_no_list_is_not_success(tmp_path: Path, cache: Path) -> None:
    """A build that hands Binaryen the 0-byte list as it is: everything gets instrumented, the tests
    pass, and fix says that this proves nothing instead of reporting success after 0 rounds."""
    plain = tmp_path / "plain-build.sh"
    plain.write_text((TASKRUNNER / "build.sh").read_text().replace(
        "if grep -q '[^[:space:]]' only.list; then", "if true; then"))
    p = project(tmp_path / "p", cache, "-O2", names=True)
    subprocess.run(p.build_command(plain), shell=True, check=True, cwd=p.root)
    proc = fix_project(p, "asyncify-wasm", "--wasm", "app.wasm", build=p.build_command(plain))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "warning: only.list: the list is empty: Binaryen reads an empty onlylist as no list at all" in proc.stderr
    assert "nothing was added" in proc.stderr and "tests pass after" not in proc.stderr
    assert p.only.read_text() == ""


def test_taskrunner_list_with_comments_gets_names_and_a_warning(tmp_path: Path, cache: Path) -> None:
    """A hand-kept list with a `#` line (Binaryen reads it as a function name): fix warns, keeps the
    user's text as it is, and adds names only."""
    p = project(tmp_path, cache, "-O2", names=True, only="# jobs that wait on the host\nrun_retry\nretry\n")
    proc = fix_project(p, "emscripten", "--wasm", "app.wasm", "--built", "app.async.wasm")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wasm-opt reads the comment '# jobs that wait on the host' as a function name" in proc.stderr
    text = p.only.read_text()
    assert text.startswith("# jobs that wait on the host\nrun_retry\nretry\n") and text.count("#") == 1
    assert sorted(read_list(p.only).entries) == sorted(p.minimal_list())
    assert rounds_of(proc.stderr) == 3   # the three jobs whose paths were not listed, one round each


# --- no names before asyncify either: the names Binaryen gives, or exit 2 for emcc (issue 23) ---------

def test_taskrunner_nameless_at_O0_gets_the_names_wasm_opt_gives(tmp_path: Path, cache: Path) -> None:
    """app.wasm without a name section, asyncified at -O0 without -g: the two number their functions
    alike, so each frame is mapped by index, and the functions to add are written as wasm-opt names
    them when it reads app.wasm ("12": the index among defined functions). One round, exactly what
    `analyze --format binaryen` says, and the tests pass with it."""
    p = project(tmp_path, cache, "-O0", names=False, nameless=True)
    assert not any(f.has_name for f in read_module(p.pre).functions)
    proc = fix_project(p, "asyncify-wasm", "--wasm", "app.wasm", "--built", "app.async.wasm")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert rounds_of(proc.stderr) == 1
    assert "have no name in app.wasm: written as wasm-opt names them" in proc.stderr
    listed = names_only(p.only)
    assert sorted(listed) == sorted(p.minimal_list("--format", "binaryen"))
    assert all(n.isdigit() for n in listed) and "wasm-function[" not in p.only.read_text()
    assert p.run_tests("asyncify-wasm").returncode == 0


def test_taskrunner_nameless_and_optimised_stops_with_the_reason(tmp_path: Path, cache: Path) -> None:
    """The same at -O2: wasm-opt inlined after asyncify, so indices moved: nothing is guessed."""
    p = project(tmp_path, cache, "-O2", names=False, only="", nameless=True)
    proc = fix_project(p, "asyncify-wasm", "--wasm", "app.wasm", "--built", "app.async.wasm")
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "does not number its functions like app.wasm" in last, proc.stderr[-3000:]
    assert p.only.read_text() == ""


def test_taskrunner_nameless_list_emcc_reads_stops_with_exit_2(tmp_path: Path, cache: Path) -> None:
    """The list is emcc's (a Makefile's -sASYNCIFY_ONLY=@only.list): emcc matches link-time names,
    which app.wasm does not carry, so no name fix could write would match: exit 2, one line saying how
    to keep names, the list untouched."""
    p = project(tmp_path, cache, "-O0", names=False, nameless=True)
    (p.root / "Makefile").write_text("app.js: app.c\n\temcc app.c -sASYNCIFY -sASYNCIFY_ONLY=@only.list -o app.js\n")
    proc = p.doctor("fix", "--list", "Makefile", "--build", p.build_command(), "--test", p.test_command("asyncify-wasm"),
                    "--imports", "@imports.list", "--wasm", "app.wasm", "--built", "app.async.wasm")
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert last.startswith("asyncify-doctor: error: app.wasm has no name for") and "emcc reads only.list" in last
    assert "--profiling-funcs" in last and "Traceback" not in proc.stderr
    assert p.only.read_text() == "" and not (p.root / "only.list.bak").exists()
