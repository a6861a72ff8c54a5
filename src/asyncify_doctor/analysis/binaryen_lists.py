"""Binaryen's only/remove/add lists, exactly as its `ModuleAnalyzer` applies them
(src/passes/Asyncify.cpp, versions 116..132; the add-list propagation flag since 117):

1. initial scan: an async import can change the state; a function that calls
   `start_unwind`/`stop_rewind` can (top-most runtime); with indirect calls counted (no
   `asyncify-ignore-indirect`) a function with a `call_indirect` can; a function that calls
   `stop_unwind`/`start_rewind` cannot, whatever else it does (bottom-most runtime);
2. removelist entries cannot change the state;
3. with `asyncify-propagate-addlist`, addlist entries can (before propagation);
4. propagation back along direct calls, never into the bottom-most runtime or a removelist entry;
5. an onlylist replaces all that for defined functions: exactly its entries can;
6. without the propagation flag, addlist entries are added last;
7. instrumented = can change the state and is not the top-most runtime.
Names are matched with `*` wildcards (`wildcard.matches`), as `PatternMatcher` does; an entry naming an
import is a fatal error there, and an onlylist together with another list too. The names are the ones
Binaryen gives the functions when it reads this binary (`lists.binaryen_names`): a function the name
section does not name is `"12"` (its index among defined functions) or `fimport$3` — never the
`wasm-function[N]` V8 prints, which matches nothing.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from ..graph.callgraph import CallGraph
from ..decode import Module
from .recognize import RuntimeCalls
from ..lists.binaryen_names import binaryen_names
from ..lists.wildcard import matches

PLACEHOLDER = re.compile(r"wasm-function\[(\d+)\]")


@dataclass
class BinaryenLists:
    """The lists a build was (or will be) given; None = that list was not given."""

    only: list[str] | None = None
    remove: list[str] | None = None
    add: list[str] | None = None
    propagate_add: bool = False

    def __bool__(self) -> bool:
        return any(x is not None for x in (self.only, self.remove, self.add))


def function_keys(module: Module) -> list[tuple[str, ...]]:
    """Every name an entry can match, per function: Binaryen's name for it (`binaryen_names`, current
    release: for a function the section does not name, `"12"` or `fimport$3`), its name-section name
    (older releases rename duplicates otherwise), and an import's `module.name`; computed once."""
    cached = module.__dict__.get("_list_keys")
    if cached is None:
        given = binaryen_names(module).names
        cached = [tuple(dict.fromkeys(k for k in (given[f.index], f.name if f.has_name or f.imported else None,
                                                   f.import_key if f.imported else None) if k))
                  for f in module.functions]
        module.__dict__["_list_keys"] = cached
    return cached


def match_entry(module: Module, entry: str, by_name: dict[str, list[int]] | None = None) -> list[int]:
    """Functions (defined or imported) an entry selects, as Binaryen's PatternMatcher does."""
    if "*" not in entry:
        return (by_name if by_name is not None else names_index(module)).get(entry, [])
    return [f for f, keys in enumerate(function_keys(module)) if any(matches(entry, k) for k in keys)]


def names_index(module: Module) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for f, keys in enumerate(function_keys(module)):
        for k in keys:
            out.setdefault(k, []).append(f)
    return out


def invented(module: Module, hits: list[int]) -> bool:
    """Does an entry select a function only by the name Binaryen invents for it (no name-section name)?"""
    return any(not module.functions[f].has_name and not module.functions[f].imported for f in hits)


def _matched(module: Module, entries: list[str] | None, by_name: dict[str, list[int]]) -> set[int]:
    return {f for e in entries or [] for f in match_entry(module, e, by_name) if not module.functions[f].imported}


def instrumented_by_binaryen(graph: CallGraph, async_imports: list[int], indirect_counts: bool,
                             runtime: RuntimeCalls, lists: BinaryenLists) -> set[int]:
    """The functions Binaryen instruments for these inputs (steps 1-7 above)."""
    m = graph.module
    by_name = names_index(m)
    removed = _matched(m, lists.remove, by_name)
    added = _matched(m, lists.add, by_name)
    bottom = set(runtime.bottommost)
    can = set(async_imports) | set(runtime.topmost)
    if indirect_counts:
        can |= set(graph.indirect_sites)
    can = (can - bottom) - removed
    if lists.propagate_add:
        can |= added
    callers: list[list[int]] = [[] for _ in range(graph.n)]
    for f in range(graph.n):
        for g in graph.direct[f]:
            callers[g].append(f)
    queue = deque(can)
    while queue:
        for caller in callers[queue.popleft()]:
            if caller not in can and caller not in bottom and caller not in removed:
                can.add(caller)
                queue.append(caller)
    defined = {f for f in range(m.num_imported_functions, graph.n)}
    if lists.only is not None:
        can = (can - defined) | _matched(m, lists.only, by_name)
    if not lists.propagate_add:
        can |= added
    return (can & defined) - set(runtime.topmost)


