"""The audit report (`analysis.audit.AuditReport`) in words: the text that fits on a screen, and JSON and
SARIF with every finding, its chain and its group."""
from __future__ import annotations

from ..analysis.audit import AuditReport, Finding, triage_of
from ..analysis.triage import EVIDENCE_TEXT, Triage, short_chain
from ..decode import Module, display_name, shown_name
from ..schemas import header
from .glue import audit_json as glue_json
from .glue import audit_lines as glue_lines
from .report import ChainWords, chain_parts, format_chain


def finding_chain(f: Finding) -> str:
    """`f → g → … → env.sleep_ms` for a missing function."""
    return format_chain(f.analysis, f.steps()) if f.analysis is not None else ""


def _names(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def build_lines(rep: AuditReport, module: Module | None = None, short: bool = False) -> list[str]:
    """What the build did, as read from the binary: runtime, globals, imports, runtime code, indirect
    calls. `short`: the first few disagreements only (the text report's --top)."""
    b = rep.info
    roles = ", ".join(f"{role} = function {f} ({b.helper_evidence.get(f, 'body')})" for f, role in sorted(b.helpers.items(), key=lambda kv: kv[1]))
    lines = [f"{rep.wasm}: asyncified. Runtime recognised by its code: {roles}; state global {b.state_global}, "
             f"data global {b.data_global}.",
             f"instrumented: {len(b.instrumented)} functions; {rep.needed} can be on the stack when an unwind "
             f"starts (--indirect {rep.mode})."]
    if rep.imports_from == "glue":
        tramps = len(rep.selection.listed_trampolines) if rep.selection is not None else 0
        lines.append(f"async imports, from the JS glue: {len(rep.async_imports)}"
                     + (f": {_names(_shown(rep, rep.async_imports))}" if rep.async_imports else "")
                     + (f" (and {tramps} invoke_* trampolines it lists, modelled as calls back into the table)"
                        if tramps else ""))
    elif rep.imports_from == "build":
        lines.append(f"async imports, read from the build (instrumented code checks for an unwind after them): "
                     f"{len(rep.async_imports)}" + (f": {_names(rep.async_imports)}" if rep.async_imports else ""))
    else:
        added = [n for names in rep.emscripten_added.values() for n in names]
        yours = [n for n in rep.async_imports if n not in added]
        lines.append(f"async imports, from --imports: {len(yours)}: {_names(yours)}")
        if added:
            lines.append(f"  and {len(added)} Emscripten makes async by itself: {_names(added)}")
        if rep.disagreements:
            lines.append(f"  where --imports and the build disagree: {len(rep.disagreements)}")
            shown = rep.disagreements[:SHORT if short else None]
            lines += [f"    {d.name}: {'you say async, the build did not' if d.user_async else 'the build took it as async, --imports does not'}"
                      f" ({d.why})" for d in shown]
            lines += _more(len(shown), len(rep.disagreements), "(--format json lists all)")
    if b.runtime:
        for what, group in (("starts unwinds itself (top-most runtime, never instrumented)", b.runtime.topmost),
                            ("is the top of every unwound stack (bottom-most runtime, never instrumented)",
                             b.runtime.bottommost),
                            ("is instrumented and starts unwinds itself (runtime code inlined after the pass)",
                             b.runtime.sources),
                            ("calls a stop function that could not be told apart", b.runtime.ambiguous)):
            if group:
                lines.append(f"code that {what}: {len(group)}: " + _names([_fname(rep, f) for f in group]))
    if b.indirect_checked or b.indirect_unchecked:
        lines.append("indirect calls: the build treated them as able to unwind" if not b.indirect_unchecked else
                     "indirect calls: the build treated them as never unwinding (asyncify-ignore-indirect)")
    for name, verdict in rep.trampolines.items():
        if not verdict.startswith("needed"):
            lines.append(f"trampoline {name}: {verdict}")
    lines += [f"note: {n}" for n in b.notes]
    lines += glue_lines(rep, short)
    return lines


def _shown(rep: AuditReport, names: list[str]) -> list[str]:
    """Import names with their real names where the binary's are minified (`a.t (env.ipp_async)`)."""
    m = rep.analysis.module if rep.analysis is not None else None
    if m is None or not m.aliases:
        return names
    real = {display_name(m, f): shown_name(m, f) for f in m.aliases}
    return [real.get(n, n) for n in names]


SHORT = 3   # lines per secondary section of the text report when --top is set: it fits on a screen


def _fname(rep: AuditReport, f: int) -> str:
    return rep.analysis.module.functions[f].name if rep.analysis is not None else str(f)


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
        return f"{rep.wasm}: not asyncified (no code with the shape of Asyncify's runtime): nothing to audit.\n"
    lines = build_lines(rep, short=bool(top))
    head = f"missing (can unwind through them, not instrumented: crashes waiting to happen): {len(rep.missing)}"
    tri = triage_of(rep)
    if tri is None or not tri.groups:
        lines.append(head)
        lines += [f"  {f.name}\n      {finding_chain(f)}" for f in rep.missing[:top or None]]
        lines += _more(len(rep.missing[:top or None]), len(rep.missing), "(--format json lists all)")
    else:
        lines += _groups_text(rep, tri, head, top)
    if rep.unchecked_calls:
        lines.append(f"unchecked calls (instrumented code that runs on while the stack unwinds: crashes or wrong "
                     f"results): {len(rep.unchecked_calls)}")
        shown_calls = rep.unchecked_calls[:SHORT if top else None]
        lines += [f"  {u.name} → {u.callee}: {u.why}" for u in shown_calls]
        lines += _more(len(shown_calls), len(rep.unchecked_calls), "(--format json lists all)")
    lines.append(f"unneeded (instrumented, never on an async stack): {len(rep.unneeded)}, "
                 f"{rep.unneeded_bytes} bytes of instrumented code")
    biggest = sorted(rep.unneeded, key=lambda f: (-f.size, f.function))[:SHORT if top else None]
    if top and biggest:   # one line: the biggest few
        more = f", … and {len(rep.unneeded) - len(biggest)} more (--format json lists all)" if len(rep.unneeded) > len(biggest) else ""
        lines.append("  " + ", ".join(f"{f.name} ({f.size} bytes)" for f in biggest) + more)
    else:
        lines += [f"  {f.name} ({f.size} bytes)" for f in biggest]
    if rep.unknown_imports:
        lines.append(f"imports only uninstrumented code calls, so the binary does not say whether the build took them "
                     f"as async: {len(rep.unknown_imports)} ({_names(rep.unknown_imports, 6)}); if any is, name it "
                     f"with --imports (all of them would add {rep.unknown_would_add} missing function(s))")
    if rep.thunks:
        lines.append(f"forwarding thunks (on the stack, not instrumented, safe: they only pass their arguments on to "
                     f"instrumented code, as Binaryen's merge-similar-functions leaves them at -Oz): {len(rep.thunks)}")
    lines += _list_lines(rep, top)
    if rep.unnamed:
        lines.append(f"note: {rep.unnamed} function(s) have no name in the name section (shown as wasm-function[N]): "
                     "keep names to map findings to code (emcc -g2 or --profiling-funcs; wasm-opt -g; "
                     "wasm-ld without --strip-all)")
    return "\n".join(lines) + "\n"


def _groups_text(rep: AuditReport, tri: "Triage", head: str, top: int) -> list[str]:

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


def _steps_json(tri: "Triage", steps: list, words: ChainWords | None = None) -> list[dict]:
    return (words or ChainWords(tri.analysis)).steps_json(steps)


def _group_json(tri: "Triage", g, words: ChainWords | None = None) -> dict:  # noqa: ANN001 - a triage.Group
    m = tri.analysis.module
    words = words or ChainWords(tri.analysis)
    chain = list(g.chain)
    return {"rank": g.rank, "frontier": g.name, "index": g.frontier, "evidence": g.evidence,
            "async_import": display_name(m, g.target), "functions": len(g.members), "only_through": g.only_through,
            "through": g.through, "bytes": g.body_bytes, "observed_in": g.observed_in,
            "chain": words.text(chain), "steps": words.steps_json(chain),
            "members": [m.functions[f].name for f in g.members], "member_indices": list(g.members)}


def _list_lines(rep: AuditReport, top: int = 0) -> list[str]:
    if rep.lists is None:
        return []
    lines = [f"lists: Binaryen refuses them: {msg}" for msg in rep.lists.fatal]
    if rep.lists.findings:
        lines.append(f"list entries with no effect, or an effect worth knowing: {len(rep.lists.findings)}")
        shown = rep.lists.findings[:top or None]
        lines += [f"  {f.kind}list {f.entry}: {f.why}" for f in shown]
        lines += _more(len(shown), len(rep.lists.findings), "(--format json lists all)")
    lines += [f"note: {n}" for n in rep.lists.notes]
    return lines


def report_json(rep: AuditReport) -> dict:
    """`audit --format json` (schema `asyncify-doctor/audit/1`). Everything: every missing function
    with its chain and group, every group, the totals."""
    info = rep.info
    tri = triage_of(rep)
    words = ChainWords(rep.analysis) if rep.analysis is not None else None
    missing = []
    for f in rep.missing:
        steps = f.steps()
        item: dict = {"name": f.name, "index": f.function, "chain": words.text(steps) if words else "", "bytes": f.size}
        if tri is not None and words is not None and f.function in tri.group_of:
            g = tri.groups[tri.group_of[f.function]]
            item.update(group=g.rank, frontier=g.name, evidence=g.evidence, steps=words.steps_json(steps))
        missing.append(item)
    out = {**header("audit"), "wasm": rep.wasm, "asyncified": info.asyncified, "mode": rep.mode,
           "state_global": info.state_global, "data_global": info.data_global,
           "instrumented": len(info.instrumented), "needed": rep.needed,
           "missing": missing,
           "unneeded": [{"name": f.name, "index": f.function, "bytes": f.size} for f in rep.unneeded],
           "unneeded_bytes": rep.unneeded_bytes, "list_not_in_binary": rep.list_not_in_binary,
           "list_not_instrumented": rep.list_not_instrumented,
           "runtime": {str(f): role for f, role in sorted(info.helpers.items())},
           "imports_from": rep.imports_from, "async_imports": rep.async_imports,
           "disagreements": [{"name": d.name, "user_async": d.user_async, "build_async": d.build_async, "why": d.why}
                             for d in rep.disagreements],
           "unknown_imports": rep.unknown_imports, "unknown_would_add": rep.unknown_would_add,
           "trampolines": rep.trampolines, "emscripten_added": rep.emscripten_added,
           "runtime_calls": {"topmost": sorted(info.runtime.topmost), "bottommost": sorted(info.runtime.bottommost),
                             "sources": sorted(info.runtime.sources), "ambiguous": sorted(info.runtime.ambiguous)},
           "indirect_calls_unwind": None if not (info.indirect_checked or info.indirect_unchecked)
           else not info.indirect_unchecked,
           "unchecked_calls": [{"caller": u.name, "index": u.caller, "callee": u.callee, "why": u.why}
                               for u in rep.unchecked_calls],
           "list_findings": [{"kind": f.kind, "entry": f.entry, "verdict": f.verdict, "why": f.why}
                             for f in rep.lists.findings] if rep.lists else [],
           "list_fatal": rep.lists.fatal if rep.lists else [], "list_notes": rep.lists.notes if rep.lists else [],
           "notes": info.notes, "unnamed": rep.unnamed,
           "thunks": [{"name": _fname(rep, f), "index": f, "callee": c, "verdict": "forwarding thunk, safe"}
                      for f, c in sorted(rep.thunks.items())]}
    glue = glue_json(rep)
    if glue is not None:
        out["glue"] = glue
    if tri is not None:
        m = tri.analysis.module
        out["groups"] = [_group_json(tri, g, words) for g in tri.groups]
        out["totals"] = {"missing": len(rep.missing), "missing_bytes": sum(f.size for f in rep.missing),
                         "groups": len(tri.groups),
                         "by_evidence": {e: {"groups": n, "functions": k} for e, (n, k) in tri.by_evidence().items()},
                         "by_async_import": {display_name(m, t): {"groups": n, "functions": k}
                                             for t, (n, k) in tri.by_target().items()}}
    return out


RULES = [
    ("ASYNCIFY001", "missing-instrumentation", "error",
     "Functions can be on the stack when an async import is called but are not instrumented: unwinding through "
     "them crashes or corrupts state. One result per place the list was cut (the frontier), with its chain."),
    ("ASYNCIFY002", "unneeded-instrumentation", "note",
     "Functions are instrumented but can never be on the stack at an async import: size and speed paid for nothing."),
    ("ASYNCIFY003", "list-entry-not-in-binary", "warning",
     "An ASYNCIFY_ONLY entry matches no function in the binary (typo, inlined or renamed)."),
    ("ASYNCIFY004", "unchecked-call", "error",
     "Instrumented code calls something that can unwind and does not check for an unwind after it: it runs on "
     "while the stack unwinds."),
]
# GitHub code scanning keeps at most 1,000 locations per result (and shows 100), 25,000 results per run,
# 10,000 thread-flow locations per result (shows 1,000); a file of at most 10 MB gzipped.
SARIF_LOCATIONS = 1000

def report_sarif(rep: AuditReport, tool_version: str) -> dict:
    """SARIF 2.1.0, sized for code-scanning UIs: one result per group of missing functions (the
    frontier where the list was cut: its chain as the code flow, up to 1,000 members as related
    locations, the counts in the property bag), one result for all unneeded functions, one per list
    entry matching nothing and per unchecked call. PHP's 14,475 findings under --indirect typed are
    5,599 results, not 14,475 with a chain each."""
    def where(name: str, message: str | None = None) -> dict:
        return {"physicalLocation": {"artifactLocation": {"uri": rep.wasm}},
                "logicalLocations": [{"name": name, "kind": "function"}], **({"message": {"text": message}} if message else {})}

    def result(rule: int, message: str, name: str, related: list[dict] | None = None, **props: object) -> dict:
        rid, _, level, _ = RULES[rule]
        r: dict = {"ruleId": rid, "level": level, "message": {"text": message}, "locations": [where(name)]}
        if related:
            r["relatedLocations"] = [{"id": i, **loc} for i, loc in enumerate(related[:SARIF_LOCATIONS])]
        if props:
            r["properties"] = props
        return r

    tri = triage_of(rep)
    results = []
    for g in tri.groups if tri is not None else []:
        assert tri is not None
        steps = _steps_json(tri, list(g.chain))
        names = [tri.analysis.module.functions[f].name for f in g.members]
        r = result(0, f"{len(g.members)} function(s) can unwind through {g.name}, which is not instrumented: "
                      f"{format_chain(tri.analysis, list(g.chain))}", g.name, [where(n, "not instrumented") for n in names],
                   rank=g.rank, evidence=g.evidence, functions=len(g.members), only_through=g.only_through,
                   through=g.through, bytes=g.body_bytes, members_shown=min(len(names), SARIF_LOCATIONS))
        r["codeFlows"] = [{"threadFlows": [{"locations": [
            {"location": {"logicalLocations": [{"name": s["function"], "kind": "function"}],
                          **({"message": {"text": s["via"]}} if "via" in s else {})}} for s in steps]}]}]
        results.append(r)
    if rep.unneeded:
        biggest = sorted(rep.unneeded, key=lambda f: (-f.size, f.function))
        results.append(result(1, f"{len(rep.unneeded)} function(s) are instrumented but never on an async stack: "
                                 f"{rep.unneeded_bytes} bytes of instrumented code", biggest[0].name,
                              [where(f.name, f"{f.size} bytes") for f in biggest], functions=len(rep.unneeded),
                              bytes=rep.unneeded_bytes))
    results += [result(2, f"list entry {n!r} matches no function", n) for n in rep.list_not_in_binary]
    results += [result(3, f"{u.name} → {u.callee}: {u.why}", u.name) for u in rep.unchecked_calls]
    run: dict = {"tool": {"driver": {"name": "asyncify-doctor", "version": tool_version,
                                     "rules": [{"id": rid, "name": name, "defaultConfiguration": {"level": level},
                                                "shortDescription": {"text": text}} for rid, name, level, text in RULES]}},
                 "results": results}
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [run]}
