"""fix: the repair loop converges on the fixtures from an empty list, and stops with a clear
explanation and an untouched list when the build fails, the tests hang, or the crash is not Asyncify's."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncify_doctor.demo import demo_wasm
from asyncify_doctor.lists import read_list
from asyncify_doctor.toolchain import compile_c
from proof import EXPECTS, SRC

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


@pytest.mark.parametrize("name", EXPECTS)
def test_converges_from_an_empty_list_with_wasm(name: str, tmp_path: Path) -> None:
    wasm = compile_c(SRC / f"{name}.c", tmp_path / f"{name}.wasm")
    build, out = setup(tmp_path, wasm)
    proc = fix(tmp_path, "--build", build, "--test", check(out, "node", name), "--wasm", out,
               "--imports", "env.sleep_ms,env.fetch_value")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rounds = int(proc.stderr.split("tests pass after ")[1].split()[0])
    # one round per independent path: the test stops at its first failing export, and two_exports
    # has two exports whose paths share nothing but the import
    assert rounds == (2 if name == "two_exports" else 1), proc.stderr[-3000:]
    assert set(read_list(tmp_path / "only.list").entries) <= EXPECTS[name].instrument
    assert (tmp_path / "only.list.bak").read_text() == ""
    assert "# added by asyncify-doctor fix, round 1:" in (tmp_path / "only.list").read_text()
    assert subprocess.run(check(out, "wasmtime", name), shell=True).returncode == 0


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
    done = fix(tmp_path, "--build", build, "--test", test, "--wasm", out, "--imports", "env.sleep_ms,env.fetch_value")
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"round 1: \d+ crash\(es\); adding 1 \(.*\): dispatch\n", done.stderr)
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
    assert proc.returncode == 1 and "not an Asyncify crash" in proc.stderr
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
    assert "step" in read_list(tmp_path / "only.list").entries
    assert "(test: " in (tmp_path / "only.list").read_text()


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
