"""The pipeline every analysing command runs: decode, choose the async imports, build the call graph,
compute the closure (with Binaryen's runtime rules and observed edges). Silent: progress and warnings
are the caller's (the commands print them)."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..decode import Module, read_module
from ..graph.callgraph import CallGraph, HostTable, IndirectMode
from .closure import Analysis, analyze
from .recognize import RuntimeCalls, runtime_calls
from .selection import ImportSelection, Trampolines, expand_args, select_imports

if TYPE_CHECKING:
    from ..graph.values import HostMemory

if TYPE_CHECKING:
    from .glue_imports import GlueUse


def load_module(path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None,
                max_mb: float | None = None) -> Module:
    """Decode a binary; `progress(done, total)` is told how far (the commands show it on a terminal)."""
    return read_module(path, progress=progress, max_mb=max_mb)


@dataclass
class AnalysisResult:
    module: Module
    graph: CallGraph
    selection: ImportSelection
    analysis: Analysis
    runtime: RuntimeCalls = field(default_factory=RuntimeCalls)


def observed_edges(module: Module, stacks: list[dict]) -> dict[int, dict[int, str]]:
    """Caller → callee pairs seen in recorded stacks (innermost frame first), matched to this binary by
    name (by index when a frame has no name), plus each innermost frame → the import it called; each
    with where it was first seen (`trace.origin`), for `why`."""
    if not stacks:
        return {}
    from ..traces.stacks import origin

    by_name = {f.name: f.index for f in module.functions}
    by_key = {f.import_key: f.index for f in module.functions if f.imported}
    edges: dict[int, dict[int, str]] = {}
    for st in stacks:
        found = [by_name.get(f.get("name")) if f.get("name") else f.get("index") for f in st["frames"]]
        idx: list[int] = [i for i in found if isinstance(i, int) and 0 <= i < len(module.functions)]
        imp = by_key.get(st.get("import") or "")
        where = origin(st)
        pairs = list(zip(idx[1:], idx))
        if idx and imp is not None:
            pairs.append((idx[0], imp))
        for caller, callee in pairs:
            edges.setdefault(caller, {}).setdefault(callee, where)
    return edges


def prepare(wasm: str | os.PathLike[str] | Module, imports: list[str] | None = None, mode: IndirectMode = "typed",
            host_table: HostTable | None = "sound", *, emscripten: bool | None = None,
            trampolines: Trampolines = "typed", ignore_imports: bool = False,
            glue: "GlueUse | None" = None, host_memory: HostMemory = "sound",
            index_values: bool = True) -> tuple[Module, ImportSelection, CallGraph]:
    """Decode (unless given a Module), choose the async imports, build the call graph (with the
    trampolines the selection models as re-entries). With the JS `glue` (`glue_imports.glue_use` of
    this module), its async imports are the selection unless `imports` are given, and `host_table`
    None is what the glue shows of the table (None without a glue: sound). `index_values=False`:
    every call_indirect typed, for a caller that narrows them itself later, as audit does."""
    module = wasm if isinstance(wasm, Module) else load_module(wasm)
    if glue is not None:
        from .glue_imports import decide_host_table
        host_table = decide_host_table(glue, host_table)
        if glue.aliases:
            module.aliases = glue.aliases
    selection = select_imports(module, expand_args(imports or []), emscripten_rules=emscripten,
                               trampolines=trampolines, mode=mode, ignore_imports=ignore_imports, glue=glue)
    return module, selection, CallGraph(module, host_table or "sound", trampolines=selection.trampolines,
                                        host_memory=host_memory, index_values=index_values)


def glue_fix_inputs(use: "GlueUse", module: Module, imports: list[str],
                    host_table: HostTable | None) -> tuple[list[str], bool | None, HostTable]:
    """For `fix`, which reruns the analysis from patterns every round: the glue's async imports as exact
    `module.name` patterns when `imports` is empty (emcc's rules off: the glue says what emcc added),
    else `imports` as given; and the host table the glue decides. Also fills in `use` (where the
    selection comes from, --imports against the glue) for the commands to say."""
    from .glue_imports import decide_host_table
    select_imports(module, expand_args(imports), glue=use)
    table = decide_host_table(use, host_table)
    if use.selects:
        return [module.functions[f].import_key or "" for f in use.async_imports], False, table
    return imports, None, table


def run_analysis(wasm: str | os.PathLike[str] | Module, imports: list[str] | None = None,
                 mode: IndirectMode = "typed", host_table: HostTable | None = "sound",
                 extra_edges: dict[int, set[int]] | None = None, observed: list[dict] | None = None, *,
                 emscripten: bool | None = None, trampolines: Trampolines = "typed",
                 removed: dict[int, str] | None = None, ignore_imports: bool = False,
                 glue: "GlueUse | None" = None, host_memory: HostMemory = "sound",
                 async_when: list[str] | None = None) -> AnalysisResult:
    """Decode, build the call graph and compute the async closure.

    `imports` are `module.name` patterns (with `*`), or `@file` references; None or [] means every
    import is async, as in Binaryen without `asyncify-imports` (for an Emscripten build: the
    imports emcc makes async by itself). Code that calls the `asyncify.*` imports follows Binaryen's
    runtime rules (`recognize.runtime_calls`); `removed` functions (a removelist) are barriers.
    `glue`: the build's JS glue (see `prepare`). `host_memory="module"` trusts the host never to write
    memory the module's own code cannot write (loads of constant data can then narrow `call_indirect`
    targets; see `graph.values`). `async_when`: `IMPORT:ARG=V[,V…]` statements that an async import
    suspends only for those values of one argument (`async_when`); calls proven to pass other values do
    not make their caller async.
    """
    module, selection, graph = prepare(wasm, imports, mode, host_table, emscripten=emscripten, trampolines=trampolines,
                                       ignore_imports=ignore_imports, glue=glue, host_memory=host_memory)
    return analyze_prepared(module, selection, graph, selection.functions, mode, extra_edges, observed, removed=removed,
                            async_when=async_when)


def analyze_prepared(module: Module, selection: ImportSelection, graph: CallGraph, async_imports: list[int],
                     mode: IndirectMode = "typed", extra_edges: dict[int, set[int]] | None = None,
                     observed: list[dict] | None = None, runtime: RuntimeCalls | None = None,
                     removed: dict[int, str] | None = None, async_when: list[str] | None = None) -> AnalysisResult:
    """The closure on an already built graph, from `async_imports` and the runtime calls."""
    runtime = runtime if runtime is not None else runtime_calls(graph)
    seen = observed_edges(module, observed or [])
    edges = {**(extra_edges or {})}
    for caller, callees in seen.items():
        edges[caller] = edges.get(caller, set()) | set(callees)
    barriers = {**runtime.bottommost, **(removed or {})}
    pruning = None
    if async_when:
        from .async_when import parse_async_when, prune
        statements = parse_async_when(module, async_when, async_imports)
        pruning = prune(graph, mode, async_imports, statements, edges, roots=runtime.topmost, barriers=barriers,
                        sources=runtime.sources)
    analysis = analyze(graph, async_imports, mode, edges, roots=runtime.topmost, barriers=barriers,
                       sources=runtime.sources, pruned=pruning.edges if pruning else None)
    analysis.pruning = pruning
    analysis.origins = {(caller, callee): where for caller, callees in seen.items() for callee, where in callees.items()}
    return AnalysisResult(module, graph, selection, analysis, runtime)
