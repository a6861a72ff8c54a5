"""Auditing an already-asyncified binary: which functions can be on the stack when an unwind starts
but were not instrumented (crashes waiting to happen), which were instrumented for nothing, and what
the build's own inputs (async imports, lists) really did.

What the build did is read from the binary (`recognize`): the instrumented set, the imports its
instrumented code checks after (so the async imports need not be given), and the code that drives
Asyncify itself. What *should* be instrumented is recomputed with Binaryen's rules (`analysis`)
under the chosen `--indirect` mode; the difference is the report.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .closure import Analysis, ChainStep
from .pipeline import analyze_prepared, prepare
from .binaryen_lists import BinaryenLists, ListCheck, check_lists
from ..graph.callgraph import CallGraph, HostTable, IndirectMode

if TYPE_CHECKING:
    from ..emscripten import AsyncComparison
    from ..graph.values import HostMemory
    from .glue_imports import GlueUse
    from .triage import Triage
from ..decode import Module, display_name
from ..decode import opcodes as op
from .selection import ImportSelection, Trampolines
from .recognize import TOPMOST, AsyncifyBuild, instrumented_names, recognize  # noqa: F401  (instrumented_names: API)
from .thunks import forwarding_thunks

# --- the audit report ---------------------------------------------------------------------------

@dataclass
class Finding:
    function: int
    name: str
    size: int = 0               # body bytes (for unneeded: what the instrumentation is paid on)
    analysis: Analysis | None = field(default=None, repr=False, compare=False)

    def steps(self) -> list[ChainStep]:
        """For a missing function: a shortest chain to an async import (made when asked: a text report
        shows one chain per group, not 14,000 of them)."""
        return self.analysis.chain(self.function) if self.analysis is not None else []


@dataclass
class UncheckedCall:
    """An instrumented function that calls something able to unwind without checking for it after:
    it runs on while the stack unwinds (an onlylist that leaves out a top-most runtime function, or
    uninstrumented code inlined into instrumented code)."""

    caller: int
    name: str
    callee: str
    why: str


@dataclass
class ImportVerdict:
    """Where the user's --imports and the build disagree about one import."""

    name: str
    user_async: bool
    build_async: bool
    why: str


@dataclass
class AuditReport:
    wasm: str
    info: AsyncifyBuild
    mode: str
    needed: int
    missing: list[Finding] = field(default_factory=list)
    unneeded: list[Finding] = field(default_factory=list)
    unchecked_calls: list[UncheckedCall] = field(default_factory=list)
    list_not_in_binary: list[str] = field(default_factory=list)
    list_not_instrumented: list[str] = field(default_factory=list)
    imports_from: str = "build"                       # "build" (read from the binary), "--imports" or "glue"
    async_imports: list[str] = field(default_factory=list)
    disagreements: list[ImportVerdict] = field(default_factory=list)
    unknown_imports: list[str] = field(default_factory=list)   # the binary does not say
    unknown_would_add: int = 0        # functions that would also be missing if every unknown import were async
    trampolines: dict[str, str] = field(default_factory=dict)  # invoke_X → what the typed model says of it
    emscripten_added: dict[str, list[str]] = field(default_factory=dict)
    lists: ListCheck | None = None
    unnamed: int = 0                  # functions without a name in the name section
    thunks: dict[int, int] = field(default_factory=dict)   # forwarding thunk → its callee (thunks.py): safe
    analysis: Analysis | None = field(default=None, repr=False)
    selection: ImportSelection | None = field(default=None, repr=False)
    triage: "Triage | None" = field(default=None, repr=False)       # see triage_of
    glue: "GlueUse | None" = field(default=None, repr=False)        # the build's JS glue, read with it
    glue_vs_binary: "AsyncComparison | None" = None   # the glue's async imports against the binary's checks

    @property
    def unneeded_bytes(self) -> int:
        return sum(f.size for f in self.unneeded)


