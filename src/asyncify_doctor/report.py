"""Analysis → human and machine output: witness chains, `why`, stats, the graph as JSON or dot."""
from __future__ import annotations

import difflib
import json
from typing import Any, Iterable

from .analysis import Analysis, ChainStep, analyze, import_contributions
from .callgraph import INDIRECT_MODES, CallGraph, IndirectMode
from .decode import Module


def display_name(module: Module, f: int) -> str:
    """Imports show as `module.name` (what `--imports` matches), others by their function name."""
    func = module.functions[f]
    return func.import_key if func.imported else func.name  # type: ignore[return-value]


def chain_parts(analysis: Analysis, steps: Iterable[ChainStep]) -> list[str]:
    """Each step of a chain as one string (so a report can shorten a long chain); the last carries
    why the chain ends there when it is not an async import."""
    m = analysis.module
    seq = list(steps)
    parts = []
    for step in seq:
        name = display_name(m, step.function)
        if step.via:
            name = f"({step.via.describe(m)}) {name}"
        elif step.observed is not None:
            name = f"(observed at run time{' in ' + step.observed if step.observed else ''}) {name}"
        parts.append(name)
    last = seq[-1].function if seq else None
    if last is not None and last in analysis.reasons:
        parts[-1] += f"  [{analysis.reasons[last]}]"
    elif last is not None and not m.functions[last].imported and analysis.mode == "all":
        parts[-1] += "  [contains an indirect call: Binaryen assumes it may unwind]"
    return parts


def format_chain(analysis: Analysis, steps: Iterable[ChainStep]) -> str:
    """`f → g → (indirect via type (i32) -> i32, table 0) h → env.sleep_ms`."""
    return " → ".join(chain_parts(analysis, steps))


def chain_names(analysis: Analysis, f: int) -> list[dict[str, Any]]:
    m = analysis.module
    return [{"function": display_name(m, s.function), "index": s.function,
             **({"via": s.via.describe(m)} if s.via else {})} for s in analysis.chain(f)]


def find_function(module: Module, name: str) -> int | None:
    """By name, by `module.name` for imports, by export name (binaries without a name section), or
    by index (`123` or `wasm-function[123]`, V8's spelling)."""
    for f in module.functions:
        if f.name == name or f.import_key == name:
            return f.index
    for e in module.exports:
        if e.kind == "func" and e.name == name:
            return e.index
    digits = name.removeprefix("wasm-function[").removesuffix("]")
    if digits.isdigit() and int(digits) < len(module.functions):
        return int(digits)
    return None


def export_note(module: Module, f: int) -> str:
    """` (exported as X)` for a function without a name, so reports say which one it is."""
    if module.functions[f].has_name or module.functions[f].imported:
        return ""
    names = [e.name for e in module.exports if e.kind == "func" and e.index == f]
    return f" (exported as {', '.join(names[:3])})" if names else ""


def suggest(module: Module, name: str) -> list[str]:
    names = [f.name for f in module.functions] + [e.name for e in module.exports if e.kind == "func"]
    return difflib.get_close_matches(name, names, n=5, cutoff=0.6)


def why_text(analysis: Analysis, f: int) -> tuple[str, bool]:
    """The explanation `why` prints, and whether `f` is in the list."""
    m, g = analysis.module, analysis.graph
    name = display_name(m, f) + export_note(m, f)
    if f in analysis.barriers:
        return f"{name} is never instrumented: it {analysis.barriers[f].removeprefix('calls ')}.", False
    if f in analysis.roots:
        return (f"{name} must be in the list, though Binaryen never instruments it: it {analysis.roots[f]} "
                "(Binaryen's top-most runtime), so its callers are instrumented, and with an onlylist they check "
                "for an unwind after calling it only when it is listed.", True)
    if m.functions[f].imported:
        if f in analysis.async_imports:
            return f"{name} is an async import itself: its callers are instrumented, not it.", False
        return f"{name} is an import that is not async (not matched by --imports), so it never unwinds.", False
    if analysis.contains(f):
        return f"{name} must be instrumented:\n  " + format_chain(analysis, analysis.chain(f)), True
    callees = g.callees(f, analysis.mode)
    lines = [f"{name} is not in the list: no path from it reaches an async import "
             f"(--indirect {analysis.mode})."]
    if callees:
        shown = ", ".join(display_name(m, c) for c in callees[:8]) + (", …" if len(callees) > 8 else "")
        lines.append(f"  It calls {len(callees)} function(s), none of which can reach one: {shown}")
    else:
        lines.append("  It calls no functions.")
    if g.has_indirect(f) and analysis.mode != "typed":
        lines.append("  It contains indirect calls" + (" (ignored in this mode)." if analysis.mode == "ignore" else "."))
    for other in INDIRECT_MODES:
        if other != analysis.mode:
            alt = analyze(g, analysis.async_imports, other, roots=analysis.roots,  # type: ignore[arg-type]
                          barriers=analysis.barriers)
            if alt.contains(f):
                lines.append(f"  Under --indirect {other} it would be in the list:\n    {format_chain(alt, alt.chain(f))}")
    return "\n".join(lines), False


