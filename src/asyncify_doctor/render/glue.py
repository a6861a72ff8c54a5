"""The JS glue in words and JSON (`analysis.glue_imports.GlueUse`): how it was read and used (stderr
notes), what it says that the user should act on (findings), and, per command, the glue against the
binary's instrumentation (audit) and against what can suspend (jspi). JSON keys all sit under `glue`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..decode import Module, display_name, shown_name
from ..graph.callgraph import is_trampoline_name

if TYPE_CHECKING:
    from ..analysis.audit import AuditReport
    from ..analysis.glue_imports import GlueUse
    from ..analysis.jspi import JspiReport
    from ..emscripten import ImportMismatch, Reason

MODE = {"asyncify": "Asyncify", "jspi": "JSPI", "none": "no Asyncify or JSPI"}
DEFAULT_EXPORTS = ("main", "__main_argc_argv")   # emcc wraps them itself (tools/link.py DEFAULT_ASYNCIFY_EXPORTS@6.0.8)


def _names(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def describe(use: GlueUse) -> str:
    """`php_8_3.js (JSPI glue, Emscripten 3.1.61 or later)`."""
    return f"{use.glue.path} ({kind(use)})"


def kind(use: GlueUse) -> str:
    """`JSPI glue, Emscripten 3.1.61 or later`: the era is the releases whose code the glue's constructs match."""
    g = use.glue
    era = ""
    if g.era is not None:
        first, last = g.era
        era = f", Emscripten {first} or later" if last is None else f", Emscripten {first}–{last}"
    version = f", Emscripten {g.version} (stated)" if g.version else era
    return f"{MODE[g.mode]} glue{version}{', closure-compiled' if g.closure else ''}"


def reason_text(r: Reason) -> str:
    if r.kind == "pattern":
        return f"ASYNCIFY_IMPORTS entry `{r.detail}`"
    if r.kind == "emcc":
        return f"emcc's own entry `{r.detail}`"
    return f"{r.detail}.isAsync (a JS library function marked async)"


def reasons_text(use: GlueUse, f: int) -> str:
    """Why the glue takes import `f` as async, in words ('' when it does not)."""
    words = [reason_text(r) for r in use.reasons(f)]
    if f in use.suspends_not_listed:
        fact = use.facts.fact(f)
        words.append(f"its JS ({fact.js if fact is not None else '?'}) calls Asyncify.handleSleep/handleAsync, though "
                     "no list names it")
    return "; ".join(words)


def _selection_counts(use: GlueUse) -> str:
    kinds: dict[str, int] = {}
    for f in use.async_imports:
        rs = use.reasons(f)
        kind = rs[0].kind if rs else "handleSleep"
        kinds[kind] = kinds.get(kind, 0) + 1
    words = {"pattern": "by ASYNCIFY_IMPORTS", "emcc": "by emcc's own entries", "isAsync": "marked isAsync",
             "handleSleep": "unwinding in their JS, unlisted"}
    return ", ".join(f"{n} {words[k]}" for k, n in kinds.items())


def reading_line(use: GlueUse, module: Module) -> str:
    how = f"found beside {_base(module.path)}; --no-glue to skip it" if use.found else "given with --glue"
    return f"reading the JS glue {use.path}: {kind(use)} ({how})"


def stderr_lines(use: GlueUse, module: Module) -> list[str]:
    """How the glue was used: what it decided, what could not be read."""
    lines = []
    if use.selects:
        n = len(use.async_imports)
        tramps = sum(1 for f in use.async_imports if is_trampoline_name(module.functions[f].import_name or ""))
        lines.append(f"note: async imports: the {n} the glue takes as async ({_selection_counts(use) or 'none'}"
                     + (f"; {tramps} of them invoke_* trampolines" if tramps else "")
                     + "); emcc's rules are not used (--imports to choose others)")
        if n == 0:
            lines.append("note: the glue takes none of the binary's imports as async: nothing can unwind")
    elif use.cannot_select is not None and use.source != "none":
        lines.append(f"note: {use.cannot_select}; the async imports are chosen as without the glue")
    if use.host_table_note:
        lines.append(f"note: {use.host_table_note}")
    if use.host_table_warning:
        lines.append(f"warning: {use.host_table_warning}")
    lines += [f"note: the glue: {line}" for line in use.glue.unread]
    lines += [f"note: the glue and the binary: {line}" for line in use.facts.unresolved]
    lines += [f"note: {line}" for line in use.names_lost]
    if use.not_provided:
        lines.append(f"warning: {len(use.not_provided)} of the binary's imports are not in the glue's import object "
                     f"({_names(use.not_provided, 5)}): is it the glue of this build?")
    return lines