@dataclass
class ListFinding:
    """One list entry that had no effect, or an effect worth knowing, and why."""

    kind: str          # only | remove | add
    entry: str
    verdict: str       # no-match | import | runtime | not-applied | no-effect | removed-but-needed | fatal
    why: str


@dataclass
class ListCheck:
    findings: list[ListFinding] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)   # combinations Binaryen refuses outright
    notes: list[str] = field(default_factory=list)   # how entries were matched, where that can mislead


def check_lists(graph: CallGraph, lists: BinaryenLists, instrumented: set[int], needed: set[int],
                async_imports: list[int], indirect_counts: bool, runtime: RuntimeCalls) -> ListCheck:
    """Which entries of the lists a binary was built with had no effect on it, and why."""
    m = graph.module
    by_name = names_index(m)
    out = ListCheck()
    if lists.only is not None and (lists.remove is not None or lists.add is not None):
        out.fatal.append("an onlylist together with a remove- or addlist: Binaryen stops with a fatal error "
                         "(\"It makes no sense to use both an asyncify only-list together with another list\")")
    both = _matched(m, lists.add, by_name) & _matched(m, lists.remove, by_name)
    for f in sorted(both):
        out.fatal.append(f"{m.functions[f].name} is in the addlist and in the removelist: Binaryen stops with a fatal error")
    plain = BinaryenLists()
    without_remove = instrumented_by_binaryen(graph, async_imports, indirect_counts, runtime, plain)
    by_invented: list[str] = []
    for kind, entries in (("only", lists.only), ("remove", lists.remove), ("add", lists.add)):
        for entry in entries or []:
            hits = match_entry(m, entry, by_name)
            if invented(m, hits):
                by_invented.append(entry)
            finding = _check_entry(m, kind, entry, hits, instrumented, needed, without_remove, runtime)
            if finding is not None:
                out.findings.append(finding)
    if by_invented:
        out.notes.append(f"{len(by_invented)} list entr{'y is' if len(by_invented) == 1 else 'ies are'} the name Binaryen "
                         f"gives a function without one (e.g. {by_invented[0]}: "
                         + ("an import" if by_invented[0].startswith("fimport$") else "the index among defined functions")
                         + "), matched in this binary's numbering: that is the numbering of the binary the list was "
                         "written for only if no pass after asyncify removed or moved functions (wasm-opt -O2 after "
                         "--asyncify inlines); keep names (wasm-opt -g) to be sure")
    return out


def _check_entry(m: Module, kind: str, entry: str, hits: list[int], instrumented: set[int], needed: set[int],
                 unlisted: set[int], runtime: RuntimeCalls) -> ListFinding | None:
    if not hits:
        placeholder = PLACEHOLDER.fullmatch(entry)
        if placeholder and int(placeholder.group(1)) < len(m.functions):
            f = int(placeholder.group(1))
            given = binaryen_names(m).names[f]
            return ListFinding(kind, entry, "no-match", "matches no function: wasm-function[N] is how V8 prints a "
                               "function without a name, which Binaryen never matches"
                               + (f"; write {given} (Binaryen's name for function {f})" if given and given != entry else ""))
        return ListFinding(kind, entry, "no-match", "matches no function (a typo, or renamed or inlined away)")
    if all(m.functions[f].imported for f in hits):
        return ListFinding(kind, entry, "import", "names an import: Binaryen stops with a fatal error "
                           "(imports belong in asyncify-imports)")
    hits = [f for f in hits if not m.functions[f].imported]
    name = m.functions[hits[0]].name
    if kind == "only":
        if all(f in runtime.topmost for f in hits):
            return ListFinding(kind, entry, "runtime", f"{name} {runtime.topmost[hits[0]]}: Binaryen never "
                               "instruments it, listed or not")
        if not any(f in instrumented for f in hits):
            return ListFinding(kind, entry, "not-applied", "not instrumented in this binary: the build used "
                               "another list, or this entry was added after it")
    elif kind == "remove":
        if any(f in instrumented for f in hits):
            return ListFinding(kind, entry, "not-applied", "instrumented anyway: the build did not use this entry")
        if any(f in needed for f in hits):
            return ListFinding(kind, entry, "removed-but-needed", "removed although it can be on the stack at an "
                               "async import: a crash if that happens (reported as missing)")
        if not any(f in unlisted for f in hits):
            return ListFinding(kind, entry, "no-effect", "no effect: it would not be instrumented without the "
                               "entry either (no path to an async import)")
    elif kind == "add":
        if not any(f in instrumented for f in hits):
            return ListFinding(kind, entry, "not-applied", "not instrumented in this binary: the build did not "
                               "use this entry")
        if all(f in unlisted for f in hits):
            return ListFinding(kind, entry, "no-effect", "no effect: it is instrumented anyway (it can reach an "
                               "async import)")
    return None
