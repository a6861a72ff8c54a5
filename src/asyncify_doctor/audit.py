"""Reading an already-asyncified binary: is it asyncified, where is its state, which functions did
Binaryen instrument.

Recognition rule (from Binaryen's Asyncify.cpp output): the pass adds a state global (or, in
Emscripten's relocatable builds, imports `env.__asyncify_state` / `env.__asyncify_data`) and the
exports `asyncify_start_unwind`, `asyncify_stop_unwind`, `asyncify_start_rewind`,
`asyncify_stop_rewind`, `asyncify_get_state`; `asyncify_get_state` returns the state global and
`asyncify_start_unwind` sets the data global. An instrumented function tests the state (to skip
ahead when rewinding, to save its locals when unwinding) and moves its locals and resume point
through the data buffer, so it reads both globals. With `asyncify-asserts`, functions that are NOT
instrumented read the state too (they trap if a call changed it), but never the data global — so
"reads the data global" is the rule; the pass's own helper functions are excluded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .callgraph import CallGraph

if TYPE_CHECKING:
    from .analysis import Analysis
from .decode import Module
from .decode import opcodes as op

ASYNCIFY_EXPORTS = ("asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind",
                    "asyncify_stop_rewind")  # and asyncify_get_state, which Emscripten may not export


@dataclass
class AsyncifyInfo:
    asyncified: bool
    state_global: int | None = None
    data_global: int | None = None
    helper_functions: set[int] = field(default_factory=set)   # the asyncify_* functions themselves
    instrumented: set[int] = field(default_factory=set)


def _global_by_import(module: Module, key: str) -> int | None:
    return next((g.index for g in module.globals if g.import_key == key), None)


def recognize(graph: CallGraph) -> AsyncifyInfo:
    m = graph.module
    exports = {e.name: e.index for e in m.exports if e.kind == "func"}
    if not all(name in exports for name in ASYNCIFY_EXPORTS):
        return AsyncifyInfo(False)
    helpers = {exports[name] for name in ASYNCIFY_EXPORTS + ("asyncify_get_state",) if name in exports}
    state = _global_by_import(m, "env.__asyncify_state")
    if state is None:  # asyncify_stop_unwind sets the state back to normal and writes nothing else
        written = graph.facts(exports["asyncify_stop_unwind"]).globals_written
        state = written[0] if written else None
    data = _global_by_import(m, "env.__asyncify_data")
    if data is None:
        written = [g for g in graph.facts(exports["asyncify_start_unwind"]).globals_written if g != state]
        data = written[0] if written else None
    instrumented = _readers_of(m, data) - helpers if data is not None else set()
    return AsyncifyInfo(True, state, data, helpers, instrumented)


def _readers_of(m: Module, global_index: int) -> set[int]:
    """Functions that read a global: one pass over the decoder's events, no per-function objects."""
    ev = m.code.events if m.code else []
    get = op.EV_GLOBAL_GET
    return {f for f, kind, a in zip(ev[0::4], ev[1::4], ev[2::4]) if kind == get and a == global_index}


def instrumented_names(wasm: bytes) -> set[str]:
    """Names of the functions Binaryen instrumented in an asyncified binary."""
    from .decode import decode

    g = CallGraph(decode(wasm))
    return {g.module.functions[f].name for f in recognize(g).instrumented}


# --- the audit report ---------------------------------------------------------------------------

@dataclass
class Finding:
    function: int
    name: str
    chain: str = ""          # for missing: a shortest chain to an async import
    size: int = 0            # body bytes (for unneeded: what the instrumentation is paid on)


@dataclass
class AuditReport:
    wasm: str
    info: AsyncifyInfo
    mode: str
    needed: int
    missing: list[Finding] = field(default_factory=list)
    unneeded: list[Finding] = field(default_factory=list)
    list_not_in_binary: list[str] = field(default_factory=list)
    list_not_instrumented: list[str] = field(default_factory=list)

    @property
    def unneeded_bytes(self) -> int:
        return sum(f.size for f in self.unneeded)


def audit(graph: CallGraph, async_imports: list[int], mode: str = "typed",
          list_entries: list[str] | None = None, analysis: "Analysis | None" = None) -> AuditReport:
    """Which functions can be on an async stack but are not instrumented (crash risks), which are
    instrumented for nothing, and (with the user's list) which list entries match nothing."""
    from .analysis import analyze
    from .report import format_chain

    m = graph.module
    info = recognize(graph)
    an = analysis if analysis is not None and analysis.mode == mode else analyze(graph, async_imports, mode)  # type: ignore[arg-type]
    needed = set(an.members) - info.helper_functions
    rep = AuditReport(m.path, info, mode, len(needed))
    if not info.asyncified:
        return rep
    rep.missing = [Finding(f, m.functions[f].name, format_chain(an, an.chain(f)), m.body_size(f))
                   for f in sorted(needed - info.instrumented)]
    rep.unneeded = [Finding(f, m.functions[f].name, size=m.body_size(f)) for f in sorted(info.instrumented - needed)]
    if list_entries is not None:
        _check_list(rep, m, info, list_entries)
    return rep


