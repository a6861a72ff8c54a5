"""`asyncify-doctor demo` on the shipped example: the list, a correct run, the crash, the explanation."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from asyncify_doctor.commands.demo import demo_wasm
from asyncify_doctor.runtime.toolchain import compile_c


def test_demo_tells_the_whole_story() -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "demo", "--color", "never"],
                          capture_output=True, text=True, check=True)
    out = proc.stdout
    assert "dispatch → (indirect via type (i32) -> i32, table 0) handle_redirect → fetch_page → env.fetch_value" in out
    assert "6 of 12 defined functions" in out and "gives 7" in out and "gives 5 and misses dispatch" in out
    assert "main_loop() = 528 after 7 suspensions; printed [3, -1, 5, -2, 9, -3, 528]" in out
    assert "crash: trap:" in out and "not instrumented" in out and "[wasm frames: main_loop]" in out
    assert "missing: dispatch" in out
    assert "\033[" not in out


def test_shipped_demo_wasm_is_built_from_its_source(tmp_path: Path) -> None:
    """The committed binary must be what scripts/build_fixtures.py --demo makes of demo.c."""
    rebuilt = compile_c(demo_wasm().with_suffix(".c"), tmp_path / "demo.wasm")
    assert rebuilt.read_bytes() == demo_wasm().read_bytes()
