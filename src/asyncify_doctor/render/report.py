"""Analysis → human and machine output: witness chains, `why`, stats, the graph as JSON or dot."""
from __future__ import annotations

import json
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..analysis.async_when import prune, why_lines
from ..analysis.closure import Analysis, ChainStep, analyze, import_contributions
from ..analysis.cost import estimate
from ..graph.callgraph import INDIRECT_MODES, CallGraph, IndirectMode
from ..decode import Module, display_name, shown_name
from ..schemas import document, dumps
from .glue import glue_json

if TYPE_CHECKING:
    from ..analysis.glue_imports import GlueUse


class ChainWords:
    """The words of many chains of one analysis, each distinct step worded once: a report of 14,000
    chains shares most of their steps (they are paths of one shortest-path tree)."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.module = analysis.module
        self._parts: dict[tuple[int, int, str | None], str] = {}
        self._json: dict[tuple[int, int, str | None], dict[str, Any]] = {}
        self._via: dict[int, str] = {}

    def _via_text(self, step: ChainStep) -> str | None:
        if step.via is None:
            return None
        key = id(step.via)
        if key not in self._via:
            self._via[key] = step.via.describe(self.module)
        return self._via[key]

    def part(self, step: ChainStep) -> str:
        key = (step.function, id(step.via) if step.via else -1, step.observed)
        if key not in self._parts:
            name = shown_name(self.module, step.function)   # a minified name with its real one from the glue
            via = self._via_text(step)
            if via:
                name = f"({via}) {name}"
            elif step.observed is not None:
                name = f"(observed at run time{' in ' + step.observed if step.observed else ''}) {name}"
            self._parts[key] = name
        return self._parts[key]

    def parts(self, steps: Iterable[ChainStep]) -> list[str]:
        """Each step as one string (so a report can shorten a long chain); the last carries why the
        chain ends there when it is not an async import."""
        seq = list(steps)
        parts = list(map(self.part, seq))
        last = seq[-1].function if seq else None
        an = self.analysis
        if last is not None and last in an.reasons:
            parts[-1] += f"  [{an.reasons[last]}]"
        elif last is not None and not self.module.functions[last].imported and an.mode == "all":
            parts[-1] += "  [contains an indirect call: Binaryen assumes it may unwind]"
        return parts

    def text(self, steps: Iterable[ChainStep]) -> str:
        return " → ".join(self.parts(steps))

    def step_json(self, step: ChainStep) -> dict[str, Any]:
        key = (step.function, id(step.via) if step.via else -1, step.observed)
        if key not in self._json:
            self._json[key] = step_json(self.module, step)
        return self._json[key]

    def steps_json(self, steps: Iterable[ChainStep]) -> list[dict[str, Any]]:
        return list(map(self.step_json, steps))


def chain_parts(analysis: Analysis, steps: Iterable[ChainStep]) -> list[str]:
    """Each step of a chain as one string; the last carries why the chain ends there (`ChainWords`)."""
    return ChainWords(analysis).parts(steps)


def format_chain(analysis: Analysis, steps: Iterable[ChainStep]) -> str:
    """`f → g → (indirect via type (i32) -> i32, table 0) h → env.sleep_ms`."""
    return " → ".join(chain_parts(analysis, steps))


def step_json(m: Module, s: ChainStep) -> dict[str, Any]:
    """One chain step as JSON documents carry it: `via` in words; for a call_indirect whose index was
    proven, `index_values` (the slots) and `index_proof` (why) too; `observed` where a trace saw it."""
    via = s.via
    return {"function": display_name(m, s.function), "index": s.function,
            **({"via": via.describe(m)} if via else {}),
            **({"index_values": via.index, "index_proof": via.proof} if via and via.index is not None else {}),
            **({"observed": s.observed} if s.observed is not None else {})}


def chain_names(analysis: Analysis, f: int) -> list[dict[str, Any]]:
    m = analysis.module
    return [step_json(m, s) for s in analysis.chain(f)]


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
    import difflib
    names = list(dict.fromkeys([f.name for f in module.functions] + [e.name for e in module.exports if e.kind == "func"]))
    return difflib.get_close_matches(name, names, n=5, cutoff=0.6)


def why_text(analysis: Analysis, f: int) -> tuple[str, bool]:
    """The explanation `why` prints, and whether `f` is in the list."""
    m, g = analysis.module, analysis.graph
    name = shown_name(m, f) + export_note(m, f)
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
        from ..analysis.chains import chain_hubs, observed_first_chain
        steps, seen = observed_first_chain(analysis, f)
        reasons = [g.table_reason(s.via.table, s.function) for s in steps if s.via and s.via.table is not None]
        reasons += index_notes(analysis, steps)
        return (f"{name} must be instrumented:\n  " + format_chain(analysis, steps)
                + "".join(f"\n  where {r}" for r in reasons if r) + seen_note(analysis, seen)
                + hub_note(analysis, chain_hubs(analysis, steps, seen))
                + "".join("\n" + line for line in why_lines(analysis, f))), True
    proven = {w for u, w in analysis.pruned if u == f}
    callees = [c for c in g.callees(f, analysis.mode) if c not in proven]
    lines = [f"{name} is not in the list: no path from it reaches an async import "
             f"(--indirect {analysis.mode}{', calls proven never to suspend aside' if proven else ''})."]
    if callees:
        shown = ", ".join(display_name(m, c) for c in callees[:8]) + (", …" if len(callees) > 8 else "")
        lines.append(f"  It calls {len(callees)} {'other ' if proven else ''}function(s), none of which can reach one: {shown}")
    elif not proven:
        lines.append("  It calls no functions.")
    if g.has_indirect(f) and analysis.mode != "typed":
        lines.append("  It contains indirect calls" + (" (ignored in this mode)." if analysis.mode == "ignore" else "."))
    lines += why_lines(analysis, f)
    for other in INDIRECT_MODES:
        if other != analysis.mode:
            pr = analysis.pruning
            pruned = prune(g, other, analysis.async_imports, pr.statements, roots=analysis.roots,  # type: ignore[arg-type]
                           barriers=analysis.barriers).edges if pr is not None else None
            alt = analyze(g, analysis.async_imports, other, roots=analysis.roots,  # type: ignore[arg-type]
                          barriers=analysis.barriers, pruned=pruned)
            if alt.contains(f):
                lines.append(f"  Under --indirect {other} it would be in the list:\n    {format_chain(alt, alt.chain(f))}")
    return "\n".join(lines), False


def index_notes(analysis: Analysis, steps: list[ChainStep]) -> list[str]:
    """For each `call_indirect` hop of a chain whose table has known slots but whose index was not
    narrowed, why not (`values.refine_indirect`)."""
    g, m = analysis.graph, analysis.module
    notes = getattr(g, "index_notes", {})
    out = []
    for prev, step in pairwise(steps):
        via = step.via
        if via is None or via.table is None or via.index is not None:
            continue
        note = notes.get((prev.function, via.type_index, via.table)) or getattr(g, "table_notes", {}).get(via.table)
        if note:
            out.append(f"{display_name(m, prev.function)}'s call_indirect (table {via.table}) may use any slot: {note}")
    return out


def why_json(analysis: Analysis, f: int) -> dict[str, Any]:
    """`why --format json` (schema `asyncify-doctor/why/1`): the verdict, a shortest chain when `f` is in
    the list (each step with how it is reached), and the explanation as `why` words it."""
    text, member = why_text(analysis, f)
    m = analysis.module
    return document("why", {"wasm": m.path, "mode": analysis.mode, "function": display_name(m, f), "index": f,
                            "member": member, "chain": chain_names(analysis, f) if analysis.contains(f) else [],
                            "explanation": text, **async_when_json(analysis, f)})


def async_when_json(analysis: Analysis, f: int) -> dict[str, Any]:
    """With --async-when: f's calls proven never to suspend (`never_suspends`: callee, index, proof)
    and, when f itself can suspend only for some values of a parameter, `suspends_only_when`."""
    pr = analysis.pruning
    if pr is None or not pr.statements:
        return {}
    m = analysis.module
    out: dict[str, Any] = {"never_suspends": [{"callee": display_name(m, w), "index": w, "proof": proof}
                                              for (u, w), proof in sorted(pr.proofs.items()) if u == f]}
    if f in pr.conditions:
        k, values = pr.conditions[f]
        out["suspends_only_when"] = {"argument": k, "values": sorted(values), "why": pr.reasons.get(f, "")}
    return out


def seen_note(analysis: Analysis, seen: list[bool]) -> str:
    """With `--observed`: how many of the chain's hops were seen at run time (the chain prefers them)."""
    hops = len(seen) - 1
    if not analysis.origins or hops < 1:
        return ""
    n = sum(seen[1:])
    words = "every hop" if n == hops else f"{n} of its {hops} hops" if n else "none of its hops"
    return f"\n  ({words} seen at run time in the --observed stacks)"


