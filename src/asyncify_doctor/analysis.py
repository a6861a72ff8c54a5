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
ROOT_RUNTIME = -3    # `next_hop` marker: the function starts unwinds itself (calls asyncify_start_unwind)


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
    roots: dict[int, str] = field(default_factory=dict)      # top-most runtime: starts unwinds, never instrumented
    barriers: dict[int, str] = field(default_factory=dict)   # never instrumented, propagation stops (why)
    reasons: dict[int, str] = field(default_factory=dict)    # why a chain ends at a function (roots, sources)

    @property
    def module(self):  # noqa: ANN201 - the decode.Module, for names
        return self.graph.module

    @property
    def hops(self) -> dict[int, int]:
        """`next_hop` as a mapping of the reached nodes only (made once), for code that walks the closure."""
        cached = self.__dict__.get("_hops")
        if cached is None:
            cached = self.__dict__["_hops"] = {v: h for v, h in enumerate(self.next_hop) if h != UNREACHED}
        return cached

    def reached(self, node: int) -> bool:
        return 0 <= node < len(self.next_hop) and self.next_hop[node] != UNREACHED

    def contains(self, f: int) -> bool:
        return self.reached(f) and not self.graph.module.functions[f].imported and f not in self.roots

    def chain(self, f: int) -> list[ChainStep]:
        """Shortest path f → … → async import (or to the function whose indirect call is the reason)."""
        if not self.reached(f):
            return []
        steps = [ChainStep(f)]
        node, via = f, None
        while True:
            nxt = self.next_hop[node]
            if nxt in (ROOT_INDIRECT, ROOT_RUNTIME) or nxt == node:
                return steps
            if self.graph.is_site(nxt):
                via = self.graph.site(nxt)
            else:
                seen = (self.extra_edges and via is None and not self.graph.is_site(node)
                        and nxt not in self.graph.successors(node, self.mode))
                steps.append(ChainStep(nxt, via, observed=self.origins.get((node, nxt), "") if seen else None))
                via = None
            node = nxt

    @property
    def listed(self) -> list[int]:
        """What an onlylist must name: the members, and the top-most runtime functions. Binaryen never
        instruments the latter, but with an onlylist it checks for an unwind after a call only when
        the callee is listed (ModuleAnalyzer sets canChangeState = matched), so they must be there."""
        return sorted(set(self.members) | set(self.roots)) if self.roots else self.members

    def names(self) -> list[str]:
        funcs = self.graph.module.functions
        return list(map(attrgetter("name"), map(funcs.__getitem__, self.listed)))

    def unnamed_members(self) -> list[int]:
        funcs = self.graph.module.functions
        named = map(attrgetter("has_name"), map(funcs.__getitem__, self.listed))
        return list(compress(self.listed, map(not_, named)))


def analyze(graph: CallGraph, async_imports: list[int], mode: IndirectMode = "typed",
            extra_edges: dict[int, set[int]] | None = None, roots: dict[int, str] | None = None,
            barriers: dict[int, str] | None = None, sources: dict[int, str] | None = None) -> Analysis:
    """Reverse breadth-first closure from the async imports under `mode`, with Binaryen's rules for
    code that drives Asyncify itself (`recognize.RuntimeCalls`):

    - `roots` (the top-most runtime: functions that call `asyncify_start_unwind`/`stop_rewind`) can
      change the state, so their callers are members; they are not (Binaryen never instruments them);
    - `barriers` (the bottom-most runtime, which calls `stop_unwind`/`start_rewind`, and removelist
      entries) never become members and nothing propagates through them.

    - `sources` start unwinds themselves but are members too (instrumented code that runtime code
      was inlined into, in an already optimised binary).

    `extra_edges` (caller → callees) adds edges learned elsewhere, e.g. indirect calls observed
    at run time by `trace`; each callee's extra callers come after its static ones.
    """
    if mode not in INDIRECT_MODES:
        raise ValueError(f"unknown indirect mode {mode!r}")
    roots, barriers, sources = dict(roots or {}), dict(barriers or {}), dict(sources or {})
    rev = graph.reverse(mode)
    if extra_edges:
        rev = _with_extra_callers(rev, extra_edges)
    if barriers:
        rev = _without_callers(rev, set(barriers))
    runtime = [f for f in (*roots, *sources) if f not in barriers]
    indirect = [f for f in range(graph.n) if graph.has_indirect(f) and f not in barriers] if mode == "all" else []
    next_hop = bfs(rev, array("I", async_imports), array("I", runtime + indirect))
    for f in runtime:          # bfs marks every root alike: say which ones start unwinds themselves
        if next_hop[f] == ROOT_INDIRECT:
            next_hop[f] = ROOT_RUNTIME
    imported = graph.module.num_imported_functions
    members = list(compress(range(imported, graph.n), map(ne, next_hop[imported:graph.n], repeat(UNREACHED))))
    if roots:
        members = [f for f in members if f not in roots]
    an = Analysis(graph, mode, sorted(async_imports), next_hop, members, extra_edges=bool(extra_edges),
                  barriers=barriers, roots={f: roots[f] for f in roots if f not in barriers})
    an.reasons = {**an.roots, **{f: why for f, why in sources.items() if f not in barriers}}
    return an