def finding_lines(use: GlueUse, module: Module, indent: str = "") -> list[str]:
    """What the glue says that asks for a change: imports that unwind though nothing lists them,
    --imports against the glue, list entries that match nothing."""
    lines = []
    if use.suspends_not_listed:
        names = [shown_name(module, f) for f in use.suspends_not_listed]
        lines.append(f"{indent}imports whose JS unwinds (Asyncify.handleSleep/handleAsync) though ASYNCIFY_IMPORTS does not "
                     f"name them: {len(names)}: {_names(names)}; list them, or the code calling them is not instrumented")
    if use.source == "--imports":
        if use.imports_only:
            lines.append(f"{indent}--imports makes async what the glue does not: {len(use.imports_only)}: "
                         + _names([shown_name(module, f) for f in use.imports_only]))
        if use.glue_only:
            lines.append(f"{indent}the glue takes as async what --imports does not: {len(use.glue_only)}: "
                         + _names([f"{shown_name(module, f)} ({reasons_text(use, f)})" for f in use.glue_only], 6))
        if not use.imports_only and not use.glue_only:
            lines.append(f"{indent}--imports and the glue agree on the async imports")
    unmatched = list(use.facts.unmatched_entries)
    if unmatched:
        lines.append(f"{indent}ASYNCIFY_IMPORTS entries in the glue that match no import of the binary: {len(unmatched)}: "
                     + _names(unmatched, 10))
    return lines


