"""The JS glue in an analysis: what the running program treats as async becomes the import selection
(when `--imports` is not given), whether JS adds wasm functions to the table decides `--host-table`,
and where `--imports` is given, where it and the glue differ.

The glue is Emscripten's truth about its build: its ASYNCIFY_IMPORTS as the JS matches them, the JS
library functions marked async, and emcc's own additions (`invoke_*`, `__asyncjs__*`), all read by
`emscripten.join`. With it, emcc's rules (`emscripten.rules`, which guess what emcc would add) are
not used: the glue says what it did add. Nothing here reads files or prints; `GlueUse` holds what
the commands and renderers say.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..decode import Module
from ..emscripten import GlueFacts, Reason, join
from ..emscripten.model import Glue
from ..graph.callgraph import HostTable

Source = Literal["glue", "--imports", "default", "none"]

@dataclass
class GlueUse:
    """One glue file joined with the binary, and what it decided in this analysis."""

    facts: GlueFacts
    found: bool                          # found beside the .wasm (not given with --glue)
    unusable: str | None = None          # why it says nothing about this binary (then it is not used)
    cannot_select: str | None = None     # why its async imports cannot be the selection (the default is used)
    source: Source = "none"              # where the selection came from: the glue, --imports, the default
    host_table: HostTable = "sound"
    host_table_note: str = ""            # how the glue decided --host-table (empty: the user chose it)
    host_table_warning: str | None = None   # the user's --host-table module, while the glue adds wasm functions
    imports_only: list[int] = field(default_factory=list)   # with --imports: async by it, not by the glue
    glue_only: list[int] = field(default_factory=list)      # with --imports: async by the glue, not by it
    emcc_added: dict[str, list[int]] = field(default_factory=dict)   # with --imports: what emcc added, per the glue
    suspends_not_listed: list[int] = field(default_factory=list)     # JS calls handleSleep/-Async, no list names it
    not_provided: list[str] = field(default_factory=list)   # imports of a bound module the import object lacks
    aliases: dict[int, str] = field(default_factory=dict)   # function → its real name, where the binary's is minified
    names_lost: list[str] = field(default_factory=list)     # where the glue keeps no real name (one line each)

    @property
    def glue(self) -> Glue:
        return self.facts.glue

    @property
    def path(self) -> str:
        return self.facts.glue.path

    @property
    def selects(self) -> bool:
        return self.source == "glue"

    def reasons(self, f: int) -> tuple[Reason, ...]:
        """Why the glue's lists and marks take import `f` as async (empty: they do not)."""
        fact = self.facts.fact(f)
        return fact.reasons if fact is not None else ()

    @property
    def async_imports(self) -> list[int]:
        """What the glue takes as async: its lists and marks (`GlueFacts.async_imports`), and under
        Asyncify the imports whose JS unwinds (handleSleep / handleAsync) though nothing lists them."""
        return sorted(set(self.facts.async_imports) | set(self.suspends_not_listed))


def glue_use(glue: Glue, module: Module, found: bool) -> GlueUse:
    """Join the glue with the binary and tell whether it can be used at all, and for the selection."""
    facts = join(glue, module)
    use = GlueUse(facts, found)
    use.unusable = _unusable(glue, facts)
    if use.unusable is not None:
        return use
    if glue.mode == "asyncify":
        use.suspends_not_listed = [f.function for f in facts.imports if f.suspends and f.bound and not f.reasons]
    use.cannot_select = _cannot_select(glue, facts)
    bound_modules = set(glue.import_modules) or {"env", "wasi_snapshot_preview1"}
    use.not_provided = [f.key for f in facts.imports
                        if f.key.split(".", 1)[0] in bound_modules and not f.bound and glue.imports]
    use.aliases, use.names_lost = _aliases(facts, module)
    return use


def _unusable(glue: Glue, facts: GlueFacts) -> str | None:
    """The file is no Emscripten glue, or the glue of another binary: one line why."""
    if glue.mode == "none" and not glue.imports and not glue.exports:
        return glue.unread[-1] if glue.unread else "not Emscripten glue"
    if not (glue.imports or glue.exports or glue.import_list or glue.export_list or glue.async_functions):
        return ("not Emscripten glue: no import object, no ASYNCIFY_IMPORTS or JSPI_EXPORTS list and no "
                "export map found")
    keys = [f.key for f in facts.imports]
    if glue.imports and keys and not any(f.bound for f in facts.imports):
        modules = ", ".join(glue.import_modules) or "env, wasi_snapshot_preview1"
        return (f"the glue's import object (bound to {modules}) provides none of the binary's {len(keys)} "
                f"imports ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''}): the glue of another build?")
    return None