def _without_callers(rev: Rows, barriers: set[int]) -> Rows:
    """The rows with the barrier functions left out as callers: the closure never enters them."""
    off, tgt = array("I", [0]), array("I")
    for row in rev:
        tgt.extend(c for c in row if c not in barriers)
        off.append(len(tgt))
    return Rows(off, tgt)


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


def import_contributions(graph: CallGraph, imports: list[int], mode: IndirectMode = "typed",
                         extra_edges: dict[int, set[int]] | None = None) -> dict[int, int]:
    """For each import, what it pulls into the list: the number of defined functions the list would
    hold if it alone were async — `len(analyze(graph, [imp], mode, extra_edges).members)` for every
    import at once, with the closure's own semantics (under `all`, a function that reaches an
    indirect call is in the list whatever the imports, so it counts for every import).

    One pass instead of one closure per import: every node gets the set of imports it reaches as a
    bitset (a Python int), computed per strongly connected component in the order Tarjan's algorithm
    completes them (callees first), so each edge is read twice at most, cycles included.
    """
    n_nodes = graph.n + len(graph.sites)
    succ: list[list[int]] = [graph.successors(v, mode) for v in range(n_nodes)]
    for caller, callees in (extra_edges or {}).items():
        succ[caller] = succ[caller] + sorted(callees)
    own = [0] * n_nodes
    for k, imp in enumerate(imports):
        own[imp] |= 1 << k
    root_bit = 1 << len(imports)
    if mode == "all":
        for f in graph.indirect_sites:
            own[f] |= root_bit
    bits = _reach_bits(succ, own)
    funcs = graph.module.functions
    groups: dict[int, int] = {}
    for f in range(graph.n):
        b = bits[f]
        if b and not funcs[f].imported:
            groups[b] = groups.get(b, 0) + 1
    counts = [0] * len(imports)
    everywhere = 0
    for b, n in groups.items():
        if b & root_bit:
            everywhere += n
            continue
        while b:
            low = b & -b
            counts[low.bit_length() - 1] += n
            b ^= low
    return {imp: counts[k] + everywhere for k, imp in enumerate(imports)}


def _reach_bits(succ: list[list[int]], own: list[int]) -> list[int]:
    """OR of `own` over everything each node reaches (itself included): iterative Tarjan, so a
    10,000-deep chain or a huge cycle costs no recursion; a component's bits are final when it
    completes, because every edge leaving it goes to a component completed before."""
    n = len(succ)
    index = [0] * n
    low = [0] * n
    on_stack = bytearray(n)
    bits = [0] * n
    stack: list[int] = []
    counter = 1
    for start in range(n):
        if index[start]:
            continue
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack[start] = 1
        work = [(start, iter(succ[start]))]
        while work:
            v, it = work[-1]
            for w in it:
                if not index[w]:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    work.append((w, iter(succ[w])))
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            else:
                work.pop()
                if work and low[v] < low[work[-1][0]]:
                    low[work[-1][0]] = low[v]
                if low[v] == index[v]:
                    b = 0
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack[w] = 0
                        component.append(w)
                        b |= own[w]
                        for x in succ[w]:
                            b |= bits[x]   # 0 for members of this component: not final yet
                        if w == v:
                            break
                    for w in component:
                        bits[w] = b
    return bits
