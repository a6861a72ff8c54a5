"""`trace` under wasmtime: every wasm stack at an async import, for a plain (un-asyncified) build.

wasmtime's Python API gives no backtrace from inside a host call, and a trap raised by the host
carries no frames — but a trap raised *by wasm* carries them all. So each async import is served by
a tiny generated wasm stub (`if (call $stop) unreachable; call $real`), and the program is run once
per async call k = 1, 2, …: the k-th call's stub executes `unreachable`, and the trap's frames are
the whole stack at that call. Imports run synchronously (async ones are awaited on the spot), so
the program must be deterministic. Cost: n async calls → n + 1 runs and O(n²) import calls.

Limit: wasmtime's C API (`wasm_trap_trace`) reports at most 20 frames per trap, so a stack deeper
than 19 program frames loses its outer frames; such stacks are marked `"truncated": true`. Use the
node tracer (`asyncify-doctor trace -- node …`), which has no such cap, for deep stacks.
"""
from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any, Callable

import wasmtime

from . import common as c
from .common import AsyncifyRunError

_VALTYPE = {"i32": 0x7F, "i64": 0x7E, "f32": 0x7D, "f64": 0x7C}
FRAME_CAP = 20   # frames wasmtime's C API reports per trap


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _vec(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _section(sid: int, body: bytes) -> bytes:
    return bytes([sid]) + _uleb(len(body)) + body


def _name(s: str) -> bytes:
    return _uleb(len(s)) + s.encode()


def stub_module(ty: wasmtime.FuncType) -> bytes:
    """(import "host" "real" T) (import "host" "stop" (func (result i32)))
       (func (export "f") (type T) (if (call $stop) (then unreachable)) (call $real (local.get 0…)))"""
    params = [_VALTYPE[str(p)] for p in ty.params]
    results = [_VALTYPE[str(r)] for r in ty.results]
    functype = b"\x60" + _vec([bytes([p]) for p in params]) + _vec([bytes([r]) for r in results])
    types = _section(1, _vec([functype, b"\x60\x00\x01\x7f"]))
    imports = _section(2, _vec([_name("host") + _name("real") + b"\x00\x00", _name("host") + _name("stop") + b"\x00\x01"]))
    funcs = _section(3, _vec([b"\x00"]))
    exports = _section(7, _vec([_name("f") + b"\x00\x02"]))
    body = b"\x00" + b"\x10\x01\x04\x40\x00\x0b" + b"".join(b"\x20" + _uleb(i) for i in range(len(params))) + b"\x10\x00\x0b"
    code = _section(10, _vec([_uleb(len(body)) + body]))
    return b"\0asm\x01\0\0\0" + types + imports + funcs + exports + code


def _sync(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        result = fn(*args)
        return asyncio.run(result) if inspect.isawaitable(result) else result
    return call


def trace_stacks(wasm: bytes | Path, export: str, *args: Any, imports: dict[str, Callable[..., Any]] | None = None,
                 async_imports: tuple[str, ...] = c.STANDARD_ASYNC, max_calls: int = 100_000) -> list[dict]:
    """Stacks (innermost first) at every async import call of `export`, shaped like `trace`'s."""
    data = wasm.read_bytes() if isinstance(wasm, Path) else wasm
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, data)
    stubs: dict[str, wasmtime.Module] = {}
    seen: dict[tuple, dict] = {}
    for k in range(1, max_calls + 2):
        store = wasmtime.Store(engine)
        given = imports if imports is not None else c.standard_imports([])
        state = {"n": 0, "key": None}
        externs = []
        for imp in module.imports:
            key = f"{imp.module}.{imp.name}"
            fn = given.get(key)
            if fn is None or not isinstance(imp.type, wasmtime.FuncType):
                raise AsyncifyRunError(c.MISSING_IMPORT, f"the module imports {key}, which the host was not given")
            if key not in async_imports:
                externs.append(wasmtime.Func(store, imp.type, fn))
                continue
            stub = stubs.setdefault(key, wasmtime.Module(engine, stub_module(imp.type)))
            externs.append(_stub_instance(store, stub, imp.type, key, fn, state, k))
        instance = wasmtime.Instance(store, module, externs)
        try:
            instance.exports(store)[export](store, *args)
            return sorted(seen.values(), key=lambda s: -s["count"])
        except wasmtime.Trap as trap:
            if state["key"] is None:
                raise AsyncifyRunError(c.TRAP, f"the plain build trapped on its own: {trap.message}") from None
            all_frames = trap.frames
            frames = all_frames[1:]   # the first is the stub that trapped
            names = tuple(f.func_name or f"wasm-function[{f.func_index}]" for f in frames)
            entry = seen.setdefault((state["key"], names), {
                "import": state["key"], "module": None, "count": 0, "truncated": len(all_frames) >= FRAME_CAP,
                "frames": [{"name": f.func_name, "index": f.func_index} for f in frames]})
            entry["count"] += 1
    raise AsyncifyRunError(c.TRAP, f"more than {max_calls} async calls: giving up")


def _stub_instance(store: wasmtime.Store, stub: wasmtime.Module, ty: wasmtime.FuncType, key: str,
                   fn: Callable[..., Any], state: dict, stop_at: int) -> Any:
    def stop() -> int:
        state["n"] += 1
        if state["n"] == stop_at:
            state["key"] = key
            return 1
        return 0

    real = wasmtime.Func(store, ty, _sync(fn))
    check = wasmtime.Func(store, wasmtime.FuncType([], [wasmtime.ValType.i32()]), stop)
    return wasmtime.Instance(store, stub, [real, check]).exports(store)["f"]
