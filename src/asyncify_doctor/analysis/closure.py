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

import sys
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, ne, not_

from .. import accel
from ..graph.callgraph import INDIRECT_MODES, CallGraph, IndirectMode, Rows, Site

ROOT_INDIRECT = -1   # `next_hop` marker: the function is a member because it has an indirect call (`all`)
UNREACHED = -2       # `next_hop` marker: the node cannot reach an async import
ROOT_RUNTIME = -3    # `next_hop` marker: the function starts unwinds itself (calls asyncify_start_unwind)


@dataclass(frozen=True)
class ChainStep:
    """One hop of a witness chain: the function, and how the previous one reaches it."""

    function: int
    via: Site | None = None        # None for a direct call
    observed: str | None = None    # the hop was seen in a recorded stack (`trace`), not found statically: where


@dataclass(frozen=True)
class AsyncWhen:
    """One statement: `function` (an import) may suspend only when argument `arg` is in `values`."""

    function: int
    key: str
    arg: int
    values: frozenset

    def __str__(self) -> str:
        return f"{self.key}:{self.arg}={','.join(map(str, sorted(self.values)))}"


@dataclass
class Pruning:
    """What `--async-when` proved (`async_when.prune`): the direct edges that never suspend (the
    closure leaves them out), the functions that suspend only for some values of a parameter, and
    why (for `why`)."""

    statements: list[AsyncWhen] = field(default_factory=list)
    edges: set[tuple[int, int]] = field(default_factory=set)          # (caller, callee): never suspends
    proofs: dict[tuple[int, int], str] = field(default_factory=dict)  # why, per pruned edge
    conditions: dict[int, tuple[int, frozenset]] = field(default_factory=dict)  # f -> (param, values)
    reasons: dict[int, str] = field(default_factory=dict)             # why f is conditional


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
    pruned: set[tuple[int, int]] = field(default_factory=set)  # direct edges proven never to suspend (--async-when)
    pruning: Pruning | None = None                             # the async_when.Pruning behind them

    @property
    def module(self):
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
            barriers: dict[int, str] | None = None, sources: dict[int, str] | None = None,
            pruned: set[tuple[int, int]] | None = None) -> Analysis:
    """Reverse breadth-first closure from the async imports under `mode`, with Binaryen's rules for
    code that drives Asyncify itself (`recognize.RuntimeCalls`):

    - `roots` (the top-most runtime: functions that call `asyncify_start_unwind`/`stop_rewind`) can
      change the state, so their callers are members; they are not (Binaryen never instruments them);
    - `barriers` (the bottom-most runtime, which calls `stop_unwind`/`start_rewind`, and removelist
      entries) never become members and nothing propagates through them.

    - `sources` start unwinds themselves but are members too (instrumented code that runtime code
      was inlined into, in an already optimised binary).

    `extra_edges` (caller → callees) adds edges learned elsewhere, e.g. indirect calls observed
    at run time by `trace`; each callee's extra callers come after its static ones. `pruned`
    (caller, callee) direct edges are left out: every such call is proven never to suspend
    (`async_when.prune`).
    """
    if mode not in INDIRECT_MODES:
        raise ValueError(f"unknown indirect mode {mode!r}")
    roots, barriers, sources = dict(roots or {}), dict(barriers or {}), dict(sources or {})
    rev = graph.reverse(mode)
    if extra_edges:
        rev = _with_extra_callers(rev, extra_edges)
    if barriers:
        rev = _without_callers(rev, set(barriers))
    if pruned:
        rev = _without_edges(rev, pruned)
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
    an.pruned = set(pruned or ())
    return an