def hub_note(analysis: Analysis, hubs: list[tuple[int | None, str, int]]) -> str:
    """`(through a hub: zend_call_function, 3,412 callers)`: the chain may be an over-approximation."""
    if not hubs:
        return ""

    def one(f: int | None, what: str, n: int) -> str:
        if f is not None:
            return f"{display_name(analysis.module, f)}, {n:,} {what}"
        return f"{'an indirect call ' + what.removeprefix('indirect ') if what.startswith('indirect') else what}, {n:,} possible targets"

    shown = "; ".join(one(*h) for h in hubs[:4]) + ("; …" if len(hubs) > 4 else "")
    return (f"\n  (through {'a hub' if len(hubs) == 1 else 'hubs'}: {shown}. The chain may be an over-approximation: "
            "`trace` records the calls that really happen, and --observed prefers them)")


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
    pr = analysis.pruning

    def pruned(mode: str) -> set[tuple[int, int]] | None:   # --async-when's proof holds per mode
        return prune(g, mode, analysis.async_imports, pr.statements, extra).edges if pr else None  # type: ignore[arg-type]
    by_mode = {mode: len(analyze(g, analysis.async_imports, mode, extra, pruned=pruned(mode)).members)  # type: ignore[arg-type]
               if mode != analysis.mode else len(analysis.members) for mode in INDIRECT_MODES}
    out: dict[str, Any] = {
        "functions": len(m.functions), "defined_functions": defined, "imported_functions": m.num_imported_functions,
        "async_imports": len(analysis.async_imports), "instrumented": len(analysis.members),
        "mode": analysis.mode, "instrumented_by_mode": by_mode,
        "functions_with_indirect_calls": len(g.indirect_sites), "indirect_sites": len(g.sites),
        "unnamed_in_list": len(analysis.unnamed_members()),
        "estimated_added_bytes": estimate(g, analysis.listed, analysis.async_imports),
    }
    if contributions:
        contrib = import_contributions(g, analysis.async_imports, analysis.mode, extra, analysis.pruned)
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
    est = st.get("estimated_added_bytes")
    if est:
        lines.append(f"estimated bytes Asyncify adds with this list (Binaryen 132; within ~10% on the builds in docs/cost.md): "
                     f"{est['O0']:,} after the pass, {est['O2']:,} after -O2, {est['Oz']:,} after -Oz")
    if st.get("per_import"):
        lines.append(f"list size if each async import alone were async (--indirect {st['mode']}):")
        lines += [f"  {n:7d}  {name}" for name, n in list(st["per_import"].items())[:25]]
        if len(st["per_import"]) > 25:
            lines.append(f"  … and {len(st['per_import']) - 25} more")
        if "in_every_import_list" in st:
            lines.append(f"  ({st['in_every_import_list']} of each are there whatever the imports: they reach an indirect "
                         "call, which --indirect all assumes may unwind)")
    return "\n".join(lines)