def run_audit(wasm: str | os.PathLike[str] | Module, imports: list[str] | None = None, mode: IndirectMode = "typed",
              host_table: HostTable | None = "sound", *, lists: BinaryenLists | None = None, observed: list[dict] | None = None,
              emscripten: bool | None = None, trampolines: Trampolines = "typed", ignore_imports: bool = False,
              glue: "GlueUse | None" = None, host_memory: HostMemory = "sound",
              async_when: list[str] | None = None) -> AuditReport:
    """Audit a binary. Without `imports`, the async imports are the ones its JS `glue` takes as async
    (`glue_imports`), else the ones the build treated as async. With the glue, its async imports are
    compared with what the binary's instrumentation says (`emscripten.compare_async`). `host_memory`
    and `async_when` as in `pipeline.run_analysis`: what must be instrumented is recomputed with them."""
    module, selection, graph = prepare(wasm, imports, mode, host_table, emscripten=emscripten, trampolines=trampolines,
                                       ignore_imports=ignore_imports, glue=glue, host_memory=host_memory,
                                       index_values=False)
    build = recognize(graph)
    rep = AuditReport(module.path, build, mode, 0, selection=selection, glue=glue)
    if not build.asyncified:
        return rep
    if glue is not None:
        from ..emscripten import compare_async
        rep.glue_vs_binary = compare_async(glue.facts, build.checked, build.unchecked)
    assert build.state_global is not None
    # index values as analyze finds them; the buffer is the host's when no code of the module starts
    # unwinds itself (it would pass its own buffer) and the host is trusted with the memory
    hosted = host_memory == "module" and not build.runtime.topmost and not build.runtime.sources
    graph.read_as_asyncified(build.state_global, build.instrumented, hosted_buffer=hosted)
    async_imports = _async_imports(module, selection, build, bool(imports) or ignore_imports, mode, rep)
    result = analyze_prepared(module, selection, graph, async_imports, mode, observed=observed, runtime=build.runtime,
                              async_when=async_when)
    an = rep.analysis = result.analysis
    needed = set(an.members) - build.helper_functions
    rep.needed = len(needed)
    rep.thunks = forwarding_thunks(graph, build, needed - build.instrumented)   # e.g. made by -Oz after the pass
    rep.missing = [Finding(f, module.functions[f].name, module.body_size(f), an)
                   for f in sorted(needed - build.instrumented - set(rep.thunks))]
    rep.unneeded = [Finding(f, module.functions[f].name, size=module.body_size(f))
                    for f in sorted(build.instrumented - needed)]
    rep.unchecked_calls = _unchecked_calls(graph.module, graph, build, async_imports, rep.thunks)
    rep.unnamed = sum(1 for f in module.functions if not f.imported and not f.has_name)
    _unknown_imports(module, selection, build, result.analysis, async_imports, mode, rep)
    _trampolines(module, selection, build, an, rep)
    if lists:
        indirect_counts = build.indirect_unchecked == 0
        rep.lists = check_lists(graph, lists, build.instrumented, needed, async_imports, indirect_counts, build.runtime)
        if lists.only is not None:
            rep.list_not_in_binary = [f.entry for f in rep.lists.findings if f.kind == "only" and f.verdict == "no-match"]
            rep.list_not_instrumented = [f.entry for f in rep.lists.findings if f.kind == "only" and f.verdict == "not-applied"]
    return rep


def _unchecked_calls(m: Module, graph: CallGraph, build: AsyncifyBuild, async_imports: list[int],
                     thunks: dict[int, int] | None = None) -> list[UncheckedCall]:
    """Calls from instrumented code to what can really unwind in this build, with no check after."""
    rt = build.runtime
    kinds = {**{f: "is an async import" for f in async_imports}, **{f: "is instrumented" for f in build.instrumented},
             **{f: "forwards to instrumented code" for f in thunks or {}},
             **{f: "starts unwinds itself" for f in (*rt.topmost, *rt.sources)},
             **{f: "starts an unwind" for f, role in build.helpers.items() if role in TOPMOST}}
    out = []
    for f in sorted(build.instrumented):
        for g in graph.direct[f]:
            if g in kinds and (f, g) not in build.checked_pairs:
                out.append(UncheckedCall(f, m.functions[f].name, display_name(m, g),
                                         f"{display_name(m, g)} {kinds[g]}, but {m.functions[f].name} does not check "
                                         "for an unwind after calling it"))
        inline = f in rt.sources and not any(build.helpers.get(g) in TOPMOST for g in graph.direct[f])
        if inline and not _checks_after_inline_start(m, f, build.state_global):  # type: ignore[arg-type]
            out.append(UncheckedCall(f, m.functions[f].name, "(inlined asyncify_start_unwind)",
                                     f"{m.functions[f].name} starts an unwind itself (runtime code inlined into it) "
                                     "but never checks for one afterwards: the callee was left out of an onlylist?"))
        if build.indirect_checked and f in graph.indirect_sites and (f, op.NO_CALLEE) not in build.checked_pairs:
            reach = sorted({t for s in graph.indirect_sites[f] for t in graph.site_targets(s) if t in kinds})
            if reach:
                out.append(UncheckedCall(f, m.functions[f].name, "call_indirect",
                                         f"its indirect calls may reach {display_name(m, reach[0])}, which "
                                         f"{kinds[reach[0]]}, but {m.functions[f].name} checks after none of them "
                                         "(uninstrumented code inlined into it?)"))
    return out


