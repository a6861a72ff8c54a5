"""What a JSPI build must mark, and the hazards that trap under JSPI but not under Asyncify.

Under JSPI (JavaScript Promise Integration) the engine switches stacks: no instrumentation, but
- every export from which a suspending import is reachable must be wrapped with
  `WebAssembly.promising` (Emscripten's JSPI_EXPORTS); calling it unwrapped traps (SuspendError);
- a suspension must not cross a JavaScript frame. Imports that call back into wasm — Emscripten's
  `invoke_*` trampolines (setjmp/longjmp and C++ exceptions), or JS code that calls table entries —
  put a JS frame on the stack; if the wasm they call can suspend, Asyncify copes and JSPI traps.

Re-entering imports are matched by `--reenters` patterns (default `env.invoke_*`). An `invoke_X`
import is Emscripten's trampoline: `invoke_X(index, args…)` calls table entry `index` with `args`,
so it re-enters the table functions whose type is X's type without the leading index parameter.
Other re-entering imports may call any function in an imported or exported table, or any export.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .closure import UNREACHED, Analysis, ChainStep, analyze, bfs
from ..graph.callgraph import CallGraph, IndirectMode
from ..decode import Module
from .selection import import_matches

if TYPE_CHECKING:
    from ..emscripten import WrapComparison
    from .glue_imports import GlueUse

DEFAULT_REENTERS = ("env.invoke_*",)


@dataclass
class Hazard:
    """A path on which a suspension would cross the JS frame of a re-entering import."""

    caller_path: list[int]   # export → … → caller (functions), which calls the import
    callee_steps: list[ChainStep]   # re-entered function → … → suspending import
    reenter: int             # the import
    entry: int               # re-entered function
    analysis: Analysis = field(repr=False, compare=False)


@dataclass
class JspiReport:
    module: Module
    suspending_imports: list[int]
    reentering_imports: list[int]
    suspending_exports: list[str]
    hazards: list[Hazard] = field(default_factory=list)
    needless_wraps: list[str] = field(default_factory=list)
    missing_wraps: list[str] = field(default_factory=list)
    migration: dict | None = None
    glue: "GlueUse | None" = None
    glue_wraps: "WrapComparison | None" = None   # the glue's WebAssembly.promising wraps against what can suspend

    @property
    def failing(self) -> bool:
        """Something traps: a JS-frame hazard, or an export that can suspend and is not wrapped."""
        return bool(self.hazards or self.missing_wraps or (self.glue_wraps is not None and self.glue_wraps.missing))


def with_glue(rep: JspiReport, use: "GlueUse") -> JspiReport:
    """What the build's JS glue wraps (JSPI glue only: an Asyncify build's wraps nothing): wrapped,
    missing (can suspend, the glue reads it by name, so JS calls it: SuspendError), needless (never
    suspends), and the exports that can suspend but only wasm calls (side modules, the table)."""
    from ..emscripten import compare_wraps
    rep.glue = use
    if use.glue.jspi:
        rep.glue_wraps = compare_wraps(use.facts, rep.suspending_exports)
    return rep


def migration(am: Module, jspi_module: Module) -> dict:
    """What the Asyncify build pays that the JSPI build does not: instrumented functions and bytes."""
    from .recognize import recognize

    info = recognize(CallGraph(am))
    body = sum(am.body_size(f) for f in info.instrumented)
    code_a = sum(am.code.bodies[1::2]) if am.code else 0
    code_j = sum(jspi_module.code.bodies[1::2]) if jspi_module.code else 0
    return {"asyncify_build": am.path, "asyncified": info.asyncified,
            "instrumented_functions": len(info.instrumented), "instrumented_code_bytes": body,
            "asyncify_file_bytes": am.size, "jspi_file_bytes": jspi_module.size,
            "asyncify_code_bytes": code_a, "jspi_code_bytes": code_j}


def reentry_targets(graph: CallGraph, imp: int) -> list[int]:
    """Functions a re-entering import may call back into (`CallGraph.reentry_targets`)."""
    return graph.reentry_targets(imp)


def _forward_tree(graph: CallGraph, starts: set[int], mode: IndirectMode) -> array:
    """One breadth-first search forward from all of `starts` (exports): per node, the node it was first
    reached from (a start: itself; UNREACHED if none). Starts enter the queue in the set's order and
    callees are taken in `CallGraph.successors` order, so every node's path is the one a search toward
    it alone would find; one search serves every hazard."""
    return bfs(graph.successor_rows(mode), array("I", starts), array("I"))


def _forward_chain(graph: CallGraph, tree: array, goal: int) -> list[int] | None:
    """Shortest call path from an export to `goal` along the tree, functions only, for the hazard's
    first half; None if no export reaches it."""
    if tree[goal] == UNREACHED:
        return None
    path = [goal]
    while tree[path[-1]] != path[-1]:
        path.append(tree[path[-1]])
    return [p for p in reversed(path) if not graph.is_site(p)]


def jspi_report(graph: CallGraph, selected_imports: list[int], mode: IndirectMode = "typed",
                reenters: tuple[str, ...] = DEFAULT_REENTERS, current_wraps: list[str] | None = None) -> JspiReport:
    m = graph.module
    reentering = [i for i in selected_imports + [f.index for f in m.functions if f.imported]
                  if any(import_matches(p, m.functions[i].import_key or "") for p in reenters)]
    reentering = sorted(set(reentering))
    suspending = [i for i in selected_imports if i not in reentering]
    an = analyze(graph, suspending, mode)
    exports = {e.index: e.name for e in m.exports if e.kind == "func"}
    susp_exports = sorted(name for f, name in exports.items() if an.contains(f) or f in suspending)
    rep = JspiReport(m, suspending, reentering, susp_exports)
    rep.hazards = _hazards(graph, an, reentering, set(exports), mode)
    if current_wraps is not None:
        rep.needless_wraps = sorted(set(current_wraps) - set(susp_exports))
        rep.missing_wraps = sorted(set(susp_exports) - set(current_wraps))
    return rep


def _hazards(graph: CallGraph, an: Analysis, reentering: list[int], exports: set[int], mode: IndirectMode) -> list[Hazard]:
    """One hazard per re-entering import that some export reaches a call of and that re-enters a
    function that can suspend: its first such function (by index), the path to its first caller (in
    row order) that an export reaches, both from one forward search shared by all imports."""
    out = []
    rev = graph.reverse(mode)
    tree = None
    for imp in reentering:
        callers = [c for c in rev[imp] if not graph.is_site(c)]
        entry = next(filter(an.contains, reentry_targets(graph, imp)), None) if callers else None
        if entry is None:   # nothing calls it, or nothing it re-enters can suspend
            continue
        if tree is None:
            tree = _forward_tree(graph, exports, mode)
        reach = next(filter(None, (_forward_chain(graph, tree, c) for c in callers)), None)
        if reach is None:
            continue
        out.append(Hazard(reach, an.chain(entry), imp, entry, an))
    return out