def json_report(analysis: Analysis, with_stats: bool = True, glue: "GlueUse | None" = None) -> dict[str, Any]:
    """`analyze --format json` (schema `asyncify-doctor/analyze/1`): the list, a chain for each entry, stats;
    with the JS glue, what it said (`glue`, render/glue.py)."""
    from ..decode.features import wasm_opt_needs
    from ..lists.binaryen_names import LATEST, binaryen_names
    m = analysis.module
    given = binaryen_names(m).names
    return document("analyze", {
        "wasm": m.path, "mode": analysis.mode,
        "async_imports": [display_name(m, i) for i in analysis.async_imports],
        "functions": [{"name": m.functions[f].name, "index": f, "named": m.functions[f].has_name,
                       "binaryen_name": given[f], "chain": chain_names(analysis, f)} for f in analysis.listed],
        **({"stats": stats(analysis)} if with_stats else {}),
        **({"glue": glue_json(glue, m)} if glue is not None else {}),
        "wasm_opt": wasm_opt_needs(m, LATEST),   # what wasm-opt needs to read the binary with the list
    })


def graph_sites(graph: CallGraph, mode: IndirectMode) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    """The indirect-call site nodes of the graph under `mode`, as `graph` keeps them (one per (type,
    table) of `call_indirect`, one per type of `call_ref`), each with the functions it may reach; and
    per function with indirect calls, its sites. Under `all` one site stands for Binaryen's view: any
    function in a table or address-taken; under `ignore` there are none."""
    if mode == "ignore":
        return [], {}
    m = graph.module
    if mode == "all":
        targets: set[int] = set(graph.address_taken)
        for contents in graph.table_contents:
            targets |= contents
        site = {"site": 0, "call": "any indirect call", "type": None, "signature": None, "table": None,
                "targets": sorted(targets)}
        return [site], {f: [0] for f in graph.indirect_sites}
    sites = [{"site": i, "call": "call_ref" if s.table is None else "call_indirect", "type": s.type_index,
              "signature": m.types[s.type_index].signature() if s.type_index < len(m.types) else None,
              "table": s.table, **({"index": s.index, "proof": s.proof} if s.index is not None else {}),
              "targets": graph.site_targets(graph.n + i)} for i, s in enumerate(graph.sites)]
    return sites, {f: [node - graph.n for node in nodes] for f, nodes in graph.indirect_sites.items()}