def _without_edges(rev: Rows, pruned: set[tuple[int, int]]) -> Rows:
    """The callers' rows without the (caller, callee) pairs given: the rows in between copied in runs."""
    drop: dict[int, set[int]] = {}
    for caller, callee in pruned:
        drop.setdefault(callee, set()).add(caller)
    r_off, r_tgt = rev.off, rev.tgt
    off, tgt = array("I", [0]), array("I")
    done = 0
    for v in sorted(drop):
        if v >= len(rev):
            continue
        shift = len(tgt) - r_off[done]              # rows done..v-1 as they are
        tgt.extend(r_tgt[r_off[done]:r_off[v]])
        off.extend(map(shift.__add__, r_off[done + 1:v + 1]))
        tgt.extend(c for c in r_tgt[r_off[v]:r_off[v + 1]] if c not in drop[v])
        off.append(len(tgt))
        done = v + 1
    shift = len(tgt) - r_off[done]
    tgt.extend(r_tgt[r_off[done]:])
    off.extend(map(shift.__add__, r_off[done + 1:]))
    return Rows(off, tgt)


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
    the same whichever twin runs (`bfs_py` here, or its C twin)."""
    return _bfs(rev.off, rev.tgt, sources, roots)


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
                         extra_edges: dict[int, set[int]] | None = None,
                         pruned: set[tuple[int, int]] | None = None) -> dict[int, int]:
    """For each import, what it pulls into the list: the number of defined functions the list would
    hold if it alone were async — `len(analyze(graph, [imp], mode, extra_edges).members)` for every
    import at once, with the closure's own semantics (under `all`, a function that reaches an
    indirect call is in the list whatever the imports, so it counts for every import).

    One pass instead of one closure per import: every node gets the set of imports it reaches as a
    bitset (`reached_bits`, over the strongly connected components, so recursion costs nothing
    extra), and the defined functions are counted by distinct bitset. `pruned` edges (--async-when)
    are left out, as in `analyze`: an edge that never suspends with every import async never does
    with fewer."""
    rev = graph.reverse(mode)
    if extra_edges:
        rev = _with_extra_callers(rev, extra_edges)
    if pruned:
        rev = _without_edges(rev, pruned)
    bit_of = array("i", [-1]) * len(rev)
    for k, imp in enumerate(imports, 1):   # bit 0: "reaches an indirect call" under `all`, so the
        bit_of[imp] = k                    # first pass knows which functions count for every import
    if mode == "all":
        for f in graph.indirect_sites:
            bit_of[f] = 0
    defined = [f for f, fn in enumerate(graph.module.functions) if not fn.imported]
    counts, everywhere = [0] * (len(imports) + 1), 0
    for lo in range(0, len(imports) + 1, REACHED_BITS_CHUNK):
        hi = min(len(imports) + 1, lo + REACHED_BITS_CHUNK)
        raw, size = reached_bits(rev, bit_of, lo, hi), (hi - lo + 63) // 64 * 8
        keys = [raw[f * size:(f + 1) * size] for f in defined]
        if lo == 0:   # a function that reaches an indirect call is counted once, for every import
            bit0 = 0 if sys.byteorder == "little" else 7   # the byte of bit 0 in a native word
            per_import = [not k[bit0] & 1 for k in keys]
            keys, defined = list(compress(keys, per_import)), list(compress(defined, per_import))
            everywhere = len(per_import) - len(keys)
        for key, n in Counter(keys).items():
            b = _word_bits(key)
            while b:
                low = b & -b
                counts[lo + low.bit_length() - 1] += n
                b ^= low
    return {imp: counts[k] + everywhere for k, imp in enumerate(imports, 1)}


REACHED_BITS_CHUNK = 1024   # bits per pass of `reached_bits`: memory stays 128 bytes per node


def _word_bits(chunk: bytes) -> int:
    """The bits of `reached_bits`' native 64-bit words as one int (word k holds bits 64k…64k+63)."""
    return sum(w << (64 * k) for k, w in enumerate(array("Q", chunk)))


def reached_bits(rev: Rows, bit_of: array, lo: int, hi: int) -> bytes:
    """Per node, ceil((hi - lo) / 64) native 64-bit words: bit b - lo set for every b in [lo, hi)
    that is `bit_of[u]` (-1: none) of a node u it reaches by calls, itself included. `rev`: the
    callers' rows (`CallGraph.reverse`)."""
    return _reached_bits(rev.off, rev.tgt, bit_of, lo, hi)


def reached_bits_py(off: array, tgt: array, bit_of: array, lo: int, hi: int) -> bytes:
    """Over the components of the callers' graph, last-completed first (Tarjan numbers a component
    after the components it reaches, i.e. after its callers), each one's bits final before they are
    pushed into its callers."""
    n = len(off) - 1
    rows = list(Rows(off, tgt))
    comp, members = components(n, rows)
    bits = [0] * len(members)
    for v in range(n):
        if lo <= bit_of[v] < hi:
            bits[comp[v]] |= 1 << (bit_of[v] - lo)
    for c in range(len(members) - 1, -1, -1):
        for v in members[c]:
            for w in rows[v]:
                if comp[w] != c:
                    bits[comp[w]] |= bits[c]
    words = (hi - lo + 63) // 64
    mask = (1 << 64) - 1
    out = array("Q")
    for v in range(n):
        b = bits[comp[v]]
        out.extend((b >> (64 * k)) & mask for k in range(words))
    return out.tobytes()


_bfs = accel.twin("bfs", bfs_py, lambda off, tgt, sources, roots: accel.i32s(accel.native.bfs(off, tgt, sources, roots)))
_reached_bits = accel.twin("reached_bits", reached_bits_py, lambda off, tgt, bit_of, lo, hi:
                           accel.native.reached_bits(off, tgt, bit_of, lo, hi))


def components(n: int, succ: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """`sccs`, and each component's nodes, ascending: what the bitset passes over components walk
    (the C twins' `group_members`)."""
    comp = sccs(n, succ)
    members: list[list[int]] = [[] for _ in range(max(comp, default=-1) + 1)]
    for v, c in enumerate(comp):
        members[c].append(v)
    return comp, members


def sccs(n: int, succ: list[list[int]]) -> list[int]:
    """Tarjan's strongly connected components, iteratively; components numbered in the order they
    complete (a component after every component it can reach)."""
    index = [-1] * n
    low = [0] * n
    on = [False] * n
    comp = [-1] * n
    stack: list[int] = []
    counter = ncomp = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on[root] = True
        while work:
            v, k = work[-1]
            if k < len(succ[v]):
                work[-1] = (v, k + 1)
                w = succ[v][k]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on[w] = True
                    work.append((w, 0))
                elif on[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on[w] = False
                    comp[w] = ncomp
                    if w == v:
                        break
                ncomp += 1
    return comp
