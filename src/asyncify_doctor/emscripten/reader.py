"""`read_glue(path) -> Glue`: what an Emscripten JS glue file says its wasm binary's imports and
exports are for. Every construct read here is one Emscripten generates; where each comes from (and
the releases that generate it) is cited at the reader of it. Sources: emscripten-core/emscripten,
src/library_async.js (src/lib/libasync.js from 4.0.2 on), src/jsifier.js(.mjs), tools/emscripten.py,
emcc.py / tools/link.py, src/preamble.js, at the release tags named. At 6.0.8: libasync.js:55
`importPattern`, :59 `original.isAsync || importPattern.test(x)`, :66 `new WebAssembly.Suspending`,
:162 `exportPattern`, :476 `WebAssembly.promising`; jsifier.mjs:855 `NAME.isAsync = true`;
emscripten.py:1117/1120 `wasmImports = {…}`; preamble.js:742–745 `'a'` or `'env'` and
`'wasi_snapshot_preview1'` bound to the one `wasmImports`.

The glue is read, never run. What cannot be read is said in `Glue.unread`, one line each.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from types import MappingProxyType

from ..errors import InputError
from ..system.inputs import read_input, text_head
from .js import (
    Node,
    Source,
    enclosing_function,
    function_name,
    key_text,
    property_access,
    string_value,
    unparen,
    up_to,
)
from .model import (
    Evidence,
    Glue,
    JsExport,
    JsImport,
    ListStyle,
    Mode,
    NameList,
    TableAccess,
)

GLUE_SUFFIXES = (".js", ".mjs", ".cjs")
IDENT = rb"(?<![\w$])[A-Za-z_$][\w$]*"   # anchored: no quadratic scans of long words


class GlueError(InputError):
    """A glue file that cannot be read at all (missing, a directory, a wasm binary, not text)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, None, message)


# --- Emscripten releases by construct (each checked at the tags in library_async.js) -----------

# instrumentWasmImports' list of ASYNCIFY_IMPORTS:
#  2.0.0–3.1.1   `var ASYNCIFY_IMPORTS = [...].map(function(x) { return x.split('.')[1]; })`
#  3.1.2–3.1.30  `var ASYNCIFY_IMPORTS = [...].map((x) => x.split('.')[1])` (module.name entries)
#  3.1.31–3.1.34 `var ASYNCIFY_IMPORTS = ["name", ...]` (split by emcc) and `indexOf(x) >= 0`
#  3.1.35–3.1.37 the same, `original.isAsync ||` first (jsifier marks `__async` library functions)
#  3.1.38–3.1.45 `var importPatterns = [/^name$/, ...]`, `x.match(pattern)` (commit f642503af8)
#  3.1.46–       `var importPattern = /^(a|b|c.*)$/`, from ASYNCIFY_IMPORTS_EXCEPT_JS_LIBS
# Up to 3.1.12 the whole function is `#if ASSERTIONS`; from 3.1.13 it is always emitted.
ERA_IMPORTS = {"exact-qualified": ("2.0.0", "3.1.30"), "exact": ("3.1.31", "3.1.34"),
               "exact-isAsync": ("3.1.35", "3.1.37"), "regex-list": ("3.1.38", "3.1.45"), "regex": ("3.1.46", None)}
# instrumentWasmExports under JSPI (ASYNCIFY == 2):
#  3.1.13–3.1.25 every function export is wrapped ("TODO: wrap only async functions")
#  3.1.26–3.1.41 `var ASYNCIFY_EXPORTS = [...]`, indexOf
#  3.1.42–3.1.45 `var exportPatterns = [/^name$/, ...]` (commit 9052744042)
#  3.1.46–       `var exportPattern = /^(a|b)$/`
ERA_EXPORTS = {"all": ("3.1.13", "3.1.25"), "exact": ("3.1.26", "3.1.41"), "regex-list": ("3.1.42", "3.1.45"),
               "regex": ("3.1.46", None)}
# how JSPI wraps: Suspender.suspendOnReturnedPromise / returnPromiseOnSuspend (3.1.13–3.1.21),
# `new WebAssembly.Function(type, f, {suspending: 'first'})` / `{promising: 'first'}` (3.1.22–3.1.60),
# `new WebAssembly.Suspending(f)` / `WebAssembly.promising(f)` (3.1.61–, commit 4d22ffe526).
ERA_JSPI = {"suspender": ("3.1.13", "3.1.21"), "function-first": ("3.1.22", "3.1.60"), "suspending": ("3.1.61", None)}

IMPORT_LIST_NAMES = frozenset({"importPattern", "importPatterns", "ASYNCIFY_IMPORTS"})
EXPORT_LIST_NAMES = frozenset({"exportPattern", "exportPatterns", "ASYNCIFY_EXPORTS"})


