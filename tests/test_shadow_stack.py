"""The shadow stack the wasmtime tracer writes into a binary: the rewritten binary is valid (checked by
wasmparser), the program computes exactly what it computed before, and the recorded stack is exact
where unwinding gets hard — a caught exception, a start function, a module with no memory, globals or
exports of its own, imported memories and globals, export names already taken."""
from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from asyncify_doctor.runtime.host.common import standard_imports
from asyncify_doctor.runtime.host.shadow_stack import instrument
from asyncify_doctor.runtime.host.wasmtime_trace import WasmtimeTracer
from asyncify_doctor.runtime.toolchain import build_all
from conftest import build_wat
import independent
from proof import EXPECTS, SRC


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(SRC, tmp_path_factory.mktemp("shadow-fixtures"))


def validate(data: bytes, tmp: Path) -> None:
    path = tmp / "shadowed.wasm"
    path.write_bytes(data)
    assert independent.validate(path) is None, independent.validate(path)


def stacks(tracer: WasmtimeTracer) -> dict[tuple[str, ...], int]:
    return {tuple(f["name"] for f in s["frames"]): s["count"] for s in tracer.stacks}


@pytest.mark.parametrize("name", EXPECTS)
def test_fixtures_stay_valid_and_compute_the_same(name: str, built: dict[str, Path], tmp_path: Path) -> None:
    exp = EXPECTS[name]
    validate(instrument(built[name].read_bytes()).wasm, tmp_path)
    for export, want in exp.exports.items():
        prints: list[int] = []
        tracer = WasmtimeTracer(built[name], standard_imports(prints))
        assert tracer.run(export) == want
        assert prints == exp.prints.get(export, [])


@pytest.mark.parametrize("name", ["features", "memory64"])
def test_modules_using_every_decoded_feature_stay_valid(name: str, wat_dir: Path, tmp_path: Path) -> None:
    """GC types and rec groups, legacy exceptions, tail calls, call_ref, SIMD; a memory64 memory 0."""
    validate(instrument(build_wat(name, wat_dir).read_bytes()).wasm, tmp_path)


IMPORTS = '''
  (import "env" "fetch_value" (func $fetch (param i32) (result i32)))
  (import "env" "sleep_ms" (func $sleep (param i32)))
'''


def tracer_for(wat: str, tmp: Path) -> WasmtimeTracer:
    data = wasmtime.wat2wasm(wat)
    validate(instrument(data).wasm, tmp)
    return WasmtimeTracer(data)


def test_a_caught_exception_leaves_no_stale_frames(tmp_path: Path) -> None:
    """The frames an exception unwinds are gone from the real stack; they must be gone from ours."""
    tracer = tracer_for(f'''(module {IMPORTS}
      (tag $oops)
      (func $thrower (param i32) (result i32) (throw $oops))
      (func $middle (param i32) (result i32) (call $thrower (local.get 0)))
      (func $leaf (param i32) (result i32) (call $fetch (local.get 0)))
      (func $catcher (export "run") (result i32)
        (block $caught (try_table (catch $oops $caught) (drop (call $middle (i32.const 1)))))
        (call $leaf (i32.const 20))))''', tmp_path)
    assert tracer.run("run") == 41
    assert stacks(tracer) == {("leaf", "catcher"): 1}


def test_start_function_and_a_module_without_memory_globals_or_exports(tmp_path: Path) -> None:
    tracer = tracer_for(f'''(module {IMPORTS}
      (func $init (call $sleep (i32.const 1)))
      (func $boot (call $init))
      (start $boot))''', tmp_path)
    tracer.run(None)             # instantiation alone runs the start function
    assert stacks(tracer) == {("init", "boot"): 1}


def test_every_value_type_and_multi_value_pass_through(tmp_path: Path) -> None:
    tracer = tracer_for(f'''(module {IMPORTS}
      (memory 1)
      (func $mv (param i64 f64 f32 v128 externref) (result i32 i64)
        (call $sleep (i32.const 0))
        (i32.wrap_i64 (local.get 0)) (i64.trunc_f64_s (local.get 1)))
      (func $run (export "run") (result i64) (local $b i64)
        (call $mv (i64.const 7) (f64.const 35.9) (f32.const 0) (v128.const i32x4 0 0 0 0) (ref.null extern))
        (local.set $b) (i64.extend_i32_s) (i64.add (local.get $b))))''', tmp_path)
    assert tracer.run("run") == 42
    assert stacks(tracer) == {("mv", "run"): 1}


def test_a_tail_caller_stays_on_the_recorded_stack(tmp_path: Path) -> None:
    """`return_call` removes the caller from the real stack; ours keeps it (listed, never missed)."""
    tracer = tracer_for(f'''(module {IMPORTS}
      (func $leaf (param i32) (result i32) (call $fetch (local.get 0)))
      (func $tail (param i32) (result i32) (return_call $leaf (local.get 0)))
      (func $run (export "run") (result i32) (call $tail (i32.const 3))))''', tmp_path)
    assert tracer.run("run") == 7
    assert stacks(tracer) == {("leaf", "tail", "run"): 1}


def test_imported_memory_and_globals_and_taken_export_names(tmp_path: Path) -> None:
    data = wasmtime.wat2wasm(f'''(module {IMPORTS}
      (import "env" "memory" (memory 1))
      (import "env" "g" (global $g i32))
      (global $h (mut i32) (i32.const 5))
      (func (export "asyncify_doctor_shadow_stack") (result i32) (i32.add (global.get $g) (global.get $h))))''')
    shadowed = instrument(data)
    validate(shadowed.wasm, tmp_path)
    assert shadowed.memory_export == "asyncify_doctor_shadow_stack_1"
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, shadowed.wasm)
    fns = [wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()]), lambda x: x),
           wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), lambda x: None)]
    memory = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, None)))
    g = wasmtime.Global(store, wasmtime.GlobalType(wasmtime.ValType.i32(), False), 37)
    exports = wasmtime.Instance(store, module, [*fns, memory, g]).exports(store)
    assert exports["asyncify_doctor_shadow_stack"](store) == 42
    assert exports[shadowed.top_export].value(store) == 0      # popped again
