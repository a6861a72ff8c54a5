"""What the JS glue says, as typed, immutable records (`read_glue` makes them, `join` reads them).

Names follow Emscripten's: the *import object* is the JS object whose properties the wasm imports
are resolved from (`wasmImports`, `asmLibraryArg` before 3.1.4x); its keys are import *field*
names, shared by every module bound to it (`env` and `wasi_snapshot_preview1` both get the same
object, so the glue matches field names and never `module.name`). ASYNCIFY_IMPORTS and JSPI_EXPORTS
(alias ASYNCIFY_EXPORTS) are the settings the glue carries as name lists.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Mode = Literal["asyncify", "jspi", "none"]
ListStyle = Literal["regex", "regex-list", "exact"]

EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class Evidence:
    """Where the glue says something: 1-based line and a short excerpt of the code."""

    line: int
    text: str


@dataclass(frozen=True)
class NameList:
    """A list of names the glue matches wasm field names (imports) or export names against, read
    exactly as the glue's code matches them:

    - `regex` (Emscripten 3.1.46+): one literal `/^(a|b|c.*)$/`, `.test(name)`; `*` became `.*`.
    - `regex-list` (3.1.38–3.1.45): an array of literals `[/^a$/, /^c.*$/]`, any `.match(name)`.
    - `exact` (up to 3.1.37): an array of strings, `indexOf(name) >= 0`: a `*` is a literal
      character there, so wildcard entries match nothing in JS (emscripten #19280); up to 3.1.37 the
      import side also takes every name starting with `__asyncjs__` (`prefixes`).

    `entries` are the alternatives as the glue writes them, deduplicated in order (`duplicates`
    counts the repeats); `qualified` holds the `module.name` entries where the glue still has them
    (up to 3.1.30 it splits them at run time)."""

    style: ListStyle
    entries: tuple[str, ...]
    where: Evidence
    duplicates: int = 0
    qualified: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    _compiled: tuple[re.Pattern[str] | None, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled: list[re.Pattern[str] | None] = []
        for e in self.entries:
            if self.style == "exact":
                compiled.append(re.compile(re.escape(e)))
                continue
            try:
                compiled.append(re.compile(e))
            except re.error:
                compiled.append(None)
        object.__setattr__(self, "_compiled", tuple(compiled))

    @property
    def unreadable(self) -> tuple[str, ...]:
        """Entries no regular expression could be made of (reported, never guessed)."""
        return tuple(e for e, c in zip(self.entries, self._compiled) if c is None)

    def matching(self, name: str) -> tuple[str, ...]:
        """The entries (and `prefix*` for a hard-coded prefix) that match `name`."""
        hits = tuple(e for e, c in zip(self.entries, self._compiled) if c is not None and c.fullmatch(name))
        return hits + tuple(p + "*" for p in self.prefixes if name.startswith(p))

    def matches(self, name: str) -> bool:
        return bool(self.matching(name))


@dataclass(frozen=True)
class JsImport:
    """One property of the import object: the wasm field name and what JS binds to it."""

    field: str
    js: str | None          # the JS name bound to it (`_emscripten_sleep`); None: defined in place or renamed
    inline: bool = False    # the glue defines the function right there (closure): it keeps no name
    suspends: bool = False  # its code reaches Asyncify.handleSleep / handleAsync (read in its text)


@dataclass(frozen=True)
class JsExport:
    """One wasm export the glue reads by name, and the JS names it assigns it to."""

    export: str
    js_names: tuple[str, ...]       # `_malloc` (a variable), `Module._malloc` (a Module property)
    where: Evidence

    @property
    def name(self) -> str | None:
        """The export's unminified name: the Module property or variable without Emscripten's `_`
        (asmjs_mangle, tools/shared.py: `_` + name except dynCall_*, orig$*, internal symbols);
        None when the glue keeps no JS name."""
        for js in self.js_names:
            bare = js.split(".", 1)[1] if js.startswith("Module.") else js
            if bare.startswith(("dynCall_", "orig$")):
                return bare
            if bare.startswith("_"):
                return bare[1:]
        return None


@dataclass(frozen=True)
class TableAccess:
    """Whether JS can put the module's own wasm functions into its table (Emscripten's
    `addFunction` stores a wasm function as it is, and a JS function wrapped; dynamic linking puts
    exported functions there for `GOT.func`). None: the glue does not let us tell."""

    can_add_wasm_functions: bool | None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Glue:
    """What one Emscripten JS glue file says about its wasm binary."""

    path: str
    size: int
    mode: Mode
    mode_evidence: tuple[Evidence, ...] = ()
    version: str | None = None              # only when the glue states it (Emscripten itself never does)
    era: tuple[str, str | None] | None = None   # (first, last) Emscripten release whose code the glue's constructs match
    era_evidence: tuple[str, ...] = ()
    closure: bool = False                   # closure-compiled: Asyncify's property names are renamed
    import_list: NameList | None = None     # ASYNCIFY_IMPORTS as the glue matches them
    export_list: NameList | None = None     # JSPI_EXPORTS (JSPI only)
    wraps_all_exports: bool = False         # JSPI 3.1.13–3.1.25: every function export is wrapped
    async_marker: str | None = None         # the property the glue reads: `isAsync`, or its closure name
    async_functions: tuple[str, ...] = ()   # JS functions marked async (`_fd_sync.isAsync = true`)
    suspending_functions: tuple[str, ...] = ()   # JS functions whose code calls Asyncify.handleSleep/handleAsync
    import_modules: tuple[str, ...] = ()    # wasm modules bound to the import object
    imports: Mapping[str, JsImport] = field(default_factory=lambda: EMPTY)
    exports: Mapping[str, JsExport] = field(default_factory=lambda: EMPTY)
    table: TableAccess = TableAccess(None)
    unread: tuple[str, ...] = ()            # one line each: what could not be read

    @property
    def jspi(self) -> bool:
        return self.mode == "jspi"

    @property
    def minified_imports(self) -> bool:
        """Emscripten minified the import names (module `a`, fields `a`, `b`, …)."""
        return self.import_modules == ("a",)