def find_glue(wasm: str | os.PathLike[str]) -> Path | None:
    """The glue Emscripten wrote beside a `.wasm`: `STEM.js`, `.mjs` or `.cjs` in its directory.
    Failing that, one in the parent directory that names the `.wasm` file (packages that keep
    builds in a versioned subdirectory, as @php-wasm's `jspi/php_8_3.js` → `jspi/8_3_33/php_8_3.wasm`)."""
    w = Path(wasm)
    for folder, must_name in ((w.parent, False), (w.parent.parent, True)):
        for suffix in GLUE_SUFFIXES:
            cand = folder / (w.stem + suffix)
            if cand.is_file() and (not must_name or _names_file(cand, w.name)):
                return cand
    return None


def _names_file(glue: Path, name: str) -> bool:
    try:
        with glue.open("rb") as f:
            return name.encode() in f.read(1 << 16)
    except OSError:
        return False


def read_glue(path: str | os.PathLike[str]) -> Glue:
    """Read one glue file. Raises GlueError when the file cannot be read as text at all; anything
    short of that gives a Glue whose `unread` says what was not there to read."""
    p = Path(path)
    data = read_input(p, _glue_error, head=_glue_head)
    if data.startswith(b"\0asm"):
        raise GlueError(str(p), "is a wasm binary, not its JS glue (the .js/.mjs/.cjs file emcc wrote beside it)")
    head = data[:1 << 16]
    if head.count(b"\0") > len(head) // 100:
        raise GlueError(str(p), "is not text: not a JS glue file")
    return _Reader(str(p), data).read()


def _glue_error(path: str, why: str) -> GlueError:
    if why == "cannot read: Is a directory":
        why = "is a directory, not a JS glue file"
    elif why.startswith("cannot read:"):
        why = "cannot read the glue:" + why[len("cannot read:"):]
    return GlueError(path, why)


def _glue_head(data: bytes) -> str | None:
    """A glue streamed from a pipe or device: a binary is refused before reading on."""
    if data.startswith(b"\0asm"):
        return None   # read_glue says what it is
    return text_head(data)