def stats(analysis: Analysis, contributions: bool = True) -> dict[str, Any]:
    """Counts for --stats: functions, list size under each mode, and what each async import pulls in.

    Every count is a closure's own answer (edges observed by `trace` included): `instrumented_by_mode`
    is the list's size under each --indirect mode, `per_import[name]` the list's size if that import
    alone were async (`analysis.import_contributions`, one pass for all imports)."""
    m, g = analysis.module, analysis.graph
    extra: dict[int, set[int]] = {}
    for caller, callee in analysis.origins:
        extra.setdefault(caller, set()).add(callee)
    defined = len(m.functions) - m.num_imported_functions
    by_mode = {mode: len(analyze(g, analysis.async_imports, mode, extra).members) if mode != analysis.mode  # type: ignore[arg-type]
               else len(analysis.members) for mode in INDIRECT_MODES}
    out: dict[str, Any] = {
        "functions": len(m.functions), "defined_functions": defined, "imported_functions": m.num_imported_functions,
        "async_imports": len(analysis.async_imports), "instrumented": len(analysis.members),
        "mode": analysis.mode, "instrumented_by_mode": by_mode,
        "functions_with_indirect_calls": len(g.indirect_sites), "indirect_sites": len(g.sites),
        "unnamed_in_list": len(analysis.unnamed_members()),
    }
    if contributions:
        contrib = import_contributions(g, analysis.async_imports, analysis.mode, extra)
        out["per_import"] = {display_name(m, i): n for i, n in sorted(contrib.items(), key=lambda kv: (-kv[1], kv[0]))}
        if analysis.mode == "all":
            out["in_every_import_list"] = len(analyze(g, [], "all", extra).members)
    return out


def stats_text(st: dict[str, Any]) -> str:
    lines = [f"functions: {st['functions']} ({st['defined_functions']} defined, {st['imported_functions']} imported)",
             f"async imports: {st['async_imports']}",
             f"instrumented (--indirect {st['mode']}): {st['instrumented']} "
             f"({100 * st['instrumented'] / max(st['defined_functions'], 1):.1f}% of defined functions)",
             "by indirect mode:  " + "   ".join(f"{k}: {v}" for k, v in st["instrumented_by_mode"].items()),
             f"functions with indirect calls: {st['functions_with_indirect_calls']}, indirect call targets sets: {st['indirect_sites']}"]
    if st.get("per_import"):
        lines.append(f"list size if each async import alone were async (--indirect {st['mode']}):")
        lines += [f"  {n:7d}  {name}" for name, n in list(st["per_import"].items())[:25]]
        if len(st["per_import"]) > 25:
            lines.append(f"  … and {len(st['per_import']) - 25} more")
        if "in_every_import_list" in st:
            lines.append(f"  ({st['in_every_import_list']} of each are there whatever the imports: they reach an indirect "
                         "call, which --indirect all assumes may unwind)")
    return "\n".join(lines)


def json_report(analysis: Analysis, with_stats: bool = True) -> dict[str, Any]:
    m = analysis.module
    return {
        "tool": "asyncify-doctor", "wasm": m.path, "mode": analysis.mode,
        "async_imports": [display_name(m, i) for i in analysis.async_imports],
        "functions": [{"name": m.functions[f].name, "index": f, "named": m.functions[f].has_name,
                       "chain": chain_names(analysis, f)} for f in analysis.listed],
        **({"stats": stats(analysis)} if with_stats else {}),
    }


def graph_json(graph: CallGraph, mode: IndirectMode) -> str:
    m = graph.module
    funcs = [{"index": f.index, "name": f.import_key if f.imported else f.name, "imported": f.imported,
              "callees": graph.callees(f.index, mode)} for f in m.functions]
    return json.dumps({"functions": funcs}, indent=1, ensure_ascii=False) + "\n"


def graph_dot(graph: CallGraph, mode: IndirectMode, highlight: set[int] | None = None) -> str:
    m = graph.module
    q = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    lines = ["digraph callgraph {", "  rankdir=LR; node [shape=box, fontname=monospace];"]
    for f in m.functions:
        attrs = ["style=dashed"] if f.imported else []
        if highlight and f.index in highlight:
            attrs.append("color=red")
        lines.append(f"  f{f.index} [label={q(display_name(m, f.index))}{', ' + ', '.join(attrs) if attrs else ''}];")
    for f in m.functions:
        direct = set(graph.direct[f.index])
        for c in graph.callees(f.index, mode):
            style = "" if c in direct else " [style=dotted]"
            lines.append(f"  f{f.index} -> f{c}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
