"""CallGraph → Analysis: which functions can be on the stack when an async import is called.

That is the reverse closure of the async imports over the call graph: exactly the functions an
Asyncify onlylist must contain. One multi-source breadth-first search from the imports gives, for
every member, a *shortest* witness chain (what `why` prints).

Modes (`--indirect`), matching Binaryen's vocabulary:
- `typed`: indirect calls reach the functions that may be in the table (or address-taken, for
  `call_ref`) with a matching type — sound, and usually far smaller than `all`;
- `all`: Binaryen's default assumption — a function containing any `call_indirect` (or `call_ref`)
  may unwind, whatever it calls;
- `ignore`: Binaryen's `asyncify-ignore-indirect` / Emscripten's `ASYNCIFY_IGNORE_INDIRECT` —
  indirect calls are assumed never to unwind (unsound unless you know better).
"""
from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, ne, not_

from .callgraph import INDIRECT_MODES, CallGraph, IndirectMode, Rows, Site

ROOT_INDIRECT = -1   # `next_hop` marker: the function is a member because it has an indirect call (`all`)
UNREACHED = -2       # `next_hop` marker: the node cannot reach an async import


@dataclass(frozen=True)
class ChainStep:
    """One hop of a witness chain: the function, and how the previous one reaches it."""

    function: int
    via: Site | None = None        # None for a direct call
    observed: str | None = None    # the hop was seen in a recorded stack (`trace`), not found statically: where


@dataclass
class Analysis:
    """The result: members (defined functions to instrument) and a witness for each."""

    graph: CallGraph
    mode: IndirectMode
    async_imports: list[int]
    next_hop: array = field(default_factory=lambda: array("i"))   # per node: next node toward an import
    members: list[int] = field(default_factory=list)
    origins: dict[tuple[int, int], str] = field(default_factory=dict)   # observed edge -> where it was seen
    extra_edges: bool = False     # edges beyond the static graph were given (`analyze(extra_edges=...)`)

    @property
    def module(self):  # noqa: ANN201 - the decode.Module, for names
        return self.graph.module

    def reached(self, node: int) -> bool:
        return 0 <= node < len(self.next_hop) and self.next_hop[node] != UNREACHED

    def contains(self, f: int) -> bool:
        return self.reached(f) and not self.graph.module.functions[f].imported

    def chain(self, f: int) -> list[ChainStep]:
        """Shortest path f → … → async import (or to the function whose indirect call is the reason)."""
        if not self.reached(f):
            return []
        steps = [ChainStep(f)]
        node, via = f, None
        while True:
            nxt = self.next_hop[node]
            if nxt == ROOT_INDIRECT or nxt == node:
                return steps
            if self.graph.is_site(nxt):
                via = self.graph.site(nxt)
            else:
                seen = (self.extra_edges and via is None and not self.graph.is_site(node)
                        and nxt not in self.graph.successors(node, self.mode))
                steps.append(ChainStep(nxt, via, observed=self.origins.get((node, nxt), "") if seen else None))
                via = None
            node = nxt

    def names(self) -> list[str]:
        funcs = self.graph.module.functions
        return list(map(attrgetter("name"), map(funcs.__getitem__, self.members)))

    def unnamed_members(self) -> list[int]:
        funcs = self.graph.module.functions
        named = map(attrgetter("has_name"), map(funcs.__getitem__, self.members))
        return list(compress(self.members, map(not_, named)))


def analyze(graph: CallGraph, async_imports: list[int], mode: IndirectMode = "typed",
            extra_edges: dict[int, set[int]] | None = None) -> Analysis:
    """Reverse breadth-first closure from the async imports under `mode`.

    `extra_edges` (caller → callees) adds edges learned elsewhere, e.g. indirect calls observed
    at run time by `trace`; each callee's extra callers come after its static ones.
    """
    if mode not in INDIRECT_MODES:
        raise ValueError(f"unknown indirect mode {mode!r}")
    rev = graph.reverse(mode)
    if extra_edges:
        rev = _with_extra_callers(rev, extra_edges)
    roots = array("I", (f for f in range(graph.n) if graph.has_indirect(f))) if mode == "all" else array("I")
    next_hop = bfs(rev, array("I", async_imports), roots)
    imported = graph.module.num_imported_functions
    members = list(compress(range(imported, graph.n), map(ne, next_hop[imported:graph.n], repeat(UNREACHED))))
    return Analysis(graph, mode, sorted(async_imports), next_hop, members, extra_edges=bool(extra_edges))


def _with_extra_callers(rev: Rows, extra_edges: dict[int, set[int]]) -> Rows:
    rows = [list(r) for r in rev]
    for caller, callees in extra_edges.items():
        for callee in callees:
            rows[callee].append(caller)
    off, tgt = array("I", [0]), array("I")
    for row in rows:
        tgt.extend(row)
        off.append(len(tgt))
    return Rows(off, tgt)


def bfs(rev: Rows, sources: array, roots: array) -> array:
    """The multi-source breadth-first search over callers: next hop per node toward a source (a source
    points to itself, a root to ROOT_INDIRECT, an unreached node holds UNREACHED). Sources enter the
    queue first, in order, then roots; callers are visited in row order — so the witness chains are
    the same whichever implementation runs (`accel.bfs` in C, `bfs_py` here)."""
    from .decode import accel
    if accel.enabled():
        return accel.bfs(rev.off, rev.tgt, sources, roots)
    return bfs_py(rev.off, rev.tgt, sources, roots)


def bfs_py(off: array, tgt: array, sources: array, roots: array) -> array:
    n = len(off) - 1
    nxt = array("i", [UNREACHED]) * n
    queue: deque[int] = deque()
    for v, mark in [*((s, s) for s in sources), *((r, ROOT_INDIRECT) for r in roots)]:
        if v < n and nxt[v] == UNREACHED:
            nxt[v] = mark
            queue.append(v)
    while queue:
        node = queue.popleft()
        for caller in tgt[off[node]:off[node + 1]]:
            if nxt[caller] == UNREACHED:
                nxt[caller] = node
                queue.append(caller)
    return nxt


def import_contributions(graph: CallGraph, imports: list[int], mode: IndirectMode = "typed") -> dict[int, int]:
    """For each import, how many defined functions can reach it (what it pulls into the list)."""
    rev = graph.reverse(mode)
    mask: dict[int, int] = {imp: 1 << i for i, imp in enumerate(imports)}
    work = list(imports)
    while work:
        node = work.pop()
        bits = mask[node]
        for caller in rev[node]:
            old = mask.get(caller, 0)
            if old | bits != old:
                mask[caller] = old | bits
                work.append(caller)
    funcs = graph.module.functions
    counts = dict.fromkeys(imports, 0)
    for node, bits in mask.items():
        if node < graph.n and not funcs[node].imported:
            for i, imp in enumerate(imports):
                if bits >> i & 1:
                    counts[imp] += 1
    return counts