def _ints(xs: Any) -> str:
    """`[1, 2, 3]`: a list's own repr is the JSON of a list of ints."""
    return str(xs if isinstance(xs, list) else xs.tolist())


def graph_json(graph: CallGraph, mode: IndirectMode) -> str:
    """The call graph as JSON text (`graph_json_parts`, joined)."""
    return "".join(graph_json_parts(graph, mode))


def graph_json_parts(graph: CallGraph, mode: IndirectMode, batch: int = 2048) -> Iterator[str]:
    """The call graph as JSON, one function per line, in pieces (so a big graph is written as it is
    made, not held whole). Indirect calls go through site nodes, as in the graph itself (sites and
    their targets, not the product of both, which is millions of pairs on a big Emscripten build): a
    function may call its `callees` (direct calls) and every target of each site in its `indirect`.
    `entry_points` are the functions the host can call (exports, start, functions placed in an
    imported or exported table, held by an exported global), each also marked `"entry": true`."""
    from itertools import repeat
    from json.encoder import encode_basestring as quote  # a JSON string literal, non-ASCII kept (in C)
    from operator import getitem, sub
    m = graph.module
    roots = graph.entry_points()
    sites, by_function = graph_sites(graph, mode)
    off, tgt, n, imported = graph.direct.off, graph.direct.tgt, graph.n, m.num_imported_functions
    line = ('  {{"index": {}, "name": {}, "imported": {}, "entry": {}, "callees": {}, "indirect": {}}}').format
    word = {True: "true", False: "false"}.__getitem__
    yield dumps(document("graph", {"mode": mode}))[:-3] + ',\n "functions": [\n'
    for lo in range(0, n, batch):  # column by column, each a loop in C (a list's repr is its JSON)
        hi = min(n, lo + batch)
        names = [display_name(m, f) for f in range(lo, hi)]
        base = off[lo]
        callees = tgt[base:off[hi]].tolist()   # this batch's only: ints are objects in a list
        rows = map(getitem, repeat(callees), map(slice, map(sub, off[lo:hi], repeat(base)),
                                                 map(sub, off[lo + 1:hi + 1], repeat(base))))
        yield ("" if lo == 0 else ",\n") + ",\n".join(map(
            line, range(lo, hi), map(quote, names), map(word, map(imported.__gt__, range(lo, hi))),
            map(word, map(roots.__contains__, range(lo, hi))), map(str, rows),
            map(str, map(by_function.get, range(lo, hi), repeat([])))))
    yield '\n ],\n "indirect_sites": [\n'
    yield ",\n".join("  " + json.dumps({k: v for k, v in s.items() if k != "targets"}, ensure_ascii=False)[:-1]
                      + f', "targets": {_ints(s["targets"])}}}' for s in sites)
    yield '\n ],\n "entry_points": [\n'
    yield ",\n".join(f'  {{"index": {f}, "name": {quote(display_name(m, f))}, "reasons": [{", ".join(map(quote, why))}]}}'
                      for f, why in roots.items())
    yield "\n ]\n}\n"