class _Reader:
    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self.src = Source(data)
        self.unread: list[str] = []
        self.era: list[tuple[str, tuple[str, str | None]]] = []

    # --- the whole ----------------------------------------------------------------------------

    def read(self) -> Glue:
        src = self.src
        if src.root.has_error:
            self.unread.append(f"the JS does not parse cleanly ({_error_count(src.root)} syntax error(s)): "
                               "facts are read from the rest")
        # closure renames every runtime name; emcc's own minifier (MINIFY_WASM_IMPORTS_AND_EXPORTS)
        # renames only the wasm-side names, so these stay in its glue
        closure = not any(n.type == "identifier" for _, n in src.find(
            rb"(?<![\w$])(?:wasmImports|asmLibraryArg|wasmExports|createWasm|wasmMemory|receiveInstance)(?![\w$])"))
        lists = self._find_lists()
        import_fn = next((fn for role, _, fn, _ in lists if role == "imports"), None)
        mode, mode_ev = self._mode(import_fn)
        import_list, export_list, marker, wraps_all = self._choose(lists, mode)
        if marker is None and self._has(rb"\.isAsync\s*=\s*(?:true|!0)\b"):
            marker = "isAsync"
        async_functions = self._async_functions(marker) if marker else ()
        suspending = self._suspending_functions()
        modules, imports = self._import_object(suspending)
        exports = self._exports(closure)
        table = self._table(closure)
        self._say_missing(mode, closure, import_list is None, export_list is None and not wraps_all, imports, exports)
        if mode == "none" and not imports and not exports:
            parse = [line for line in self.unread if line.startswith("the JS does not parse")]
            return Glue(self.path, len(src.data), "none", unread=tuple(parse) + (
                "not Emscripten glue: no import object, no wasm exports and no Asyncify code found",))
        return Glue(self.path, len(src.data), mode, mode_ev, self._version(), self._era(), tuple(e for e, _ in self.era),
                    closure, import_list, export_list, wraps_all, marker, async_functions, tuple(sorted(suspending)), modules,
                    MappingProxyType(imports), MappingProxyType(exports), table, tuple(self.unread))

    def _say_missing(self, mode: Mode, closure: bool, no_imports_list: bool, no_exports_list: bool,
                     imports: dict[str, JsImport], exports: dict[str, JsExport]) -> None:
        """One line for each thing an Emscripten glue should have and this one lacks."""
        if mode == "none":
            return
        if no_imports_list:
            self.unread.append("the glue carries no ASYNCIFY_IMPORTS list: " + (
                "closure removed Asyncify.instrumentWasmImports" if closure else
                "Emscripten up to 3.1.12 emits it only with ASSERTIONS, or the build post-processed it away"))
        if not imports:
            self.unread.append("no import object found (`wasmImports`, `asmLibraryArg` or one bound to env / a): "
                               "import names cannot be mapped to JS functions")
        if not exports:
            self.unread.append("no export map found (`wasmExports[…]`, `asm[…]`, createExportWrapper or Module "
                               "properties): which exports JS calls cannot be read")
        if mode == "jspi" and no_exports_list:
            self.unread.append("JSPI glue without a JSPI_EXPORTS list: which exports it wraps cannot be read")

    def _has(self, pattern: bytes) -> bool:
        return next(self.src.find(pattern), None) is not None

    def _ev(self, node: Node) -> Evidence:
        return Evidence(self.src.line(node), self.src.excerpt(node))

    # --- Asyncify or JSPI ----------------------------------------------------------------------

    _JSPI_APIS = (
        ("suspending", rb"new\s+WebAssembly\s*\.\s*Suspending\s*\("),
        ("suspending", rb"WebAssembly\s*\.\s*promising\s*\("),
        ("function-first", rb"\bsuspending\s*:\s*[\"']first[\"']"),
        ("function-first", rb"\bpromising\s*:\s*[\"']first[\"']"),
        ("suspender", rb"\.\s*suspendOnReturnedPromise\s*\("),
        ("suspender", rb"\.\s*returnPromiseOnSuspend\s*\("),
    )

    def _mode(self, import_fn: Node | None) -> tuple[Mode, tuple[Evidence, ...]]:
        """JSPI when instrumentWasmImports wraps imports with a JSPI API; Asyncify when it does not
        (or, without that function, when the glue has Asyncify's unwind/rewind runtime). Only code
        counts, not strings: PHP's own Asyncify glue tests `'Suspending' in WebAssembly`."""
        ev: list[Evidence] = []
        span = (import_fn.start_byte, import_fn.end_byte) if import_fn is not None else (0, len(self.src.data))
        for era, pat in self._JSPI_APIS:
            for m, node in self.src.find(pat):
                if not span[0] <= m.start() < span[1]:
                    continue
                ev.append(self._ev(up_to(node, {"new_expression", "call_expression", "pair"}) or node))
                self.era.append((f"JSPI API `{' '.join(m.group(0).decode().split())}`", ERA_JSPI[era]))
                break
        if ev:
            return "jspi", tuple(ev)
        if import_fn is not None:
            return "asyncify", (self._ev(_statement(import_fn)),)
        # Asyncify.handleSleep aborts with `invalid state: ` (every release, Asyncify proper); the
        # runtime calls the asyncify_* exports by name unless they are minified.
        for pat in (rb"invalid state: ", rb"\b_?asyncify_start_unwind\b", rb"\bAsyncify\s*=\s*\{"):
            for m in re.finditer(pat, self.src.data):
                hit = self.src.node_at(m.start(), m.end())
                if hit is not None:
                    ev.append(self._ev(up_to(hit, {"call_expression", "assignment_expression",
                                                   "variable_declarator"}) or hit))
                    break
        return ("asyncify", tuple(ev[:2])) if ev else ("none", ())

    # --- ASYNCIFY_IMPORTS and JSPI_EXPORTS -----------------------------------------------------

    def _find_lists(self) -> list[tuple[str | None, NameList, Node | None, str]]:
        """The lists in Asyncify.instrumentWasmImports / instrumentWasmExports, each with its role
        (told by names or, in closure-compiled glue where those are renamed, by what the function
        does), the function holding it and its kind."""
        lists: list[tuple[str | None, NameList, Node | None, str]] = []
        for regexes, holder, style in self._regex_lists():
            lists.append(self._regex_list(regexes, holder, style))
        for holder in self._exact_holders():
            got = self._exact_list(holder)
            if got is not None:
                lists.append(got)
        return lists

    def _choose(self, lists: list[tuple[str | None, NameList, Node | None, str]],
                mode: Mode) -> tuple[NameList | None, NameList | None, str | None, bool]:
        imports = exports = None
        marker = None
        for role, nl, fn, kind in lists:
            if role == "imports" and imports is None:
                imports = nl
                marker = self._marker(fn)
                self.era.append((f"ASYNCIFY_IMPORTS as {kind}", ERA_IMPORTS[_import_kind(kind, marker)]))
            elif role == "exports" and exports is None and mode == "jspi":
                exports = nl
                self.era.append((f"JSPI_EXPORTS as {kind}", ERA_EXPORTS[nl.style]))
            elif role is None:
                self.unread.append(f"line {nl.where.line}: a name list whose use could not be told: {nl.where.text}")
        wraps_all = mode == "jspi" and exports is None and self._wraps_all()
        if wraps_all:
            self.era.append(("JSPI wraps every export", ERA_EXPORTS["all"]))
        return imports, exports, marker, wraps_all

    def _regex_lists(self) -> list[tuple[list[Node], Node, ListStyle]]:
        """Regex literals `/^...$/` held by a variable (`importPattern = /^(…)$/`) or an array of them
        (`importPatterns = [/^a$/, …]`) inside a function."""
        out: list[tuple[list[Node], Node, ListStyle]] = []
        seen: set[int] = set()
        for m in re.finditer(rb"/\^", self.src.data):
            node = self.src.node_at(m.start(), m.start() + 2)
            rx = up_to(node, {"regex"}) if node is not None else None
            if rx is None or rx.start_byte != m.start() or rx.start_byte in seen:
                continue
            pattern = rx.child_by_field_name("pattern")
            fn = enclosing_function(rx)
            if pattern is None or not self.src.text(pattern).endswith("$") or fn is None or not _walks_object(self.src, fn):
                continue
            parent = rx.parent
            if parent is not None and parent.type == "array":
                elems = [c for c in parent.named_children]
                if all(c.type == "regex" for c in elems):
                    seen.update(c.start_byte for c in elems)
                    out.append((elems, parent, "regex-list"))
                continue
            seen.add(rx.start_byte)
            out.append(([rx], rx, "regex"))
        return out

    def _regex_list(self, regexes: list[Node], holder: Node, style: ListStyle) -> tuple[str | None, NameList, Node | None, str]:
        entries: list[str] = []
        for rx in regexes:
            pat = self.src.text(rx.child_by_field_name("pattern"))  # type: ignore[arg-type]
            inner = pat[1:-1]
            if style == "regex" and inner.startswith("(") and inner.endswith(")") and _balanced(inner[1:-1]):
                entries += _split_alternatives(inner[1:-1])
            else:
                entries.append(inner)
        nl = _name_list(style, entries, self._ev(_statement(holder)))
        role, fn = self._role(holder)
        return role, nl, fn, style

    def _exact_holders(self) -> list[Node]:
        """`var ASYNCIFY_IMPORTS = [...]` / `var ASYNCIFY_EXPORTS = [...]` (Emscripten up to 3.1.41)."""
        out = []
        for _, node in self.src.find(rb"(?<![\w$])ASYNCIFY_(?:IM|EX)PORTS\s*=\s*\[", 0):
            decl = up_to(node, {"variable_declarator", "assignment_expression"})
            if decl is not None:
                out.append(decl)
        return out

    def _exact_list(self, decl: Node) -> tuple[str | None, NameList, Node | None, str] | None:
        value = decl.child_by_field_name("value") or decl.child_by_field_name("right")
        if value is None:
            return None
        mapped = False
        if value.type == "call_expression":          # [...].map((x) => x.split('.')[1])
            callee = value.child_by_field_name("function")
            acc = property_access(self.src, callee) if callee is not None else None
            if acc is None or acc[1] != "map" or acc[0].type != "array":
                self.unread.append(f"line {self.src.line(decl)}: ASYNCIFY list in an unknown form: {self.src.excerpt(decl)}")
                return None
            value, mapped = acc[0], True
        if value.type != "array":
            return None
        names = [string_value(self.src, c) for c in value.named_children]
        if any(n is None for n in names):
            self.unread.append(f"line {self.src.line(decl)}: ASYNCIFY list with entries that are not strings")
            return None
        qualified = tuple(n for n in names if n is not None) if mapped else ()
        entries = [q.split(".")[1] for q in qualified if "." in q] if mapped else [n for n in names if n is not None]
        if mapped and len(entries) < len(qualified):
            self.unread.append(f"line {self.src.line(decl)}: list entries without a module ({', '.join(q for q in qualified if '.' not in q)}): "
                               "JS splits them to `undefined`, matching nothing")
        role, fn = self._role(decl)
        prefixes: tuple[str, ...] = ()
        # up to 3.1.37 instrumentWasmImports also takes `x.startsWith('__asyncjs__')`
        if role == "imports" and fn is not None and re.search(r"startsWith\(\s*[\"']__asyncjs__[\"']\s*\)", self.src.text(fn)):
            prefixes = ("__asyncjs__",)
        nl = _name_list("exact", entries, self._ev(_statement(decl)), qualified, prefixes)
        return role, nl, fn, "exact-qualified" if mapped else "exact"

    def _role(self, holder: Node) -> tuple[str | None, Node | None]:
        """imports or exports: by the variable's or the method's name; failing that (closure) by what
        the function does: wrapping in Suspending, or reading `f.isAsync || …`, is the import side;
        wrapping with promising is the export side."""
        fn = enclosing_function(holder)
        decl = up_to(holder, {"variable_declarator", "assignment_expression"})
        var = None
        if decl is not None and enclosing_function(decl) == fn:
            name = decl.child_by_field_name("name") or decl.child_by_field_name("left")
            var = self.src.text(name) if name is not None else None
        fname = function_name(self.src, fn) if fn is not None else None
        if var in IMPORT_LIST_NAMES or fname == "instrumentWasmImports":
            return "imports", fn
        if var in EXPORT_LIST_NAMES or fname == "instrumentWasmExports":
            return "exports", fn
        body = self.src.text(fn) if fn is not None else ""
        if re.search(r"Suspending|suspending|suspendOnReturnedPromise", body):
            return "imports", fn
        if re.search(r"promising|returnPromiseOnSuspend", body):
            return "exports", fn
        if re.search(r"[\w$]\.[\w$]+\s*\|\|", body) and "typeof" in body:
            return "imports", fn
        return None, fn

    def _marker(self, fn: Node | None) -> str | None:
        """The property instrumentWasmImports reads on each import first: `original.isAsync ||`
        (3.1.35+; closure renames it)."""
        if fn is None:
            return None
        m = re.search(r"([A-Za-z_$][\w$]*)\.([A-Za-z_$][\w$]*)\s*\|\|", self.src.text(fn))
        return m.group(2) if m else None

    def _wraps_all(self) -> bool:
        """JSPI 3.1.13–3.1.25: instrumentWasmExports wraps every function export, no list."""
        for _, node in self.src.find(rb"(?<![\w$])instrumentWasmExports\s*[:(]"):
            fn = up_to(node, {"method_definition", "pair"})
            if fn is not None and re.search(r"returnPromiseOnSuspend|promising", self.src.text(fn)):
                return True
        return False

    # --- JS functions marked async ---------------------------------------------------------------

    def _async_functions(self, marker: str) -> tuple[str, ...]:
        """`_emscripten_sleep.isAsync = true;` — jsifier writes it after every library function
        marked `__async` (src/jsifier.js, 3.1.35 on); closure keeps the statement, renamed."""
        names = set()
        pat = rb"\.\s*" + re.escape(marker.encode()) + rb"\s*=\s*(?:true|!0)\b"
        for m, node in self.src.find(pat):
            span = self.src.ident_before(m.start())
            assign = up_to(node, {"assignment_expression"})
            if span is not None and assign is not None and assign.start_byte == span[0]:
                names.add(self.src.data[span[0]:span[1]].decode())
        return tuple(sorted(names))

    # --- the import object -------------------------------------------------------------------------

    def _suspending_functions(self) -> set[str]:
        """JS functions whose own code calls Asyncify.handleSleep / handleAsync (library functions
        such as `_emscripten_sleep = (ms) => Asyncify.handleSleep(…)`), by the name they are defined
        under; in closure-compiled glue both names are renamed and nothing is found."""
        names = set()
        for _, node in self.src.find(rb"(?<![\w$])handle(?:Sleep|Async)(?![\w$])"):
            if node.type not in ("property_identifier", "identifier"):
                continue
            parent = node.parent
            if parent is not None and parent.type == "pair":    # `handleSleep: (startAsync) => …`: the definition
                continue
            fn = enclosing_function(node)
            name = function_name(self.src, fn) if fn is not None else None
            if name and name not in ("handleSleep", "handleAsync"):
                names.add(name)
        return names

    def _import_object(self, suspending: set[str]) -> tuple[tuple[str, ...], dict[str, JsImport]]:
        """The object every wasm import is resolved from, and the modules bound to it:
        `{'env': wasmImports, 'wasi_snapshot_preview1': wasmImports}`, or `{a: wasmImports}` when
        emcc minified the module names (preamble.js getWasmImports / createWasm); its literal is
        `var wasmImports = {…}` (`asmLibraryArg` before 3.1.3x; emscripten.py create_sending)."""
        binds: dict[str, set[str]] = {}
        for m, node in self.src.find(rb"[{,]\s*[\"']?(env|wasi_snapshot_preview1|a)[\"']?\s*:\s*(" + IDENT + rb")(?=\s*[,}])", 2):
            pair = up_to(node, {"pair"})
            obj = pair.parent if pair is not None else None
            if obj is None or obj.type != "object":
                continue
            module, value = m.group(1).decode(), m.group(2).decode()
            if module == "a" and obj.named_child_count != 1:
                continue   # `{a: x}` alone is the minified import object; `{a: 1, b: 2}` is not
            binds.setdefault(value, set()).add(module)
        best: tuple[int, str, Node] | None = None
        for name in list(binds) + ["wasmImports", "asmLibraryArg"]:
            obj = self._object_of(name)
            if obj is not None and (best is None or obj.named_child_count > best[0]):
                best = (obj.named_child_count, name, obj)
        if best is None:
            return (), {}
        _, name, obj = best
        modules = tuple(sorted(binds.get(name, set()), key=lambda s: (s != "env", s)))
        if not modules:
            self.unread.append(f"the import object {name} is not bound to a wasm module the glue names")
        return modules, self._import_entries(obj, suspending)

    def _object_of(self, name: str) -> Node | None:
        """The largest object literal assigned to `name` (`var name = {…}` or `name = {…}`)."""
        best = None
        pat = rb"(?<![\w$.])" + re.escape(name.encode()) + rb"\s*=\s*\{"
        for _m, node in self.src.find(pat, 0):
            decl = up_to(node, {"variable_declarator", "assignment_expression"})
            value = decl and (decl.child_by_field_name("value") or decl.child_by_field_name("right"))
            if value is not None and value.type == "object" and (best is None or value.named_child_count > best.named_child_count):
                best = value
        return best

    def _import_entries(self, obj: Node, suspending: set[str]) -> dict[str, JsImport]:
        out: dict[str, JsImport] = {}
        for child in obj.named_children:
            if child.type == "shorthand_property_identifier":       # { __asyncjs__foo, … }
                name = self.src.text(child)
                out[name] = JsImport(name, name, False, name in suspending)
                continue
            if child.type == "method_definition":
                key = key_text(self.src, child.child_by_field_name("name"))
                if key is not None:
                    out[key] = JsImport(key, None, True, _suspends(self.src.text(child)))
                continue
            if child.type != "pair":
                continue
            key = key_text(self.src, child.child_by_field_name("key"))
            value = child.child_by_field_name("value")
            if key is None or value is None:
                continue
            value = unparen(value)
            if value.type == "identifier":
                js = self.src.text(value)
                out[key] = JsImport(key, js, False, js in suspending)
            elif value.type in ("function_expression", "arrow_function", "function"):
                out[key] = JsImport(key, None, True, _suspends(self.src.text(value)))
            else:
                acc = property_access(self.src, value)
                out[key] = JsImport(key, f"{self.src.text(acc[0])}.{acc[1]}" if acc else None,
                                    False, _suspends(self.src.text(value)))
        return out

    # --- the exports ---------------------------------------------------------------------------------

    def _exports(self, closure: bool) -> dict[str, JsExport]:
        """Each wasm export the glue reads by name, with the JS names it is assigned to:
        `_malloc = Module['_malloc'] = wasmExports['malloc']` (emscripten.py create_receiving, 3.1.4x
        on; `Module['asm']['malloc']` / `asm['malloc']` before), `createExportWrapper('malloc')` with
        ASSERTIONS; in closure-compiled glue `d._malloc = b.w`, where only Module properties keep names."""
        found: dict[str, JsExport] = {}
        key = rb"\s*\[\s*[\"']([^\"'\\]+)[\"']\s*\]"
        named = [hit for obj in (rb"wasmExports", rb"asm", rb"Module\s*\[\s*[\"']asm[\"']\s*\]", rb"Module\s*\.\s*asm")
                 for hit in self.src.find(rb"(?<![\w$.])" + obj + key, 0)]
        for m, node in sorted(named, key=lambda hit: hit[0].start()):
            sub = up_to(node, {"subscript_expression"})
            if sub is not None:
                self._add_export(found, m.group(1).decode(), sub, closure)
        for m, node in self.src.find(rb"(?<![\w$])createExportWrapper\s*\(\s*[\"']([^\"'\\]+)[\"']", 0):
            call = up_to(node, {"call_expression"})
            if call is not None:
                self._add_export(found, m.group(1).decode(), call, closure)
        if not found:
            self._closure_exports(found)
        return found

    def _add_export(self, found: dict[str, JsExport], export: str, node: Node, closure: bool) -> None:
        names = self._assigned_names(node, closure)
        old = found.get(export)
        if old is None:
            found[export] = JsExport(export, names, self._ev(_statement(node)))
        elif names and not set(names) <= set(old.js_names):
            found[export] = JsExport(export, old.js_names + tuple(n for n in names if n not in old.js_names), old.where)

    def _assigned_names(self, node: Node, closure: bool) -> tuple[str, ...]:
        """The names a value is assigned to, innermost first: `a = Module['a'] = VALUE`, also when
        VALUE sits in a lazy wrapper `(...args) => (a = Module['a'] = VALUE)(...args)`."""
        names: list[str] = []
        n = node
        while n.parent is not None:
            p = n.parent
            if p.type == "parenthesized_expression":
                n = p
                continue
            if p.type == "assignment_expression" and p.child_by_field_name("right") == n:
                name = self._target_name(p.child_by_field_name("left"), closure)
                if name and name not in names:
                    names.append(name)
                n = p
                continue
            if p.type == "variable_declarator" and p.child_by_field_name("value") == n:
                name = self._target_name(p.child_by_field_name("name"), closure)
                if name and name not in names:
                    names.append(name)
            break
        return tuple(names)

    def _target_name(self, target: Node | None, closure: bool) -> str | None:
        if target is None:
            return None
        if target.type == "identifier":
            name = self.src.text(target)
            return name if not closure or name.startswith("dynCall_") else None
        acc = property_access(self.src, target)
        if acc is not None and acc[0].type == "identifier":
            obj = self.src.text(acc[0])
            if obj == "Module" or (closure and (acc[1].startswith("_") or acc[1].startswith("dynCall_"))):
                return f"Module.{acc[1]}"
        return None

    def _closure_exports(self, found: dict[str, JsExport]) -> None:
        """Closure-compiled glue: `M._name = O.x` (or `M._name = a => (M._name = O.x)(a)`) many times
        over, with the same two variables: M is Module and O the exports object; the most frequent
        pair wins. Plain `v = O.x` in the same function gives an export whose JS name is lost."""
        chains: list[tuple[str, str, str, Node]] = []
        for m, node in self.src.find(rb"\.\s*((?:_|dynCall_)[\w$]*)\s*=(?!=)", 1):
            span = self.src.ident_before(m.start())
            assign = up_to(node, {"assignment_expression"})
            if span is None or assign is None or assign.start_byte != span[0]:
                continue
            value = _innermost_value(self.src, assign)
            acc = property_access(self.src, value) if value is not None else None
            if acc is not None and _exports_object(self.src, acc[0]):
                module_var = self.src.data[span[0]:span[1]].decode()
                chains.append((module_var, self.src.text(acc[0]), acc[1], value))  # type: ignore[arg-type]
        if not chains:
            return
        (module_var, exports_var), count = Counter((c[0], c[1]) for c in chains).most_common(1)[0]
        if count < 3:
            self.unread.append("closure-compiled glue: no export map found")
            return
        scopes = set()
        for mv, ev, export, value in chains:
            if (mv, ev) == (module_var, exports_var):
                self._add_export(found, export, value, True)
                scopes.add(_scope_start(value))
        pat = rb"(?<![\w$.])" + re.escape(exports_var.encode()) + rb"\s*\.\s*(" + IDENT + rb")"
        for m, node in self.src.find(pat, 1):
            acc_node = up_to(node, {"member_expression"})
            export = m.group(1).decode()
            if acc_node is None or _scope_start(acc_node) not in scopes or export in found or export == "exports":
                continue
            parent = acc_node.parent
            if parent is not None and parent.type in ("assignment_expression", "variable_declarator"):
                self._add_export(found, m.group(1).decode(), acc_node, True)
        self.unread.append("closure-compiled glue: exports are named only where a Module property keeps the name")

    # --- the table -------------------------------------------------------------------------------

    def _table(self, closure: bool) -> TableAccess:
        """Can JS put the module's own wasm functions into the table? Emscripten's addFunction
        (src/lib/libaddfunction.js) sets a wasm function as it is (a JS one is wrapped first);
        dynamic linking (`GOT.func`, MAIN_MODULE) puts exported functions there in updateGOT/dlsym."""
        ev: list[Evidence] = []
        yes = False
        for _m, node in self.src.find(rb"[\"']GOT\.func[\"']", 0, code=False):
            ev.append(Evidence(self.src.line(node), "dynamic linking (GOT.func): updateGOT and dlsym put exported "
                                                    "functions into the table"))
            yes = True
            break
        defined_in = {}
        for name in ("addFunction", "setWasmTableEntry"):
            for _m, node in self.src.find(rb"(?<![\w$.])" + name.encode() + rb"\s*=\s*(?:\(|function|[\w$]+\s*=>)", 0):
                decl = up_to(node, {"variable_declarator", "assignment_expression"})
                if decl is not None:
                    defined_in[name] = (decl.start_byte, decl.end_byte)
            for _m, node in self.src.find(rb"(?<![\w$])function\s+" + name.encode() + rb"\s*\(", 0):
                fn = up_to(node, {"function_declaration"})
                if fn is not None:
                    defined_in[name] = (fn.start_byte, fn.end_byte)
        if "addFunction" in defined_in:
            for _m, node in self.src.find(rb"(?<![\w$])[\"']?addFunction[\"']?\s*\]?\s*=\s*addFunction\b", 0):
                ev.append(Evidence(self.src.line(node), "addFunction is exported to user JS (Module.addFunction): "
                                                        "it stores a wasm function given to it as it is"))
                yes = True
                break
            for m, node in self.src.find(rb"(?<![\w$.])addFunction\s*\(", 0):
                if _inside(m.start(), defined_in.values()):
                    continue
                fn = enclosing_function(node)
                where = function_name(self.src, fn) if fn is not None else None
                ev.append(Evidence(self.src.line(node), f"addFunction is called in {where or 'top-level code'}: "
                                                        f"{self.src.excerpt(_statement(node), 80)}"))
                yes = True
        writes = [hit for pat in (rb"(?<![\w$])wasmTable\s*\.\s*set\s*\(", rb"(?<![\w$])setWasmTableEntry\s*\(")
                  for hit in self.src.find(pat, 0)]
        for m, node in writes:
            if _inside(m.start(), defined_in.values()):
                continue
            fn = enclosing_function(node)
            where = function_name(self.src, fn) if fn is not None else None
            if where in ("addFunction", "setWasmTableEntry", "updateTableMap", "getEmptyTableSlot"):
                continue
            ev.append(Evidence(self.src.line(node), f"the table is written in {where or 'top-level code'}: "
                                                    f"{self.src.excerpt(_statement(node), 80)}"))
            yes = True
        if yes:
            return TableAccess(True, tuple(ev))
        if closure:
            self.unread.append("closure-compiled glue: whether JS adds wasm functions to the table cannot be read by name")
            return TableAccess(None, ())
        return TableAccess(False, (Evidence(0, "no addFunction, wasmTable.set, setWasmTableEntry or dynamic linking "
                                               "in the glue (user JS can still reach an exported table)"),))

    # --- version -----------------------------------------------------------------------------------

    def _version(self) -> str | None:
        """Emscripten writes no version into its glue; a comment some wrappers add is taken."""
        for m in re.finditer(rb"[Ee]mscripten[ /:v-]{0,3}(?:version[ :]*)?(\d+\.\d+\.\d+)", self.src.data):
            node = self.src.node_at(m.start(), m.end())
            if node is not None and node.type == "comment":
                return m.group(1).decode()
        return None

    def _era(self) -> tuple[str, str | None] | None:
        if not self.era:
            return None
        first = max((r[0] for _, r in self.era), key=_vkey)
        lasts = [r[1] for _, r in self.era if r[1] is not None]
        last = min(lasts, key=_vkey) if lasts else None
        if last is not None and _vkey(first) > _vkey(last):
            self.unread.append("the glue's constructs come from Emscripten releases that do not overlap: "
                               + "; ".join(f"{what} ({r[0]}–{r[1] or 'now'})" for what, r in self.era))
            return None
        return first, last


