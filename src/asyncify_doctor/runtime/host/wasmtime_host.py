"""The host side of Asyncify in Python, on wasmtime: async imports are Python callables (plain or
`async def`); the program suspends at them and resumes when they finish.

Protocol (Binaryen's Asyncify.cpp): the import, called in the normal state, starts the operation and
calls `asyncify_start_unwind(data)`; when the export returns (unwound), the host calls
`asyncify_stop_unwind()`, awaits the operation, calls `asyncify_start_rewind(data)` and calls the
same export again; the import, entered again while rewinding, calls `asyncify_stop_rewind()` and
returns the result. Every way this can go wrong is reported as a distinct `AsyncifyRunError` kind.
"""
from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path
from typing import Any, Callable

import wasmtime

from . import common as c
from .common import AsyncifyRunError, RunResult

PAGE = 65536
OVERFLOW_SLACK = 512   # a trap while unwinding this close to the buffer's end is the buffer overflowing


class AsyncifyHost:
    """One instance of an asyncified module with its imports; `call` runs an export to completion."""

    def __init__(self, wasm: bytes | Path, imports: dict[str, Callable[..., Any]], *,
                 async_imports: set[str] | tuple[str, ...], data_size: int = 1 << 20,
                 prints: list[int] | None = None) -> None:
        self.engine = wasmtime.Engine()
        self.store = wasmtime.Store(self.engine)
        data = wasm.read_bytes() if isinstance(wasm, Path) else wasm
        self.module = wasmtime.Module(self.engine, data)
        self.async_imports = set(async_imports)
        self.prints = prints if prints is not None else []
        self.data_size = data_size
        self._pending: tuple[str, Any] | None = None
        self._resume: tuple[str, Any] | None = None
        self._suspensions = 0
        self._error: AsyncifyRunError | None = None
        self.instance = wasmtime.Instance(self.store, self.module, self._imports(imports))
        self.exports = self.instance.exports(self.store)
        self.asyncified = "asyncify_get_state" in self.exports
        self.data_ptr = self._alloc_data() if self.asyncified else 0

    # --- set-up ---------------------------------------------------------------------------
    def _imports(self, given: dict[str, Callable[..., Any]]) -> list[wasmtime.Func]:
        out = []
        for imp in self.module.imports:
            key = f"{imp.module}.{imp.name}"
            if not isinstance(imp.type, wasmtime.FuncType):
                raise AsyncifyRunError(c.MISSING_IMPORT, f"{key}: only function imports are supported by this host")
            fn = given.get(key)
            if fn is None:
                raise AsyncifyRunError(c.MISSING_IMPORT, f"the module imports {key}, which the host was not given")
            wrap = self._async_import(key, fn, imp.type) if key in self.async_imports else self._sync_import(key, fn)
            out.append(wasmtime.Func(self.store, imp.type, wrap))
        return out

    def _alloc_data(self) -> int:
        """Grow memory and put the data buffer in the new pages, where the program never looks."""
        memory = self._memory()
        pages = (self.data_size + PAGE - 1) // PAGE
        base = memory.grow(self.store, pages) * PAGE
        self._init_data(base)
        return base

    def _init_data(self, base: int) -> None:
        mem = self._memory()
        mem.write(self.store, (base + 8).to_bytes(4, "little") + (base + self.data_size).to_bytes(4, "little"), base)

    def _func(self, name: str) -> wasmtime.Func:
        """An exported function: the runtime's entry points (Asyncify's are checked on load)."""
        item = self.exports[name]
        if not isinstance(item, wasmtime.Func):
            raise AsyncifyRunError(c.MISSING_EXPORT, f"export {name} is not a function")
        return item

    def _memory(self) -> wasmtime.Memory:
        item = self.exports["memory"]
        if not isinstance(item, wasmtime.Memory):
            raise AsyncifyRunError(c.MISSING_EXPORT, "export memory is not a (non-shared) memory")
        return item

    def _state(self) -> int:
        return self._func("asyncify_get_state")(self.store) if self.asyncified else c.NORMAL

    # --- imports --------------------------------------------------------------------------
    def _sync_import(self, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            state = self._state()
            if state != c.NORMAL:
                self._fail(c.UNINSTRUMENTED, f"{key} was called while {c.STATE_NAMES[state]}: a function on the stack "
                                        "is not instrumented and ran again instead of resuming")
            return fn(*args)
        return call

    def _async_import(self, key: str, fn: Callable[..., Any], ty: wasmtime.FuncType) -> Callable[..., Any]:
        dummy = 0 if ty.results else None

        def call(*args: Any) -> Any:
            if not self.asyncified:
                self._fail(c.NOT_ASYNCIFIED, f"async import {key} was called, but the module was not asyncified "
                                             "(it has no asyncify_* exports)")
            state = self._state()
            if state == c.REWINDING:
                self._func("asyncify_stop_rewind")(self.store)
                resumed = self._resume
                self._resume = None
                if resumed is None or resumed[0] != key:
                    self._fail(c.UNINSTRUMENTED, f"the rewind reached {key}, but the suspended call was "
                                            f"{resumed[0] if resumed else 'none'}")
                return resumed[1] if dummy is not None else None  # type: ignore[index]
            if state == c.UNWINDING:
                self._fail(c.UNINSTRUMENTED, f"{key} was called while unwinding")
            result = fn(*args)
            if not asyncio.iscoroutine(result):   # this call answers at once: no unwind
                return result
            self._pending = (key, result)
            self._suspensions += 1
            self._func("asyncify_start_unwind")(self.store, self.data_ptr)
            return dummy
        return call

    def _fail(self, kind: str, message: str) -> None:
        """Record the first failure and leave the wasm (wasmtime turns this into a trap and re-raises it)."""
        if self._error is None:
            self._error = AsyncifyRunError(kind, message)
        raise _HostAbort(message)

    # --- driving --------------------------------------------------------------------------
    def call(self, export: str, *args: Any) -> RunResult:
        return asyncio.run(self.call_async(export, *args))

    async def call_async(self, export: str, *args: Any) -> RunResult:
        func = self.exports[export]
        self._suspensions, self._error = 0, None
        while True:
            value = self._enter(func, args)
            state = self._state()
            if state == c.NORMAL:
                return RunResult(value, self._suspensions, self.prints)
            if state == c.REWINDING:
                raise AsyncifyRunError(c.REWIND_LOST, f"{export} returned while still rewinding: the rewind never "
                                       "reached the suspended import again (a function on its stack is not "
                                       "instrumented)", suspensions=self._suspensions)
            await self._resume_after_unwind(export)

    def _enter(self, func: Any, args: tuple[Any, ...]) -> Any:
        try:
            return func(self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError, _HostAbort) as exc:
            if self._error is not None:
                err, self._error = self._error, None
                source = exc.__context__ if isinstance(exc, _HostAbort) else exc
                err.frames = _frames(source)
                err.raw = str(source or "")
                err.suspensions = self._suspensions
                raise err from None
            err = self._trap(exc)
            err.raw = str(exc)
            raise err from None

    def _trap(self, exc: Exception) -> AsyncifyRunError:
        message = _trap_message(exc)
        state = self._state() if self.asyncified else c.NORMAL
        if state == c.UNWINDING and self._pending is not None:
            room = self.data_ptr + self.data_size - self._data_current()
            if room < OVERFLOW_SLACK:
                return AsyncifyRunError(c.DATA_OVERFLOW, f"trapped while unwinding ({message}) with {room} bytes "
                                        f"left in the {self.data_size}-byte asyncify data buffer: make it larger",
                                        _frames(exc), self._suspensions)
            hint = ("; the unwind met code that does not expect it: a function on the stack is probably not "
                    "instrumented")
        elif state == c.REWINDING:
            hint = "; the rewind met code that does not expect it: a function on the stack is probably not instrumented"
        else:
            hint = ""
        return AsyncifyRunError(c.TRAP, f"{message} (state: {c.STATE_NAMES.get(state, state)}){hint}",
                                _frames(exc), self._suspensions)

    def _data_current(self) -> int:
        raw = self._memory().read(self.store, self.data_ptr, self.data_ptr + 4)
        return int.from_bytes(raw, "little")

    async def _resume_after_unwind(self, export: str) -> None:
        if self._pending is None:
            raise AsyncifyRunError(c.UNWIND_LEAK, f"{export} returned while unwinding, but no async import "
                                   "started an unwind", suspensions=self._suspensions)
        try:
            self._func("asyncify_stop_unwind")(self.store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:  # Binaryen checks current <= end here
            raise AsyncifyRunError(c.DATA_OVERFLOW, f"asyncify_stop_unwind trapped ({_trap_message(exc)}): the "
                                   f"unwound stack did not fit the {self.data_size}-byte data buffer",
                                   _frames(exc), self._suspensions) from None
        current = self._data_current()
        if current > self.data_ptr + self.data_size:
            raise AsyncifyRunError(c.DATA_OVERFLOW, f"the unwound stack needs {current - self.data_ptr} bytes, "
                                   f"the buffer has {self.data_size}", suspensions=self._suspensions)
        key, pending = self._pending
        self._pending = None
        result = await pending if inspect.isawaitable(pending) else pending
        self._resume = (key, result)
        self._func("asyncify_start_rewind")(self.store, self.data_ptr)


def _trap_message(exc: Exception) -> str:
    """`wasm trap: wasm `unreachable` instruction executed`, without wasmtime's backtrace around it."""
    text = getattr(exc, "message", None) or str(exc)
    m = re.search(r"Caused by:\s*\n\s*(.+)", text)
    return (m.group(1) if m else text.strip().splitlines()[0]).strip()


class _HostAbort(Exception):
    """Raised inside an import to stop the wasm; the real report is in `AsyncifyHost._error`."""


_BACKTRACE_LINE = re.compile(r"^\s*\d+:\s+0x[0-9a-f]+ - (?:[^!\n]*!)?(.+?)\s*$", re.M)


def _frames(exc: BaseException | None) -> list[str]:
    """Wasm frames by name, innermost first: from `Trap.frames`, or from the backtrace wasmtime
    prints into the error text when a host function raised."""
    if exc is None:
        return []
    frames = getattr(exc, "frames", None)
    if frames:
        return [f.func_name or f"wasm-function[{f.func_index}]" for f in frames]
    return _BACKTRACE_LINE.findall(str(exc))


def run(wasm: bytes | Path, export: str = "run", *args: Any, data_size: int = 1 << 20,
        async_imports: tuple[str, ...] = c.STANDARD_ASYNC) -> RunResult:
    """Run one export with the standard fixture imports; raises AsyncifyRunError when broken."""
    prints: list[int] = []
    host = AsyncifyHost(wasm, c.standard_imports(prints), async_imports=set(async_imports),
                        data_size=data_size, prints=prints)
    return host.call(export, *args)
