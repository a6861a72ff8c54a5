"""Emscripten's own rules for which imports are async, read in its sources (tools/link.py, emcc.py,
src/lib*.js; mirror of emscripten-core/emscripten, releases 2.0.0 to 6.0.8):

- the user's ASYNCIFY_IMPORTS entries without a `.` are qualified as `env.NAME` (`get_full_import_name`,
  every release): `fd_close` is `env.fd_close`, never `wasi_snapshot_preview1.fd_close`;
- emcc adds `invoke_*` unless ASYNCIFY_IGNORE_INDIRECT (the trampolines call back into the table);
- emcc adds `__asyncjs__*` (EM_ASYNC_JS functions; in DEFAULT_ASYNCIFY_IMPORTS since 3.1.x, in
  tools/link.py's DEFAULT_ASYNCIFY_IMPORTS today);
- emcc adds the JS library functions it links that are async: a fixed DEFAULT_ASYNCIFY_IMPORTS list
  up to 3.1.34 (emscripten_sleep, emscripten_wget, the IDB functions, …), then every library
  function marked `__async: true` — as `env.NAME` from 3.1.35, as `*.NAME` (any module, so
  `wasi_snapshot_preview1.fd_sync` too) since 3.1.46 (commit 23d08ab171).
The union of those names is below; only the ones a binary actually imports matter.
"""
from __future__ import annotations

from ..decode import Module

# DEFAULT_ASYNCIFY_IMPORTS of emcc.py 2.0.0–3.1.34, and `__async: true` library functions of
# src/library*.js / src/lib/*.js in 3.1.40–6.0.8 (grep `NAME__async: true`).
LIBRARY_ASYNC = (
    "emscripten_sleep", "emscripten_wget", "emscripten_wget_data", "emscripten_idb_load", "emscripten_idb_store",
    "emscripten_idb_delete", "emscripten_idb_exists", "emscripten_idb_clear", "emscripten_idb_load_blob",
    "emscripten_idb_store_blob", "SDL_Delay", "emscripten_scan_registers", "emscripten_lazy_load_code",
    "emscripten_fiber_swap", "__load_secondary_module", "_load_secondary_module", "fd_sync", "__wasi_fd_sync",
    "_emval_await", "_dlopen_js", "_emscripten_dlsync_threads", "emscripten_promise_await",
    "emscripten_promise_await_unchecked", "__syscall_poll", "__syscall_epoll_pwait", "_wasmfs_opfs_*",
)
ASYNC_JS = "env.__asyncjs__*"
TRAMPOLINES = "env.invoke_*"

_IMPORT_PREFIXES = ("emscripten_", "_emscripten_", "__syscall_", "__asyncjs__", "invoke_", "_embind_", "_emval_",
                    "__cxa_", "_tzset_js", "_mmap_js", "_abort_js", "__wasi_")
_EXPORTS = ("stackSave", "stackRestore", "stackAlloc", "_emscripten_stack_restore", "_emscripten_stack_alloc",
            "emscripten_stack_get_current", "emscripten_stack_get_end", "emscripten_stack_init", "__errno_location",
            "_emscripten_timeout", "emscripten_builtin_memalign")


def detect(module: Module) -> list[str]:
    """Signs that Emscripten made this binary (empty: not Emscripten, or minified beyond recognition)."""
    signs = [f"import {f.import_key}" for f in module.functions
             if f.import_module == "env" and (f.import_name or "").startswith(_IMPORT_PREFIXES)][:3]
    signs += [f"export {e.name}" for e in module.exports if e.name in _EXPORTS][:2]
    if any(name == "producers" for name, _, _ in module.custom_sections) and b"Emscripten" in _producers(module):
        signs.append("producers section: Emscripten")
    return signs


def _producers(module: Module) -> bytes:
    for name, start, size in module.custom_sections:
        if name == "producers":
            return module.span(start, size)
    return b""


def qualify(pattern: str) -> str:
    """emcc's get_full_import_name: a bare name is in module `env`."""
    return pattern if "." in pattern else "env." + pattern


def added_patterns(trampolines_async: bool) -> list[str]:
    """What emcc adds to the user's ASYNCIFY_IMPORTS (invoke_* only when indirect calls count)."""
    return ([TRAMPOLINES] if trampolines_async else []) + [ASYNC_JS] + [f"*.{n}" for n in LIBRARY_ASYNC]