def _checks_after_inline_start(m: Module, f: int, state: int) -> bool:
    """Is there an unwind check (`state == 1`) anywhere after the last inline `state = 1`?"""
    ops = m.body_ops(f)
    starts = [i for i in range(1, len(ops)) if ops[i] == (0x24, state) and ops[i - 1] == (op.I32_CONST, 1)]
    tail = ops[starts[-1] + 1:] if starts else []
    pairs = {((op.GLOBAL_GET, state), (op.I32_CONST, 1)), ((op.I32_CONST, 1), (op.GLOBAL_GET, state))}
    return any((tail[i], tail[i + 1]) in pairs and tail[i + 2][0] in (op.I32_EQ, op.I32_NE) for i in range(len(tail) - 2))


def _async_imports(module: Module, selection: ImportSelection, build: AsyncifyBuild, given: bool, mode: str,
                   rep: AuditReport) -> list[int]:
    """The user's --imports when given (with where they and the build disagree), else the build's."""
    modelled = set(selection.trampolines)
    if selection.glue is not None and selection.glue.selects:   # where the glue and the build differ: rep.glue_vs_binary
        chosen = selection.functions
        rep.imports_from = "glue"
    elif not given:
        chosen = [f for f in build.async_imports(module) if f not in modelled]
        rep.imports_from = "build"
    else:
        chosen = selection.functions
        rep.imports_from = "--imports"
        mine = set(chosen) | set(selection.listed_trampolines)
        for f in sorted(set(build.checked) | set(build.unchecked) | mine):
            if not module.functions[f].imported or f in modelled:   # trampolines: their own verdict below
                continue
            ours, theirs = f in mine, f in build.checked
            if ours and not theirs and f in build.unchecked:
                rep.disagreements.append(ImportVerdict(display_name(module, f), True, False,
                                         f"{build.unchecked[f]} instrumented caller(s) call it with no unwind check after"))
            elif theirs and not ours:
                rep.disagreements.append(ImportVerdict(display_name(module, f), False, True,
                                         f"{build.checked[f]} instrumented caller(s) check for an unwind after it"))
    rep.async_imports = [display_name(module, f) for f in chosen]
    rep.emscripten_added = {pat: [display_name(module, f) for f in fs] for pat, fs in selection.added.items()}
    return chosen


def _unknown_imports(module: Module, selection: ImportSelection, build: AsyncifyBuild, an: Analysis,
                     async_imports: list[int], mode: str, rep: AuditReport) -> None:
    """Imports only uninstrumented code calls: the binary does not say whether its build took them as
    async. Say how much is at stake if one was."""
    from .closure import analyze

    if rep.imports_from != "build":
        return
    called = set(an.graph.direct.tgt)
    skip = set(build.checked) | set(build.unchecked) | set(selection.trampolines) | set(selection.runtime_imports)
    unknown = sorted(f for f in called if module.functions[f].imported and f not in skip)
    rep.unknown_imports = [display_name(module, f) for f in unknown]
    if unknown:
        wider = analyze(an.graph, sorted(set(async_imports) | set(unknown)), an.mode,
                        roots=an.roots, barriers=an.barriers)
        rep.unknown_would_add = len(set(wider.members) - set(an.members) - build.instrumented)


def _trampolines(module: Module, selection: ImportSelection, build: AsyncifyBuild, an: Analysis, rep: AuditReport) -> None:
    """What the build assumed of each trampoline it checks after, and what the typed model says."""
    for f in selection.trampolines:
        if f in build.checked:
            needed = an.reached(f)
            rep.trampolines[display_name(module, f)] = (
                "needed: a table function of its signature can unwind" if needed else
                "treated as async by the build, but no table function of its signature can unwind")


def triage_of(rep: AuditReport) -> "Triage | None":
    """The missing functions grouped by frontier and ranked by evidence (`triage`), computed once;
    None for a report made without its analysis."""
    if rep.triage is None and rep.analysis is not None and rep.info.asyncified:
        from .triage import triage
        rep.triage = triage(rep.analysis, [f.function for f in rep.missing])
    return rep.triage