def _check_list(rep: AuditReport, m: Module, info: AsyncifyInfo, entries: list[str]) -> None:
    """Entries are matched as Binaryen matches them: exact names (or Emscripten-mangled ones) by
    lookup, `*` patterns by wildcard — only those scan every name."""
    from .lists import emscripten_mangle, entry_matches

    by_name: dict[str, list[int]] = {}
    for f in m.functions:
        if not f.imported:
            by_name.setdefault(f.name, []).append(f.index)
            mangled = emscripten_mangle(f.name)
            if mangled != f.name:
                by_name.setdefault(mangled, []).append(f.index)
    for entry in entries:
        if "*" in entry:
            hits = [f.index for f in m.functions if not f.imported and entry_matches(entry, f.name)]
        else:
            hits = by_name.get(entry, [])
        if not hits:
            rep.list_not_in_binary.append(entry)
        elif not any(h in info.instrumented for h in hits):
            rep.list_not_instrumented.append(entry)


def report_text(rep: AuditReport) -> str:
    info = rep.info
    if not info.asyncified:
        return f"{rep.wasm}: not asyncified (no asyncify_* exports): nothing to audit.\n"
    lines = [f"{rep.wasm}: asyncified; state global {info.state_global}, data global {info.data_global}; "
             f"{len(info.instrumented)} functions instrumented, {rep.needed} can be on the stack at an async "
             f"import (--indirect {rep.mode})."]
    lines.append(f"missing (can unwind through them, not instrumented: crashes waiting to happen): {len(rep.missing)}")
    lines += [f"  {f.name}\n      {f.chain}" for f in rep.missing]
    lines.append(f"unneeded (instrumented, never on an async stack): {len(rep.unneeded)}, "
                 f"{rep.unneeded_bytes} bytes of instrumented code")
    lines += [f"  {f.name} ({f.size} bytes)" for f in rep.unneeded[:50]]
    if len(rep.unneeded) > 50:
        lines.append(f"  … and {len(rep.unneeded) - 50} more (--format json lists all)")
    if rep.list_not_in_binary or rep.list_not_instrumented:
        lines.append(f"list entries matching no function in the binary (typos, inlined or renamed): {len(rep.list_not_in_binary)}")
        lines += [f"  {n}" for n in rep.list_not_in_binary]
        if rep.list_not_instrumented:
            lines.append(f"list entries whose function is not instrumented (list and binary disagree): {len(rep.list_not_instrumented)}")
            lines += [f"  {n}" for n in rep.list_not_instrumented]
    return "\n".join(lines) + "\n"


def report_json(rep: AuditReport) -> dict:
    info = rep.info
    return {"wasm": rep.wasm, "asyncified": info.asyncified, "mode": rep.mode,
            "state_global": info.state_global, "data_global": info.data_global,
            "instrumented": len(info.instrumented), "needed": rep.needed,
            "missing": [{"name": f.name, "index": f.function, "chain": f.chain} for f in rep.missing],
            "unneeded": [{"name": f.name, "index": f.function, "bytes": f.size} for f in rep.unneeded],
            "unneeded_bytes": rep.unneeded_bytes, "list_not_in_binary": rep.list_not_in_binary,
            "list_not_instrumented": rep.list_not_instrumented}


RULES = [
    ("ASYNCIFY001", "missing-instrumentation", "error",
     "Function can be on the stack when an async import is called but is not instrumented: unwinding through it crashes or corrupts state."),
    ("ASYNCIFY002", "unneeded-instrumentation", "note",
     "Function is instrumented but can never be on the stack at an async import: size and speed paid for nothing."),
    ("ASYNCIFY003", "list-entry-not-in-binary", "warning",
     "An ASYNCIFY_ONLY entry matches no function in the binary (typo, inlined or renamed)."),
]


def report_sarif(rep: AuditReport, tool_version: str) -> dict:
    """SARIF 2.1.0, so the findings show up in code-scanning UIs."""
    def result(rule: int, message: str, name: str) -> dict:
        rid, _, level, _ = RULES[rule]
        return {"ruleId": rid, "level": level, "message": {"text": message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": rep.wasm}},
                               "logicalLocations": [{"name": name, "kind": "function"}]}]}
    results = [result(0, f"{f.name} is not instrumented but can unwind: {f.chain}", f.name) for f in rep.missing]
    results += [result(1, f"{f.name} is instrumented ({f.size} bytes) but never on an async stack", f.name) for f in rep.unneeded]
    results += [result(2, f"list entry {n!r} matches no function", n) for n in rep.list_not_in_binary]
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "asyncify-doctor", "version": tool_version,
                                          "rules": [{"id": rid, "name": name, "defaultConfiguration": {"level": level},
                                                     "shortDescription": {"text": text}} for rid, name, level, text in RULES]}},
                      "results": results}]}