def _cannot_select(glue: Glue, facts: GlueFacts) -> str | None:
    """Why the glue's async imports cannot stand for the build's (None: they can)."""
    if glue.mode == "none":
        return "the glue is of a build without Asyncify or JSPI: it takes no import as async"
    lost = [f.key for f in facts.imports if not f.name_known]
    if lost:
        return (f"the glue keeps no real name for {len(lost)} minified import(s) ({', '.join(lost[:4])}"
                f"{', …' if len(lost) > 4 else ''}; closure): which are async cannot be read from it")
    if glue.import_list is None and not glue.async_functions:
        why = next((line for line in glue.unread if "ASYNCIFY_IMPORTS" in line), "the glue carries no ASYNCIFY_IMPORTS list")
        return f"{why}, and marks no JS function async: it does not say which imports are async"
    return None


def _aliases(facts: GlueFacts, module: Module) -> tuple[dict[int, str], list[str]]:
    """Real names for what emcc minified: imports (`a.t` → `env.ipp_async`) and, for functions the name
    section does not name, their minified exports (`df` → `malloc`); and where the glue keeps none."""
    aliases = {f.function: f.name for f in facts.imports if f.name != f.key}
    lost: list[str] = []
    if facts.export_names:
        for e in module.exports:
            real = facts.export_names.get(e.name)
            if e.kind == "func" and real is not None and not module.functions[e.index].has_name:
                aliases.setdefault(e.index, real)
        funcs = {e.name for e in module.exports if e.kind == "func"}
        nameless = [e for e, x in facts.glue.exports.items() if x.name is None and e in funcs and not e.startswith("dynCall_")]
        if nameless:
            lost.append(f"{len(nameless)} minified export(s) the glue keeps no real name for "
                        f"({', '.join(nameless[:6])}{', …' if len(nameless) > 6 else ''}): shown as the binary names them")
    n_lost = sum(1 for f in facts.imports if not f.name_known)
    if n_lost:
        lost.append(f"{n_lost} minified import(s) the glue keeps no real name for: shown as the binary names them")
    return aliases, lost


def decide_host_table(use: GlueUse, given: HostTable | None) -> HostTable:
    """`module` only when the glue shows JS never adds the module's own wasm functions to the table
    (Emscripten's addFunction stores a wasm function as it is, libaddfunction.js:184-195@6.0.8;
    dynamic linking puts exported functions there); the user's choice stands, with a warning when
    the glue contradicts it."""
    table = use.glue.table
    first = table.evidence[0] if table.evidence else None
    where = f" (line {first.line}: {first.text})" if first is not None and first.line else ""
    if given is not None:
        use.host_table = given
        if given == "module" and table.can_add_wasm_functions:
            use.host_table_warning = (f"--host-table module, but the glue adds wasm functions to the table{where}: "
                                      "calls through them are left out")
        return given
    if table.can_add_wasm_functions is False:
        use.host_table = "module"
        use.host_table_note = ("the glue never adds wasm functions to the table (no addFunction, wasmTable.set, "
                               "setWasmTableEntry or dynamic linking): --host-table module; give --host-table "
                               "sound if other JS does")
    elif table.can_add_wasm_functions:
        use.host_table = "sound"
        use.host_table_note = f"the glue adds wasm functions to the table{where}: --host-table sound"
    else:
        use.host_table = "sound"
        use.host_table_note = ("whether the glue adds wasm functions to the table cannot be read (closure-compiled): "
                               "--host-table sound")
    return use.host_table


def emcc_added(use: GlueUse, chosen: set[int]) -> dict[str, list[int]]:
    """What emcc made async by itself in this build, as the glue says (entries emcc added, JS library
    functions marked `__async`), beyond `chosen`: it replaces emcc's rules when `--imports` is given."""
    out: dict[str, list[int]] = {}
    for f in use.facts.imports:
        if f.function in chosen:
            continue
        for r in f.reasons:
            if r.kind in ("emcc", "isAsync"):
                out.setdefault(f"{r.kind} {r.detail}", []).append(f.function)
                break
    return out


def compare_selection(use: GlueUse, chosen: set[int]) -> None:
    """With `--imports`: the imports it makes async that the glue does not, and the other way round."""
    glue_async = set(use.async_imports)
    use.imports_only = sorted(chosen - glue_async)
    use.glue_only = sorted(glue_async - chosen)

