"""`trace` under wasmtime: every wasm stack at an async import, for a plain (un-asyncified) build.

wasmtime's API gives a host function no backtrace, and a trap's backtrace stops at 20 frames
(`Config::wasm_backtrace_max_frames`, which neither its C API nor wasmtime-py can raise). So the
binary is given a shadow stack first (`shadow_stack.instrument`: each function pushes its own index
on entry and pops on return, in a memory of its own), and every watched import reads it when called:
one run, every frame, any depth. Imports run synchronously (an `async def` one is awaited on the
spot), as a plain build needs. Cost: one wrapper call per wasm call (see bench/trace_wasmtime.py).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, cast

import wasmtime

from ...decode import Module, decode
from ...decode.module import read_bytes
from ...errors import UsageError
from ...analysis.selection import select_imports
from . import common as c
from .common import AsyncifyRunError
from .shadow_stack import Shadowed, instrument


class WasmtimeTracer:
    """One compiled, shadow-stacked module; each `run` is a fresh instance whose watched import calls
    add to `stacks` (kept across runs, and kept when a run traps)."""

    def __init__(self, wasm: bytes | Path, imports: dict[str, Callable[..., Any]] | None = None,
                 async_imports: list[str] | tuple[str, ...] = c.STANDARD_ASYNC) -> None:
        data = read_bytes(wasm) if isinstance(wasm, Path) else wasm
        self.module: Module = decode(data, str(wasm) if isinstance(wasm, Path) else "<wasm>")
        self.label = self.module.module_name or (wasm.name if isinstance(wasm, Path) else None)
        selection = select_imports(self.module, list(async_imports))
        self.watched = {self.module.functions[i].import_key for i in selection.functions}
        self.unmatched = selection.unmatched
        self.imports = imports if imports is not None else c.standard_imports([])
        self.shadowed: Shadowed = instrument(data, self.module)
        config = wasmtime.Config()
        config.wasm_exceptions = bool(self.module.tags)
        self.engine = wasmtime.Engine(config)
        self.compiled = wasmtime.Module(self.engine, self.shadowed.wasm)
        self._seen: dict[tuple, dict] = {}
        self._run = ""

    @property
    def stacks(self) -> list[dict]:
        """Distinct stacks, innermost frame first, most frequent first: the shape `trace` writes."""
        return sorted(self._seen.values(), key=lambda s: (-s["count"], s["import"]))

    def run(self, export: str | None, *args: Any) -> Any:
        """Instantiate afresh (running the start function, if any), call `export` and return its result."""
        funcs = [e.name for e in self.module.exports if e.kind == "func"]
        if export is not None and export not in funcs:
            raise UsageError(f"{self.module.path} exports no function {export!r} (it exports {', '.join(funcs[:8]) or 'none'}"
                             f"{', …' if len(funcs) > 8 else ''})")
        self._run = f"wasmtime {self.label or self.module.path} {export or '(start)'}"
        store = wasmtime.Store(self.engine)
        try:
            instance = wasmtime.Instance(store, self.compiled, [self._extern(store, imp) for imp in self.compiled.imports])
            return None if export is None else cast(wasmtime.Func, instance.exports(store)[export])(store, *args)
        except wasmtime.Trap as trap:
            raise AsyncifyRunError(c.TRAP, f"the plain build trapped on its own in {export}: {trap.message}") from None

    def _extern(self, store: wasmtime.Store, imp: wasmtime.ImportType) -> wasmtime.Func:
        key = f"{imp.module}.{imp.name}"
        fn = self.imports.get(key)
        if fn is None or not isinstance(imp.type, wasmtime.FuncType):
            raise AsyncifyRunError(c.MISSING_IMPORT, f"the module imports {key}, which the host was not given")
        call = _sync(fn)
        if key not in self.watched:
            return wasmtime.Func(store, imp.type, call)

        def watched(caller: wasmtime.Caller, *args: Any) -> Any:
            self._record(key, caller)
            return call(*args)
        return wasmtime.Func(store, imp.type, watched, access_caller=True)

    def _record(self, key: str, caller: wasmtime.Caller) -> None:
        """The caller's own exports hold its shadow stack: this works from a start function too."""
        top = cast(wasmtime.Global, caller[self.shadowed.top_export]).value(caller)
        frames = self.shadowed.frames(cast(wasmtime.Memory, caller[self.shadowed.memory_export]).read(caller, 0, top), top)
        entry = self._seen.get((key, tuple(frames)))
        if entry is None:
            entry = self._seen[(key, tuple(frames))] = {
                "import": key, "module": self.label, "count": 0, "runs": [],
                "frames": [{"name": f.name if f.has_name else None, "index": f.index}
                           for f in map(self.module.functions.__getitem__, frames)]}
        entry["count"] += 1
        if self._run not in entry["runs"]:
            entry["runs"].append(self._run)


def _sync(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        result = fn(*args)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    return call


def trace_stacks(wasm: bytes | Path, export: str, *args: Any, imports: dict[str, Callable[..., Any]] | None = None,
                 async_imports: list[str] | tuple[str, ...] = c.STANDARD_ASYNC) -> list[dict]:
    """Stacks (innermost first) at every watched import call of one run of `export`."""
    tracer = WasmtimeTracer(wasm, imports, async_imports)
    tracer.run(export, *args)
    return tracer.stacks
