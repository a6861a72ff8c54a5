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
    from .triage import Triage
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
    analysis: "Analysis | None" = field(default=None, repr=False)   # the one the findings come from
    triage: "Triage | None" = field(default=None, repr=False)       # see triage_of

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
    rep.analysis = an   # for the report's grouping (triage_of)
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


def triage_of(rep: AuditReport) -> "Triage | None":
    """The missing functions grouped by frontier and ranked by evidence (`triage`), computed once;
    None for a report made without its analysis."""
    if rep.triage is None and rep.analysis is not None and rep.info.asyncified:
        from .triage import triage
        rep.triage = triage(rep.analysis, [f.function for f in rep.missing])
    return rep.triage


def _more(shown: int, total: int, what: str) -> list[str]:
    return [f"  … and {total - shown} more {what}"] if total > shown else []


def _visible(text: str) -> str:
    """Control characters in names (a name can hold any) as `\\xNN`, so they cannot drive the terminal."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 else c for c in text)


def report_text(rep: AuditReport, top: int = 10) -> str:
    """What fits on a screen whatever the binary: the `top` groups (0: all), one chain each, and the
    totals; `--format json`/`sarif`/`html` keep every finding."""
    return _visible(_report_text(rep, top))


def _report_text(rep: AuditReport, top: int) -> str:
    info = rep.info
    if not info.asyncified:
        return f"{rep.wasm}: not asyncified (no asyncify_* exports): nothing to audit.\n"
    lines = [f"{rep.wasm}: asyncified; state global {info.state_global}, data global {info.data_global}; "
             f"{len(info.instrumented)} functions instrumented, {rep.needed} can be on the stack at an async "
             f"import (--indirect {rep.mode})."]
    head = f"missing (can unwind through them, not instrumented: crashes waiting to happen): {len(rep.missing)}"
    tri = triage_of(rep)
    if tri is None or not tri.groups:
        lines.append(head)
        lines += [f"  {f.name}\n      {f.chain}" for f in rep.missing[:top or None]]
        lines += _more(len(rep.missing[:top or None]), len(rep.missing), "(--format json lists all)")
    else:
        lines += _groups_text(rep, tri, head, top)
    lines.append(f"unneeded (instrumented, never on an async stack): {len(rep.unneeded)}, "
                 f"{rep.unneeded_bytes} bytes of instrumented code")
    biggest = sorted(rep.unneeded, key=lambda f: (-f.size, f.function))[:top or None][:5 if top else None]
    lines += [f"  {f.name} ({f.size} bytes)" for f in biggest]
    lines += _more(len(biggest), len(rep.unneeded), "(--format json lists all)")
    if rep.list_not_in_binary or rep.list_not_instrumented:
        lines.append(f"list entries matching no function in the binary (typos, inlined or renamed): {len(rep.list_not_in_binary)}")
        shown = rep.list_not_in_binary[:5 if top else None]
        lines += [f"  {n}" for n in shown] + _more(len(shown), len(rep.list_not_in_binary), "(--format json lists all)")
        if rep.list_not_instrumented:
            lines.append(f"list entries whose function is not instrumented (list and binary disagree): {len(rep.list_not_instrumented)}")
            shown = rep.list_not_instrumented[:5 if top else None]
            lines += [f"  {n}" for n in shown] + _more(len(shown), len(rep.list_not_instrumented), "(--format json lists all)")
    return "\n".join(lines) + "\n"


def _groups_text(rep: AuditReport, tri: "Triage", head: str, top: int) -> list[str]:
    from .report import display_name
    from .triage import EVIDENCE_TEXT, chain_parts, short_chain

    m = tri.analysis.module
    lines = [head, f"  in {len(tri.groups)} group(s) by frontier: the last uninstrumented function on a chain, "
                   "where the list was cut"]
    def counts(n: int, k: int) -> str:
        return f"{n} group{'s' * (n != 1)}, {k} function{'s' * (k != 1)}"
    lines.append("  by evidence: " + "; ".join(f"{EVIDENCE_TEXT[e]}: {counts(n, k)}"
                                              for e, (n, k) in tri.by_evidence().items() if n))
    targets = list(tri.by_target().items())
    def reached(t: int) -> str:   # under --indirect all a chain may end at a function's indirect call
        return display_name(m, t) if m.functions[t].imported else f"{display_name(m, t)} (an indirect call)"
    lines.append("  by async import: " + "; ".join(f"{reached(t)}: {counts(n, k)}" for t, (n, k) in targets[:4])
                 + (f"; … {len(targets) - 4} more" if len(targets) > 4 else ""))
    lines.append("  rank evidence     funcs   only through    bytes  frontier → … → async import")
    shown = tri.groups[:top or None]
    for g in shown:
        chain = short_chain(chain_parts(tri.analysis, g.chain))
        seen = f"  [seen in {g.observed_in}]" if g.observed_in else ""
        lines.append(f"  {g.rank:4d} {g.evidence:<10} {len(g.members):6d} {g.only_through:6d} {g.through:7d} "
                     f"{g.body_bytes:8d}  {chain}{seen}")
    if len(shown) < len(tri.groups):
        rest = sum(len(g.members) for g in tri.groups[len(shown):])
        lines.append(f"  … {len(tri.groups) - len(shown)} more group(s), {rest} functions: --top 0 shows them all;")
        lines.append("    --format json, sarif or html (-o FILE) has every function with its chain")
    lines.append("  funcs: in the group; only: findings that reach an async import only through the frontier;")
    lines.append("  through: findings that can reach the frontier at all")
    return lines


def _steps_json(tri: "Triage", steps: list) -> list[dict]:
    from .report import display_name

    m = tri.analysis.module
    return [{"function": display_name(m, s.function), "index": s.function,
             **({"via": s.via.describe(m)} if s.via else {}),
             **({"observed": s.observed} if s.observed is not None else {})} for s in steps]


def _group_json(tri: "Triage", g) -> dict:  # noqa: ANN001 - a triage.Group
    from .report import display_name, format_chain

    m = tri.analysis.module
    return {"rank": g.rank, "frontier": g.name, "index": g.frontier, "evidence": g.evidence,
            "async_import": display_name(m, g.target), "functions": len(g.members), "only_through": g.only_through,
            "through": g.through, "bytes": g.body_bytes, "observed_in": g.observed_in,
            "chain": format_chain(tri.analysis, list(g.chain)), "steps": _steps_json(tri, list(g.chain)),
            "members": [m.functions[f].name for f in g.members], "member_indices": list(g.members)}


def report_json(rep: AuditReport) -> dict:
    """Everything: every missing function with its chain and group, every group, the totals."""
    info = rep.info
    tri = triage_of(rep)
    missing = []
    for f in rep.missing:
        item: dict = {"name": f.name, "index": f.function, "chain": f.chain, "bytes": f.size}
        if tri is not None and f.function in tri.group_of:
            g = tri.groups[tri.group_of[f.function]]
            item.update(group=g.rank, frontier=g.name, evidence=g.evidence,
                        steps=_steps_json(tri, tri.analysis.chain(f.function)))
        missing.append(item)
    out = {"wasm": rep.wasm, "asyncified": info.asyncified, "mode": rep.mode,
           "state_global": info.state_global, "data_global": info.data_global,
           "instrumented": len(info.instrumented), "needed": rep.needed,
           "missing": missing,
           "unneeded": [{"name": f.name, "index": f.function, "bytes": f.size} for f in rep.unneeded],
           "unneeded_bytes": rep.unneeded_bytes, "list_not_in_binary": rep.list_not_in_binary,
           "list_not_instrumented": rep.list_not_instrumented}
    if tri is not None:
        from .report import display_name
        m = tri.analysis.module
        out["groups"] = [_group_json(tri, g) for g in tri.groups]
        out["totals"] = {"missing": len(rep.missing), "missing_bytes": sum(f.size for f in rep.missing),
                         "groups": len(tri.groups),
                         "by_evidence": {e: {"groups": n, "functions": k} for e, (n, k) in tri.by_evidence().items()},
                         "by_async_import": {display_name(m, t): {"groups": n, "functions": k}
                                             for t, (n, k) in tri.by_target().items()}}
    return out


RULES = [
    ("ASYNCIFY001", "missing-instrumentation", "error",
     "Function can be on the stack when an async import is called but is not instrumented: unwinding through it crashes or corrupts state."),
    ("ASYNCIFY002", "unneeded-instrumentation", "note",
     "Function is instrumented but can never be on the stack at an async import: size and speed paid for nothing."),
    ("ASYNCIFY003", "list-entry-not-in-binary", "warning",
     "An ASYNCIFY_ONLY entry matches no function in the binary (typo, inlined or renamed)."),
]


def report_sarif(rep: AuditReport, tool_version: str) -> dict:
    """SARIF 2.1.0, so the findings show up in code-scanning UIs. A missing function's result carries
    its chain as a code flow and its group (rank, frontier, evidence) in its property bag; the run's
    property bag has the ranked groups."""
    def result(rule: int, message: str, name: str) -> dict:
        rid, _, level, _ = RULES[rule]
        return {"ruleId": rid, "level": level, "message": {"text": message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": rep.wasm}},
                               "logicalLocations": [{"name": name, "kind": "function"}]}]}
    tri = triage_of(rep)
    results = []
    for f in rep.missing:
        r = result(0, f"{f.name} is not instrumented but can unwind: {f.chain}", f.name)
        if tri is not None and f.function in tri.group_of:
            g = tri.groups[tri.group_of[f.function]]
            steps = _steps_json(tri, tri.analysis.chain(f.function))
            r["codeFlows"] = [{"threadFlows": [{"locations": [
                {"location": {"logicalLocations": [{"name": s["function"], "kind": "function"}],
                              **({"message": {"text": s["via"]}} if "via" in s else {})}} for s in steps]}]}]
            r["properties"] = {"group": g.rank, "frontier": g.name, "evidence": g.evidence, "bytes": f.size}
        results.append(r)
    results += [result(1, f"{f.name} is instrumented ({f.size} bytes) but never on an async stack", f.name) for f in rep.unneeded]
    results += [result(2, f"list entry {n!r} matches no function", n) for n in rep.list_not_in_binary]
    run: dict = {"tool": {"driver": {"name": "asyncify-doctor", "version": tool_version,
                                     "rules": [{"id": rid, "name": name, "defaultConfiguration": {"level": level},
                                                "shortDescription": {"text": text}} for rid, name, level, text in RULES]}},
                 "results": results}
    if tri is not None:
        run["properties"] = {"groups": [{k: v for k, v in _group_json(tri, g).items() if k not in ("members", "member_indices")}
                                        for g in tri.groups]}
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [run]}
