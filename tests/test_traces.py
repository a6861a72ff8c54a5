"""parse-trace: real traces recorded from the proof harness (node/V8 and wasmtime), and
hand-collected ones in every format users paste (Firefox, Safari, Chrome DevTools, vitest,
Emscripten aborts)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.decode import read_module
from asyncify_doctor.traces import parse_log, resolve

TRACES = Path(__file__).parent / "traces"


def first(name: str):  # noqa: ANN201
    crashes = [c for c in parse_log((TRACES / name).read_text()) if c.frames]
    assert crashes, name
    return crashes[0]


@pytest.mark.parametrize("host", ["node", "wasmtime"])
def test_recorded_traces_from_the_proof_harness(host: str) -> None:
    dc = first(f"{host}-direct_chain.txt")
    assert "called while unwinding" in dc.message and dc.looks_like_asyncify
    assert [f.name for f in dc.frames][:3] == ["read_value", "load_config", "run"]
    demo = parse_log((TRACES / f"{host}-demo.txt").read_text())
    assert any("unreachable" in c.message for c in demo)
    assert ["main_loop"] in [[f.name for f in c.frames] for c in demo]


@pytest.mark.parametrize("name, message, frames", [
    ("hand-firefox.txt", "indirect call signature mismatch", ["zend_call_function", "zend_execute_scripts", "php_execute_script"]),
    ("hand-safari.txt", "RuntimeError: Out of bounds memory access", ["zend_call_function", "wasm-function[1235]"]),
    ("hand-chrome-devtools.txt", "null function or function signature mismatch",
     ["zend_call_function", "wasm-function[1235]", "wasm-function[1236]", "php_request_startup"]),
    ("hand-vitest.txt", "RuntimeError: unreachable", ["zend_call_function", "zif_file_get_contents"]),
    ("hand-emscripten-abort.txt", "table index is out of bounds", ["zend_call_function", "dynCall_vi"]),
])
def test_hand_collected_formats(name: str, message: str, frames: list[str]) -> None:
    crash = first(name)
    assert message.lower() in crash.message.lower()
    assert [f.label() for f in crash.frames] == frames


def test_non_asyncify_trap_is_told_apart() -> None:
    crashes = parse_log((TRACES / "hand-emscripten-abort.txt").read_text())
    assert crashes[0].looks_like_asyncify
    assert not parse_log("RuntimeError: divide by zero\n    at f (wasm://wasm/x:wasm-function[1]:0x5)\n")[0].looks_like_asyncify


def test_frames_map_through_the_binary_by_index_and_offset(tmp_path: Path) -> None:
    from asyncify_doctor.demo import demo_wasm
    m = read_module(demo_wasm())
    dispatch = m.function_named("dispatch")
    assert dispatch is not None
    offset = m.code.bodies[2 * (dispatch.index - m.num_imported_functions)] + 3
    log = (f"RuntimeError: unreachable\n    at wasm://wasm/abc:wasm-function[{dispatch.index}]:0x1\n"
           f"    0: 0x{offset:x} - <unknown>!<wasm function 9999>\n")
    assert [m.functions[i].name for i in resolve(parse_log(log)[0], m)] == ["dispatch", "dispatch"]
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "parse-trace", "--wasm", str(demo_wasm()),
                           "--format", "json"], input=log, capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)[0]["frames"] == ["dispatch", "dispatch"]
