"""Analysis → human and machine output: witness chains, `why`, stats, the graph as JSON or dot."""
from __future__ import annotations

import difflib
import json
from typing import Any

from .analysis import Analysis, ChainStep, analyze, import_contributions
from .callgraph import INDIRECT_MODES, CallGraph, IndirectMode
from .decode import Module


def display_name(module: Module, f: int) -> str:
    """Imports show as `module.name` (what `--imports` matches), others by their function name."""
    func = module.functions[f]
    return func.import_key if func.imported else func.name  # type: ignore[return-value]


def format_chain(analysis: Analysis, steps: list[ChainStep]) -> str:
    """`f → g → (indirect via type (i32) -> i32, table 0) h → env.sleep_ms`."""
    m = analysis.module
    parts = []
    for step in steps:
        name = display_name(m, step.function)
        if step.via:
            name = f"({step.via.describe(m)}) {name}"
        elif step.observed is not None:
            name = f"(observed at run time{' in ' + step.observed if step.observed else ''}) {name}"
        parts.append(name)
    text = " → ".join(parts)
    last = steps[-1].function if steps else None
    if last is not None and not m.functions[last].imported and analysis.mode == "all":
        text += "  [contains an indirect call: Binaryen assumes it may unwind]"
    return text


def chain_names(analysis: Analysis, f: int) -> list[dict[str, Any]]:
    m = analysis.module
    return [{"function": display_name(m, s.function), "index": s.function,
             **({"via": s.via.describe(m)} if s.via else {})} for s in analysis.chain(f)]


def find_function(module: Module, name: str) -> int | None:
    """By name, by `module.name` for imports, or by index (`123` or `wasm-function[123]`)."""
    for f in module.functions:
        if f.name == name or f.import_key == name:
            return f.index
    digits = name.removeprefix("wasm-function[").removesuffix("]")
    if digits.isdigit() and int(digits) < len(module.functions):
        return int(digits)
    return None


def suggest(module: Module, name: str) -> list[str]:
    return difflib.get_close_matches(name, [f.name for f in module.functions], n=5, cutoff=0.6)


def why_text(analysis: Analysis, f: int) -> tuple[str, bool]:
    """The explanation `why` prints, and whether `f` is in the list."""
    m, g = analysis.module, analysis.graph
    name = display_name(m, f)
    if m.functions[f].imported:
        if f in analysis.async_imports:
            return f"{name} is an async import itself: its callers are instrumented, not it.", False
        return f"{name} is an import that is not async (not matched by --imports), so it never unwinds.", False
    if analysis.contains(f):
        steps = analysis.chain(f)
        reasons = [g.table_reason(s.via.table, s.function) for s in steps if s.via and s.via.table is not None]
        return (f"{name} must be instrumented:\n  " + format_chain(analysis, steps)
                + "".join(f"\n  where {r}" for r in reasons if r)), True
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
            alt = analyze(g, analysis.async_imports, other)  # type: ignore[arg-type]
            if alt.contains(f):
                lines.append(f"  Under --indirect {other} it would be in the list:\n    {format_chain(alt, alt.chain(f))}")
    return "\n".join(lines), False


def stats(analysis: Analysis, contributions: bool = True) -> dict[str, Any]:
    """Counts for --stats: functions, list size under each mode, per-import contribution."""
    m, g = analysis.module, analysis.graph
    defined = len(m.functions) - m.num_imported_functions
    by_mode = {mode: len(analyze(g, analysis.async_imports, mode).members) if mode != analysis.mode
               else len(analysis.members) for mode in INDIRECT_MODES}
    out: dict[str, Any] = {
        "functions": len(m.functions), "defined_functions": defined, "imported_functions": m.num_imported_functions,
        "async_imports": len(analysis.async_imports), "instrumented": len(analysis.members),
        "mode": analysis.mode, "instrumented_by_mode": by_mode,
        "functions_with_indirect_calls": len(g.indirect_sites), "indirect_sites": len(g.sites),
        "unnamed_in_list": len(analysis.unnamed_members()),
    }
    if contributions:
        contrib = import_contributions(g, analysis.async_imports, analysis.mode)
        out["per_import"] = {display_name(m, i): n for i, n in sorted(contrib.items(), key=lambda kv: (-kv[1], kv[0]))}
    return out


def stats_text(st: dict[str, Any]) -> str:
    lines = [f"functions: {st['functions']} ({st['defined_functions']} defined, {st['imported_functions']} imported)",
             f"async imports: {st['async_imports']}",
             f"instrumented (--indirect {st['mode']}): {st['instrumented']} "
             f"({100 * st['instrumented'] / max(st['defined_functions'], 1):.1f}% of defined functions)",
             "by indirect mode:  " + "   ".join(f"{k}: {v}" for k, v in st["instrumented_by_mode"].items()),
             f"functions with indirect calls: {st['functions_with_indirect_calls']}, indirect call targets sets: {st['indirect_sites']}"]
    if st.get("per_import"):
        lines.append("functions reaching each async import:")
        lines += [f"  {n:7d}  {name}" for name, n in list(st["per_import"].items())[:25]]
        if len(st["per_import"]) > 25:
            lines.append(f"  … and {len(st['per_import']) - 25} more")
    return "\n".join(lines)


def json_report(analysis: Analysis, with_stats: bool = True) -> dict[str, Any]:
    m = analysis.module
    return {
        "tool": "asyncify-doctor", "wasm": m.path, "mode": analysis.mode,
        "async_imports": [display_name(m, i) for i in analysis.async_imports],
        "functions": [{"name": m.functions[f].name, "index": f, "named": m.functions[f].has_name,
                       "chain": chain_names(analysis, f)} for f in analysis.members],
        **({"stats": stats(analysis)} if with_stats else {}),
    }


def graph_json(graph: CallGraph, mode: IndirectMode) -> str:
    """Every function with its callees under `mode`, and the entry points: the functions the host can
    call (exports, start, functions placed in an imported or exported table, held by an exported
    global), each marked `"entry": true` and listed with their reasons under `entry_points`."""
    m = graph.module
    roots = graph.entry_points()
    funcs = [{"index": f.index, "name": f.import_key if f.imported else f.name, "imported": f.imported,
              "entry": f.index in roots, "callees": graph.callees(f.index, mode)} for f in m.functions]
    entries = [{"index": f, "name": display_name(m, f), "reasons": why} for f, why in roots.items()]
    return json.dumps({"functions": funcs, "entry_points": entries}, indent=1, ensure_ascii=False) + "\n"


def graph_dot(graph: CallGraph, mode: IndirectMode, highlight: set[int] | None = None) -> str:
    """The graph for graphviz: imports dashed, entry points bold with an edge from a `host` node."""
    m = graph.module
    q = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    roots = graph.entry_points()
    lines = ["digraph callgraph {", "  rankdir=LR; node [shape=box, fontname=monospace];",
             '  host [label="host", shape=ellipse, style=filled, fillcolor=lightgrey];']
    for f in m.functions:
        attrs = ["style=dashed"] if f.imported else []
        if f.index in roots:
            attrs.append("style=bold")
        if highlight and f.index in highlight:
            attrs.append("color=red")
        lines.append(f"  f{f.index} [label={q(display_name(m, f.index))}{', ' + ', '.join(attrs) if attrs else ''}];")
    for f, why in roots.items():
        lines.append(f"  host -> f{f} [style=dashed, tooltip={q('; '.join(why))}];")
    for f in m.functions:
        direct = set(graph.direct[f.index])
        for c in graph.callees(f.index, mode):
            style = "" if c in direct else " [style=dotted]"
            lines.append(f"  f{f.index} -> f{c}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