# --- helpers -------------------------------------------------------------------------------------

def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _import_kind(kind: str, marker: str | None) -> str:
    if kind == "exact" and marker is not None:
        return "exact-isAsync"
    return kind


def _name_list(style: ListStyle, entries: list[str], where: Evidence, qualified: tuple[str, ...] = (),
               prefixes: tuple[str, ...] = ()) -> NameList:
    unique = list(dict.fromkeys(entries))
    return NameList(style, tuple(unique), where, len(entries) - len(unique), qualified, prefixes)


def _balanced(s: str) -> bool:
    depth = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return False
        i += 1
    return depth == 0


def _split_alternatives(s: str) -> list[str]:
    """`a|b|(c|d)e` → ['a', 'b', '(c|d)e']: top-level alternatives of a regex source."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(s[start:i])
            start = i + 1
        i += 1
    out.append(s[start:])
    return out


def _walks_object(src: Source, fn: Node) -> bool:
    """Does the function walk an object's properties and test their values' type, as both
    instrumenters do (`for (let [x, original] of Object.entries(imports))` or `for (var x in imports)`,
    then `typeof original == 'function'`)?"""
    body = src.text(fn)
    return "typeof" in body and ("Object.entries(" in body or re.search(r"for\s*\(\s*(?:var|let|const)?\s*[\w$]+\s+in\s", body) is not None)


def _suspends(text: str) -> bool:
    return bool(re.search(r"\bhandle(?:Sleep|Async)\b", text))


def _statement(node: Node) -> Node:
    n = node
    while n.parent is not None and n.type not in ("expression_statement", "variable_declaration", "lexical_declaration",
                                                  "return_statement", "pair"):
        if n.parent.type in ("statement_block", "program", "class_body", "object"):
            break
        n = n.parent
    return n


def _innermost_value(src: Source, assign: Node) -> Node | None:
    """The value at the end of an assignment chain, through a lazy `a => (M.x = O.y)(a)` wrapper."""
    value = assign.child_by_field_name("right")
    while value is not None:
        value = unparen(value)
        if value.type == "assignment_expression":
            value = value.child_by_field_name("right")
        elif value.type == "arrow_function":
            body = value.child_by_field_name("body")
            fn = body.child_by_field_name("function") if body is not None and body.type == "call_expression" else None
            value = fn
        else:
            return value
    return None


def _exports_object(src: Source, node: Node) -> bool:
    """An identifier, or `X.asm` / `X["asm"]` (Module.asm before 3.1.4x, renamed by closure)."""
    if node.type == "identifier":
        return True
    acc = property_access(src, node)
    return acc is not None and acc[1] == "asm" and acc[0].type == "identifier"


def _scope_start(node: Node) -> int:
    fn = enclosing_function(node)
    while fn is not None and fn.type == "arrow_function":   # lazy wrappers sit in the same scope
        fn = enclosing_function(fn)
    return fn.start_byte if fn is not None else -1


def _inside(pos: int, spans: object) -> bool:
    return any(a <= pos < b for a, b in spans)  # type: ignore[attr-defined]


def _error_count(root: Node) -> int:
    count, stack = 0, [root]
    while stack and count < 100:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            count += 1
        elif n.has_error:
            stack.extend(n.children)
    return count
