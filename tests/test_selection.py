"""An import selection that selects nothing, and a list that comes out empty, are never written as an
empty list: Binaryen reads an empty onlylist as no list at all (it instruments everything), which real
wasm-opt 132 and libbinaryen 116 show here. And `--imports` says what it does by default on an
Emscripten build."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.analysis.audit import instrumented_names
from asyncify_doctor.commands.demo import demo_wasm
from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify, backends
from independent import wasm_tools


def doctor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *args], capture_output=True, text=True, cwd=cwd)


def build(tmp: Path, wat: str) -> Path:
    (tmp / "m.wat").write_text(wat)
    subprocess.run([wasm_tools(), "parse", "m.wat", "-o", "m.wasm"], check=True, cwd=tmp)
    return tmp / "m.wasm"


@pytest.mark.parametrize("command", ["analyze", "why", "jspi", "audit"])
def test_a_typo_in_imports_is_refused_in_one_line(command: str, tmp_path: Path) -> None:
    extra = ["main_loop"] if command == "why" else []
    wasm = str(demo_wasm())
    if command == "audit":   # audit reads an asyncified binary
        (tmp_path / "a.wasm").write_bytes(asyncify(demo_wasm().read_bytes(), AsyncifyOptions(imports=("env.sleep_ms",))))
        wasm = "a.wasm"
    out = [] if command == "why" else ["-o", "out.txt"]
    proc = doctor(command, wasm, *extra, "--imports", "env.sleep_m", *out, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--imports env.sleep_m matches no import" in proc.stderr and "(did you mean env.sleep_ms?)" in proc.stderr
    assert not (tmp_path / "out.txt").exists()


def test_an_imports_file_that_selects_nothing_is_refused_and_one_that_selects_some_is_not(tmp_path: Path) -> None:
    (tmp_path / "imports.list").write_text("env.fetch_valu\nenv.sleep\n")
    proc = doctor("analyze", str(demo_wasm()), "--imports", "@imports.list", cwd=tmp_path)
    assert proc.returncode == 2 and "none of the 2 --imports patterns matches an import" in proc.stderr
    assert "in @imports.list" in proc.stderr and "did you mean env.fetch_value?" in proc.stderr
    (tmp_path / "imports.list").write_text("env.fetch_value\nenv.sleep\n")
    proc = doctor("analyze", str(demo_wasm()), "--imports", "@imports.list", cwd=tmp_path)
    assert proc.returncode == 0 and "1 --imports pattern(s) match no import" in proc.stderr and proc.stdout


# run's indirect call can reach only $noop, so nothing can unwind at sleep_ms (`--indirect typed`); but
# Binaryen, given no list, assumes an indirect call may unwind and instruments `run`
NOTHING_UNWINDS = """(module
  (type $v (func))
  (import "env" "sleep_ms" (func $sleep))
  (table 1 funcref)
  (elem (i32.const 0) $noop)
  (func $noop (type $v))
  (func $run (export "run") (param i32) local.get 0 call_indirect (type $v)))"""


def test_an_empty_list_is_not_written_and_the_advice_works_on_real_binaryen(tmp_path: Path) -> None:
    wasm = build(tmp_path, NOTHING_UNWINDS)
    (tmp_path / "only.list").write_text("kept\n")
    proc = doctor("analyze", "m.wasm", "--imports", "env.sleep_ms", "-o", "only.list", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "the list is empty and nothing was written to only.list" in proc.stderr
    assert "--pass-arg=asyncify-removelist@*" in proc.stderr and "-sASYNCIFY_REMOVE=*" in proc.stderr
    assert (tmp_path / "only.list").read_text() == "kept\n"
    assert doctor("analyze", "m.wasm", "--imports", "env.sleep_ms", "--format", "json", cwd=tmp_path).returncode == 0
    (tmp_path / "empty.list").write_text("")
    def instrumented(backend: str, **lists: tuple[str, ...]) -> set[str]:
        return instrumented_names(asyncify(wasm.read_bytes(), AsyncifyOptions(imports=("env.sleep_ms",), **lists), backend))
    assert set(backends()) == {"libbinaryen", "wasm-opt"}   # Binaryen 116 and 132: the test extra installs both
    for backend in backends():
        assert instrumented(backend, onlylist=(f"@{tmp_path / 'empty.list'}",)) == {"run"}, backend   # the trap
        assert instrumented(backend, removelist=("*",)) == set(), backend                             # the advice


def test_update_never_empties_the_list(tmp_path: Path) -> None:
    build(tmp_path, NOTHING_UNWINDS)
    (tmp_path / "only.list").write_text("run\n")
    proc = doctor("analyze", "m.wasm", "--imports", "env.sleep_ms", "--current", "only.list", "--update", cwd=tmp_path)
    assert proc.returncode == 1 and "not updating only.list: every entry can go, and the list would be empty" in proc.stderr
    assert (tmp_path / "only.list").read_text() == "run\n"


EMSCRIPTEN_LIKE = """(module
  (import "env" "emscripten_sleep" (func $sleep (param i32)))
  (import "env" "__syscall_openat" (func $open (param i32) (result i32)))
  (func $wait (export "wait") i32.const 5 call $sleep)
  (func $stackSave (export "stackSave") (result i32) i32.const 0))"""


def test_without_imports_an_emscripten_build_says_which_imports_are_async(tmp_path: Path) -> None:
    build(tmp_path, EMSCRIPTEN_LIKE)
    proc = doctor("analyze", "m.wasm", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "wait\n"
    assert ("note: no --imports given: on an Emscripten build (import env.emscripten_sleep; --no-emscripten to turn off) "
            "the async imports are the ones emcc makes async by itself: env.emscripten_sleep") in proc.stderr
    assert "every import is treated as async" not in proc.stderr
    plain = doctor("analyze", "m.wasm", "--no-emscripten", cwd=tmp_path)
    assert "no --imports given, so every import is treated as async" in plain.stderr
    help_text = doctor("analyze", "--help", cwd=tmp_path).stdout
    assert "except on\n" in help_text and "an Emscripten build (see --emscripten): the imports emcc makes async by itself" in help_text


def test_fix_refuses_a_typo_in_imports_before_running_anything(tmp_path: Path) -> None:
    (tmp_path / "only.list").write_text("main_loop\n")
    proc = doctor("fix", "--list", "only.list", "--build", "touch built", "--test", "touch tested", "--wasm",
                  str(demo_wasm()), "--imports", "env.sleep_m", cwd=tmp_path)
    assert proc.returncode == 2 and "--imports env.sleep_m matches no import" in proc.stderr.splitlines()[-1]
    assert not (tmp_path / "tested").exists() and (tmp_path / "only.list").read_text() == "main_loop\n"
