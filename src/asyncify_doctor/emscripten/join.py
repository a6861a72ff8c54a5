"""A Glue joined with the binary it belongs to: which of the binary's imports the glue takes as async
and why, what JSPI wraps, minified names mapped back; and the comparisons with what the binary's own
instrumentation says (`compare_async`) and with what can suspend (`compare_wraps`). Pure functions
over data: nothing is printed, nothing read from disk.

Matching follows Emscripten's code (library_async.js instrumentWasmImports): the glue tests an
import's *field* name against ASYNCIFY_IMPORTS with the module dropped (`x.split('.')[1]`), so
`fd_close` in the list — which emcc gave Binaryen as `env.fd_close` (get_full_import_name, emcc.py /
tools/link.py) — also names `wasi_snapshot_preview1.fd_close` to the glue, though not to Binaryen.
When emcc minified the import names (module `a`, fields `a`, `b`, …) the field is first mapped back
to its real name through the import object; emcc never minifies them when the list is used at run
time (JSPI or ASSERTIONS: tools/link.py, MINIFY_WASM_IMPORTS_AND_EXPORTS, 6.0.8 l.1620–1640), so
matching the real name is the build's intent.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ..decode import Module
from .rules import LIBRARY_ASYNC
from .model import Glue, NameList

# wasi_snapshot_preview1's functions (WebAssembly/WASI, phases/snapshot/witx/wasi_snapshot_preview1.witx):
# an import emcc minified to `a.x` came from this module when its real name is one of these.
WASI = frozenset((
    "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get", "clock_time_get",
    "fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_get", "fd_fdstat_set_flags",
    "fd_fdstat_set_rights", "fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread",
    "fd_prestat_get", "fd_prestat_dir_name", "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber", "fd_seek",
    "fd_sync", "fd_tell", "fd_write", "path_create_directory", "path_filestat_get", "path_filestat_set_times",
    "path_link", "path_open", "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
    "path_unlink_file", "poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get", "sock_accept",
    "sock_recv", "sock_send", "sock_shutdown"))
WASI_MODULE = "wasi_snapshot_preview1"

ReasonKind = Literal["pattern", "emcc", "isAsync"]


@dataclass(frozen=True)
class Reason:
    """Why the glue takes an import as async: an ASYNCIFY_IMPORTS entry the user gave (`pattern`),
    one emcc adds itself (`emcc`: `invoke_*` unless ASYNCIFY_IGNORE_INDIRECT, `__asyncjs__*`, and up to
    3.1.45 its default list of async library functions), or a JS library function marked async
    (`isAsync`: `__async: true` in its library, 3.1.35 on)."""

    kind: ReasonKind
    detail: str


@dataclass(frozen=True)
class ImportFact:
    function: int
    key: str                 # module.name as the binary has it (`a.f` when minified)
    name: str                # module.name with the real names, where the glue maps a minified one
    js: str | None           # the JS function bound to it
    reasons: tuple[Reason, ...] = ()   # empty: the glue does not take it as async
    suspends: bool = False   # the JS bound to it reaches Asyncify.handleSleep / handleAsync
    bound: bool = False      # the glue's import object provides it
    name_known: bool = True  # False: minified, and the glue keeps no real name (closure): the lists cannot be matched

    @property
    def glue_async(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True)
class GlueFacts:
    """A Glue read against one binary."""

    glue: Glue
    imports: tuple[ImportFact, ...]                # every function import of the binary, in index order
    unmatched_entries: tuple[str, ...] = ()        # ASYNCIFY_IMPORTS entries that match no import of the binary
    wrapped_imports: tuple[int, ...] = ()          # JSPI: wrapped in WebAssembly.Suspending
    wrapped_exports: tuple[str, ...] = ()          # JSPI: wrapped with WebAssembly.promising
    unmatched_export_entries: tuple[str, ...] = () # JSPI_EXPORTS entries that match no function export
    js_exports: tuple[str, ...] = ()               # function exports the glue reads by name (JS calls them)
    export_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # minified → real
    unresolved: tuple[str, ...] = ()               # what the join could not do, one line each

    @property
    def async_imports(self) -> tuple[int, ...]:
        """Imports the glue takes as async (function indices)."""
        return tuple(f.function for f in self.imports if f.reasons)

    @property
    def import_patterns(self) -> tuple[str, ...]:
        """The same, as `module.name` patterns for `--imports` (as the binary names them)."""
        return tuple(f.key for f in self.imports if f.reasons)

    def fact(self, function: int) -> ImportFact | None:
        return next((f for f in self.imports if f.function == function), None)


def real_import_name(js: str) -> str:
    """The wasm import name behind a JS library function name: emscripten.py create_sending binds
    `asmjs_mangle(name)` (`_` + name), except EM_JS functions (`__asyncjs__x`, `__em_js__x`) and the
    `invoke_*` trampolines, bound as they are."""
    if js.startswith(("__asyncjs__", "__em_js__", "invoke_", "dynCall_")) or not js.startswith("_"):
        return js
    return js[1:]


def join(glue: Glue, module: Module) -> GlueFacts:
    """Read the glue against a decoded binary."""
    unresolved: list[str] = []
    bound_modules = set(glue.import_modules) or {"env", WASI_MODULE}
    if not glue.import_modules and glue.imports:
        unresolved.append("the glue's import object names no wasm module: taken as bound to env and "
                          "wasi_snapshot_preview1")
    facts = []
    lost = []
    for f in module.functions[:module.num_imported_functions]:
        fact, name_lost = _import_fact(glue, f.index, f.import_module or "", f.import_name or "", bound_modules)
        facts.append(fact)
        if name_lost:
            lost.append(fact.key)
    if lost:
        unresolved.append(f"{len(lost)} minified import(s) whose real name the glue does not keep "
                          f"({', '.join(lost[:6])}{', …' if len(lost) > 6 else ''}): ASYNCIFY_IMPORTS cannot be "
                          "matched to them, nor entries be called unmatched")
    if glue.import_list is not None and glue.import_list.unreadable:
        unresolved.append("ASYNCIFY_IMPORTS entries that are no regular expression Python reads: "
                          + ", ".join(glue.import_list.unreadable))
    fields = [f.name.split(".", 1)[1] for f in facts if f.bound]
    unmatched = _unmatched(glue.import_list, fields) if not lost else ()
    func_exports = [e.name for e in module.exports if e.kind == "func"]
    wrapped_exports, unmatched_exports = _wrapped_exports(glue, func_exports)
    wrapped_imports = tuple(f.function for f in facts if f.reasons and f.bound) if glue.jspi else ()
    js_exports = tuple(e for e in func_exports if e in glue.exports)
    names = _export_names(glue, [e.name for e in module.exports])
    absent = sorted(set(glue.exports) - {e.name for e in module.exports})
    dyncalls = [e for e in absent if e.startswith("dynCall_")]
    others = [e for e in absent if not e.startswith("dynCall_")]
    if dyncalls:
        unresolved.append(f"{len(dyncalls)} dynCall_* export(s) the glue reads are not in the binary (emcc's glue "
                          "reads one per signature it knows; the optimizer may have removed them)")
    if others:
        unresolved.append(f"{len(others)} export(s) the glue reads are not in the binary "
                          f"({', '.join(others[:6])}{', …' if len(others) > 6 else ''}): is it the glue of this build?")
    return GlueFacts(glue, tuple(facts), unmatched, wrapped_imports, wrapped_exports, unmatched_exports, js_exports,
                     MappingProxyType(names), tuple(unresolved))


def _import_fact(glue: Glue, index: int, module: str, field_: str, bound_modules: set[str]) -> tuple[ImportFact, bool]:
    key = f"{module}.{field_}"
    bound = module in bound_modules and (field_ in glue.imports or not glue.imports)
    js_import = glue.imports.get(field_) if module in bound_modules else None
    js = js_import.js if js_import is not None else None
    real_field, real_module, lost = field_, module, False
    if glue.minified_imports and module == "a":
        if js is not None and "." not in js and not glue.closure:
            real_field = real_import_name(js)
            real_module = WASI_MODULE if real_field in WASI else "env"
        else:
            real_module, lost = "a", True
    reasons: list[Reason] = []
    if module in bound_modules:
        if glue.import_list is not None and not lost:
            emcc_defaults = glue.import_list.style != "regex"
            reasons += [Reason("emcc" if _emcc_entry(e, emcc_defaults) else "pattern", e)
                        for e in glue.import_list.matching(real_field)]
        if js is not None and js in glue.async_functions:
            reasons.append(Reason("isAsync", js))
    suspends = js_import.suspends if js_import is not None else False
    return ImportFact(index, key, f"{real_module}.{real_field}", js, tuple(reasons), suspends, bound, not lost), lost


def _emcc_entry(entry: str, defaults: bool) -> bool:
    """Entries emcc adds to ASYNCIFY_IMPORTS itself (tools/link.py / emcc.py): `invoke_*` (unless
    ASYNCIFY_IGNORE_INDIRECT), `__asyncjs__*` (DEFAULT_ASYNCIFY_IMPORTS), and, while it listed them
    there (up to 3.1.45, before ASYNCIFY_IMPORTS_EXCEPT_JS_LIBS), its async library functions."""
    bare = entry.replace(".*", "*")
    if bare in ("invoke_*", "__asyncjs__*"):
        return True
    return defaults and any(fnmatch.fnmatchcase(bare, p) for p in LIBRARY_ASYNC)


def _unmatched(names: NameList | None, fields: list[str]) -> tuple[str, ...]:
    if names is None:
        return ()
    hit = {e for f in fields for e in names.matching(f)}
    listed = list(names.entries) + [p + "*" for p in names.prefixes]
    return tuple(e for e in listed if e not in hit)


def _wrapped_exports(glue: Glue, func_exports: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """instrumentWasmExports under JSPI: `exportPattern.test(x)` on every function export."""
    if not glue.jspi:
        return (), ()
    if glue.wraps_all_exports:
        return tuple(func_exports), ()
    if glue.export_list is None:
        return (), ()
    wrapped = tuple(e for e in func_exports if glue.export_list.matches(e))
    return wrapped, _unmatched(glue.export_list, func_exports)


def _export_names(glue: Glue, exports: list[str]) -> dict[str, str]:
    """Minified export → its real name, when emcc minified the exports (most of the glue's exports
    then have a JS name other than their wasm name)."""
    named = {e: glue.exports[e].name for e in exports if e in glue.exports}
    differ = [e for e, n in named.items() if n is not None and n != e]
    if len(differ) * 2 <= len([n for n in named.values() if n is not None]):
        return {}
    return {e: named[e] for e in differ}  # type: ignore[misc]


# --- comparisons ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportMismatch:
    function: int
    key: str                  # as the binary names it
    name: str                 # real module.name
    reasons: tuple[Reason, ...]   # why the glue takes it as async (empty: it does not)
    callers: int              # instrumented callers (not checking after it, or checking, as the list says)
    fix: str                  # the ASYNCIFY_IMPORTS entry that makes the binary and the glue agree


@dataclass(frozen=True)
class AsyncComparison:
    """The glue's async imports against the binary's instrumentation (recognize: instrumented code
    checks for an unwind after a call the build took as async, and only then)."""

    glue_only: tuple[ImportMismatch, ...]     # glue: async; instrumented callers never check after it
    unconfirmed: tuple[ImportMismatch, ...]   # glue: async; no instrumented code calls it: the binary does not say
    binary_only: tuple[ImportMismatch, ...]   # instrumented callers check after it; the glue does not take it as async
    agreed: tuple[int, ...]
    unmatched_entries: tuple[str, ...]
    unknown: tuple[ImportMismatch, ...] = ()  # checked by the binary, but their names are lost: the glue cannot say
    glue_states: bool = True   # False: the glue carries no ASYNCIFY_IMPORTS and marks nothing async: nothing to compare


def compare_async(facts: GlueFacts, checked: Mapping[int, int], unchecked: Mapping[int, int]) -> AsyncComparison:
    """`checked` / `unchecked`: callee → instrumented callers that do / do not check for an unwind after
    calling it (`AsyncifyBuild.checked` / `.unchecked`). The fix for a disagreement is always the
    import's real `module.name`: emcc keeps an entry with a module as it is, while a bare name means
    `env.NAME` to Binaryen but any module's NAME to the glue."""
    glue_only: list[ImportMismatch] = []
    unconfirmed: list[ImportMismatch] = []
    binary_only: list[ImportMismatch] = []
    unknown: list[ImportMismatch] = []
    agreed: list[int] = []
    states = facts.glue.import_list is not None or bool(facts.glue.async_functions)
    for f in facts.imports:
        if f.reasons:
            if checked.get(f.function):
                agreed.append(f.function)
            elif unchecked.get(f.function):
                glue_only.append(ImportMismatch(f.function, f.key, f.name, f.reasons, unchecked[f.function], f.name))
            else:
                unconfirmed.append(ImportMismatch(f.function, f.key, f.name, f.reasons, 0, f.name))
        elif checked.get(f.function):
            mismatch = ImportMismatch(f.function, f.key, f.name, (), checked[f.function], f.name)
            (binary_only if f.name_known and states else unknown).append(mismatch)
    return AsyncComparison(tuple(glue_only), tuple(unconfirmed), tuple(binary_only), tuple(agreed),
                           facts.unmatched_entries, tuple(unknown), states)



@dataclass(frozen=True)
class WrapComparison:
    """JSPI: the glue's WebAssembly.promising wraps against the exports that can suspend."""

    wrapped: tuple[str, ...]
    missing: tuple[str, ...]       # can suspend, JS calls it (the glue reads it by name), not wrapped: SuspendError
    needless: tuple[str, ...]      # wrapped, cannot suspend
    not_from_js: tuple[str, ...]   # can suspend, not wrapped, and the glue never names it (wasm-to-wasm callers)


def compare_wraps(facts: GlueFacts, suspending_exports: Iterable[str]) -> WrapComparison:
    suspending = set(suspending_exports)
    wrapped = set(facts.wrapped_exports)
    from_js = set(facts.js_exports)
    return WrapComparison(facts.wrapped_exports,
                          tuple(sorted((suspending - wrapped) & from_js)),
                          tuple(sorted(wrapped - suspending)),
                          tuple(sorted(suspending - wrapped - from_js)))