def graph_dot(graph: CallGraph, mode: IndirectMode, highlight: set[int] | None = None) -> str:
    """The graph for graphviz (`graph_dot_parts`, joined)."""
    return "".join(graph_dot_parts(graph, mode, highlight))


def graph_dot_parts(graph: CallGraph, mode: IndirectMode, highlight: set[int] | None = None,
                    batch: int = 2048) -> Iterator[str]:
    """The graph for graphviz, in pieces: imports dashed, entry points bold with an edge from a `host`
    node, indirect-call sites as ellipses (dotted edges into and out of them)."""
    m = graph.module
    q = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    roots = graph.entry_points()
    sites, by_function = graph_sites(graph, mode)

    def node(f: Any) -> str:
        attrs = ["style=dashed"] if f.imported else []
        if f.index in roots:
            attrs.append("style=bold")
        if highlight and f.index in highlight:
            attrs.append("color=red")
        return f"  f{f.index} [label={q(display_name(m, f.index))}{', ' + ', '.join(attrs) if attrs else ''}];\n"

    yield 'digraph callgraph {\n  rankdir=LR; node [shape=box, fontname=monospace];\n'
    yield '  host [label="host", shape=ellipse, style=filled, fillcolor=lightgrey];\n'
    funcs = m.functions
    for i in range(0, len(funcs), batch):
        yield "".join(map(node, funcs[i:i + batch]))
    for s in sites:
        label = s["call"] if s["signature"] is None else \
            f"{s['call']} {s['signature']}" + ("" if s["table"] is None else f", table {s['table']}")
        yield f"  s{s['site']} [label={q(label)}, shape=ellipse];\n"
    yield "".join(f"  host -> f{f} [style=dashed, tooltip={q('; '.join(why))}];\n" for f, why in roots.items())
    off, tgt = graph.direct.off, graph.direct.tgt
    for i in range(0, graph.n, batch):
        hi = min(i + batch, graph.n)
        yield "".join(f"  f{f} -> f{c};\n" for f in range(i, hi) for c in tgt[off[f]:off[f + 1]]) + \
            "".join(f"  f{f} -> s{k} [style=dotted];\n" for f in range(i, hi) for k in by_function.get(f, ()))
    for s in sites:
        yield "".join(f"  s{s['site']} -> f{t} [style=dotted];\n" for t in s["targets"])
    yield "}\n"