def _base(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


# --- audit: the glue against the binary's instrumentation -----------------------------------------

def audit_lines(rep: AuditReport, short: bool = False) -> list[str]:
    """The glue's async imports against the binary's checks: where they disagree, with the fix."""
    use, cmp = rep.glue, rep.glue_vs_binary
    if use is None:
        return []
    module = rep.analysis.module if rep.analysis is not None else None
    if module is None or cmp is None:
        return [f"the JS glue {describe(use)}"]
    limit = 3 if short else None
    lines = [f"the JS glue {describe(use)}: {len(use.async_imports)} import(s) it takes as async"]
    if not cmp.glue_states:
        lines.append("  it carries no ASYNCIFY_IMPORTS list and marks nothing async: nothing to compare with the binary")
    if cmp.glue_only:
        lines.append(f"  the glue takes as async, the binary does not (its instrumented callers never check for an "
                     f"unwind after them): {len(cmp.glue_only)}")
        for m in cmp.glue_only[:limit]:
            lines.append(f"    {shown_name(module, m.function)} ({reasons_text(use, m.function)}; {m.callers} instrumented "
                         f"caller(s)): fix: put `{m.fix}` in ASYNCIFY_IMPORTS" + _bare_note(m))
        lines += _more(len(cmp.glue_only[:limit]), len(cmp.glue_only))
    if cmp.binary_only:
        lines.append(f"  the binary takes as async, the glue does not (instrumented callers check after them): "
                     f"{len(cmp.binary_only)}: " + _names([shown_name(module, m.function) for m in cmp.binary_only]))
        lines.append("    if they are async, list them in ASYNCIFY_IMPORTS (module.name); if not, the checks after them "
                     "are paid for nothing")
    if cmp.unknown:
        lines.append(f"  the binary takes as async, and the glue keeps no name to tell: {len(cmp.unknown)}: "
                     + _names([m.key for m in cmp.unknown]))
    if cmp.unconfirmed:
        lines.append(f"  the glue takes as async, no instrumented code calls them (the binary does not say): "
                     f"{len(cmp.unconfirmed)}: " + _names([shown_name(module, m.function) for m in cmp.unconfirmed], 6))
    if cmp.glue_states and not cmp.glue_only and not cmp.binary_only:
        lines.append(f"  the glue and the binary agree on the {len(cmp.agreed)} import(s) instrumented code calls")
    lines += finding_lines(use, module, "  ")
    return lines


def _bare_note(m: ImportMismatch) -> str:
    """The fd_close case: a bare list entry means env.NAME to Binaryen (emcc's get_full_import_name,
    tools/link.py:1742-1747@6.0.8) but NAME in any module to the glue (libasync.js:55@6.0.8)."""
    bare = [r.detail for r in m.reasons if r.kind == "pattern" and "." not in r.detail]
    module = m.name.split(".", 1)[0]
    if bare and module != "env":
        return (f" (the bare `{bare[0]}` is env.{bare[0]} to Binaryen but any module's {bare[0]} to the glue; "
                f"this import is in {module})")
    return ""


def _more(shown: int, total: int) -> list[str]:
    return [f"    … and {total - shown} more (--format json lists all)"] if total > shown else []


# --- jspi: the glue's wraps against what can suspend -----------------------------------------------

def jspi_lines(rep: JspiReport) -> list[str]:
    use, w = rep.glue, rep.glue_wraps
    if use is None:
        return []
    if w is None:
        return [f"the JS glue {describe(use)} wraps nothing with WebAssembly.promising: it is not a JSPI build's glue"] \
            + finding_lines(use, rep.module, "  ")
    el = use.glue.export_list
    listed = (f" (JSPI_EXPORTS: {len(el.entries)} entries, {len(use.facts.unmatched_export_entries)} match no "
              "function export)") if el is not None else " (every function export: Emscripten 3.1.13–3.1.25)" \
        if use.glue.wraps_all_exports else ""
    lines = [f"the JS glue {describe(use)} wraps {len(w.wrapped)} export(s) with WebAssembly.promising{listed}"]
    lines.append(f"  wrapped, can suspend: {len(w.wrapped) - len(w.needless)}")
    lines.append(f"  missing (can suspend; the glue reads them by name, so JS calls them; not wrapped: SuspendError): "
                 f"{len(w.missing)}" + (": add them to JSPI_EXPORTS" if w.missing else ""))
    lines += [f"    {n}" for n in w.missing]
    removable = [n for n in w.needless if n not in DEFAULT_EXPORTS]
    lines.append(f"  needless (wrapped, never suspend): {len(w.needless)}" + (f": {', '.join(w.needless)}" if w.needless else "")
                 + ("; remove them from JSPI_EXPORTS" if removable else ""))
    if w.not_from_js:
        lines.append(f"  can suspend, not wrapped, and the glue never names them: {len(w.not_from_js)} (only wasm calls "
                     "them: other exports, side modules through the table or GOT; JS calling one would need a wrap): "
                     + _names(list(w.not_from_js), 5))
    if use.facts.unmatched_export_entries:
        lines.append(f"  JSPI_EXPORTS entries that match no function export: {_names(list(use.facts.unmatched_export_entries), 10)}")
    return lines + finding_lines(use, rep.module, "  ")


# --- JSON ----------------------------------------------------------------------------------------------

def glue_json(use: GlueUse, module: Module) -> dict[str, Any]:
    """Everything the glue said and decided, for `"glue": …` in every command's JSON."""
    g = use.glue
    facts = use.facts

    def imp(f: int) -> dict[str, Any]:
        fact = facts.fact(f)
        return {"import": display_name(module, f), "name": fact.name if fact else display_name(module, f),
                "js": fact.js if fact else None,
                "reasons": [{"kind": r.kind, "entry": r.detail} for r in use.reasons(f)],
                "unlisted_but_unwinds": f in use.suspends_not_listed}

    out: dict[str, Any] = {
        "path": g.path, "found_beside_wasm": use.found, "mode": g.mode, "era": list(g.era) if g.era else None,
        "version": g.version, "closure": g.closure,
        "selection": use.source, "cannot_select": use.cannot_select,
        "async_imports": [imp(f) for f in use.async_imports],
        "suspends_not_listed": [display_name(module, f) for f in use.suspends_not_listed],
        "unmatched_entries": list(facts.unmatched_entries),
        "host_table": {"used": use.host_table, "can_add_wasm_functions": g.table.can_add_wasm_functions,
                       "evidence": [{"line": e.line, "text": e.text} for e in g.table.evidence],
                       "note": use.host_table_note or None, "warning": use.host_table_warning},
        "real_names": {display_name(module, f): real for f, real in sorted(use.aliases.items())},
        "names_lost": use.names_lost, "not_provided": use.not_provided,
        "unread": list(g.unread), "unresolved": list(facts.unresolved),
    }
    if use.source == "--imports":
        out["imports_vs_glue"] = {"imports_only": [display_name(module, f) for f in use.imports_only],
                                  "glue_only": [display_name(module, f) for f in use.glue_only],
                                  "emcc_added": {k: [display_name(module, f) for f in fs] for k, fs in use.emcc_added.items()}}
    return out


def audit_json(rep: AuditReport) -> dict[str, Any] | None:
    use, cmp = rep.glue, rep.glue_vs_binary
    if use is None or rep.analysis is None:
        return None
    module = rep.analysis.module
    out = glue_json(use, module)
    if cmp is not None:
        def item(m: ImportMismatch, fix: bool = False) -> dict[str, Any]:
            return {"import": m.key, "name": m.name, "reasons": [{"kind": r.kind, "entry": r.detail} for r in m.reasons],
                    "callers": m.callers, **({"fix": m.fix} if fix else {})}
        out["vs_binary"] = {"glue_states": cmp.glue_states, "glue_only": [item(m, True) for m in cmp.glue_only],
                            "binary_only": [item(m, True) for m in cmp.binary_only],
                            "unconfirmed": [item(m) for m in cmp.unconfirmed], "unknown": [item(m) for m in cmp.unknown],
                            "agreed": [display_name(module, f) for f in cmp.agreed]}
    return out


def jspi_json(rep: JspiReport) -> dict[str, Any] | None:
    use, w = rep.glue, rep.glue_wraps
    if use is None:
        return None
    out = glue_json(use, rep.module)
    if w is not None:
        out["wraps"] = {"wrapped": list(w.wrapped), "missing_wraps": list(w.missing), "needless_wraps": list(w.needless),
                        "not_called_from_js": list(w.not_from_js),
                        "unmatched_entries": list(use.facts.unmatched_export_entries),
                        "wrapped_imports": [display_name(rep.module, f) for f in use.facts.wrapped_imports]}
    return out


def why_line(use: GlueUse, module: Module, f: int) -> str:
    """For `why IMPORT`: what the glue says of it."""
    words = reasons_text(use, f)
    if words:
        return f"  The JS glue ({_base(use.path)}) takes it as async: {words}."
    return f"  The JS glue ({_base(use.path)}) does not take it as async."
