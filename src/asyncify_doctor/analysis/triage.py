"""Audit findings → groups a maintainer can work through: one per *frontier*, ranked by evidence.

A list that misses 8,000 functions is almost never 8,000 mistakes: it is cut in a few places, and
everything above a cut is missing for the same reason. The words, for one audit under one
`--indirect` mode:

- *closure*: the nodes that can reach an async import (`Analysis.hops`: functions, imports and
  indirect-call site nodes);
- *missing*: the audit's findings — defined functions of the closure that Binaryen did not instrument;
- *covered*: closure nodes that are not missing — async imports, instrumented functions, and imports
  that pass a call back into wasm (trampolines);
- *frontier* of a missing function m: the last missing function on m's shortest chain
  (`Analysis.chain`) — the uninstrumented function that directly calls (by a `call`, through a
  `call_indirect`/`call_ref` site, or as seen at run time) an instrumented function or an async
  import: where the list was cut. It exists (m itself, at worst) and the hop after it is covered.

**Groups.** Every missing function belongs to exactly one group, its frontier's. Shortest chains form
a tree (each node keeps one next hop), so every member's chain ends with its frontier's chain and a
group has one async import: the one its frontier reaches. A function may call the covered side and
still belong to a deeper group, when its shortest chain goes on through other missing functions.

**What a frontier F pulls in**, counted over missing functions, F included:
- `only_through`: the missing functions whose every path to an async import passes through F (F
  dominates them in the reversed call graph rooted at the async imports). If F's call into the
  covered side cannot happen during a suspension, exactly these findings go away; if it can, they
  are all real;
- `through`: the missing functions with at least one path to an async import through F (those that
  can reach F): everything this cut is involved in.

**Evidence**, strongest first. A frontier's class is the strongest kind of chain that exists from it
to an async import, and the group's representative chain is a shortest chain of that kind:
- `observed`: every call on it was seen on a recorded stack (`trace`, `--observed`): F was on the
  stack at an async import in a real run;
- `direct`: direct calls only (calls seen at run time count as direct), to an async import that is
  not a trampoline;
- `trampoline`: also through an import that calls back into wasm (Emscripten's `invoke_*`, matched by
  `reenters`; any import a chain passes through re-enters wasm), or ending at one listed as async: the
  path is real when the function the trampoline calls can unwind;
- `indirect`: also through typed indirect calls (or, under `--indirect all`, ending at Binaryen's
  assumption that any indirect call may unwind).
Within a class, groups rank by `only_through`, then `through`, then size, then name.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import eq, ne
from typing import Iterable, Literal

from .. import accel
from .closure import ROOT_INDIRECT, ROOT_RUNTIME, UNREACHED, Analysis, ChainStep, bfs, components
from ..graph.callgraph import Rows, Site
from .selection import import_matches

Evidence = Literal["observed", "direct", "trampoline", "indirect"]
EVIDENCE: tuple[Evidence, ...] = ("observed", "direct", "trampoline", "indirect")
EVIDENCE_TEXT = {"observed": "seen on a real stack", "direct": "direct calls",
                 "trampoline": "through a trampoline", "indirect": "through an indirect call"}
TRAMPOLINES = ("env.invoke_*",)   # Emscripten's: invoke_X(index, args…) calls table entry `index`

OBSERVED, DIRECT, TRAMPOLINE, INDIRECT = range(4)   # evidence levels, as indices into EVIDENCE
ROOT = 0                                             # the virtual node behind every async import


@dataclass(frozen=True)
class Group:
    """The missing functions cut off at one frontier, with the evidence that the cut is real."""

    rank: int                          # 1 = look at this first
    frontier: int
    name: str
    evidence: Evidence
    chain: tuple[ChainStep, ...]       # frontier → … → target, a shortest chain of the class `evidence`
    members: tuple[int, ...]           # the frontier first, then by index
    only_through: int
    through: int
    body_bytes: int                    # code size of the members (what instrumenting them costs, before Asyncify's growth)
    observed_in: str | None = None     # for `observed`: where the frontier's first call was seen

    @property
    def target(self) -> int:
        """The async import the chain reaches (under `--indirect all`, maybe a function with an indirect call)."""
        return self.chain[-1].function


@dataclass
class Triage:
    analysis: Analysis
    groups: list[Group] = field(default_factory=list)
    group_of: dict[int, int] = field(default_factory=dict)   # missing function → index into `groups`

    @property
    def missing(self) -> int:
        return len(self.group_of)

    def by_evidence(self) -> dict[Evidence, tuple[int, int]]:
        """Per class: (groups, missing functions)."""
        out: dict[Evidence, tuple[int, int]] = {e: (0, 0) for e in EVIDENCE}
        for g in self.groups:
            n, k = out[g.evidence]
            out[g.evidence] = (n + 1, k + len(g.members))
        return out

    def by_target(self) -> dict[int, tuple[int, int]]:
        """Per async import reached: (groups, missing functions), most functions first."""
        out: dict[int, tuple[int, int]] = {}
        for g in self.groups:
            n, k = out.get(g.target, (0, 0))
            out[g.target] = (n + 1, k + len(g.members))
        return dict(sorted(out.items(), key=lambda kv: (-kv[1][1], kv[0])))


class _Graph:
    """The closure as dense ids — 0 is ROOT, then the closure's nodes in ascending order — with the
    callers of every id as compressed rows (row j is `tgt[off[j]:off[j + 1]]`, ascending) and each
    edge's weakest evidence level needed to use it (`lvl`, parallel to `tgt`).

    The edges are the graph's own (`CallGraph.reverse`: direct calls, indirect call sites and their
    targets, trampolines and their re-entries), calls seen at run time, the analysis's next hops (so
    an edge it learned elsewhere is never lost; counted as the weakest kind) and the sinks → ROOT. An
    edge's level is the stronger of its caller's and its callee's kind (`_levels`), worked out per node
    so that the rows are made in one bulk pass (`closure_rows`)."""

    def __init__(self, an: Analysis, reenters: tuple[str, ...]) -> None:
        g, m = an.graph, an.module
        self.an = an
        nh = an.next_hop
        self.nodes = array("i", [ROOT_INDIRECT])   # nodes[ROOT] is a placeholder
        self.nodes.extend(compress(range(len(nh)), map(ne, nh, repeat(UNREACHED))))
        self.ids = ids = array("i", [-1]) * len(nh)
        for i, node in enumerate(self.nodes[1:], 1):
            ids[node] = i
        tramps = {f.index for f in m.functions[:m.num_imported_functions]
                  if any(import_matches(p, f.import_key or "") for p in reenters)} | set(g.trampolines)
        self.trampoline = tramps.__contains__   # matched once per import, not once per edge
        rev = g.reverse(an.mode)
        from_level, to_level = self._levels(tramps)
        extra_dst, extra_src, extra_level = self._extras()
        self.off, self.tgt, self.lvl = closure_rows(rev.off, rev.tgt, self.nodes, ids, from_level, to_level,
                                                    extra_dst, extra_src, extra_level)

    def _levels(self, tramps: set[int]) -> tuple[bytes, bytes]:
        """Per node, the level of the edges out of it (`from_level`: a site's kind; TRAMPOLINE for an
        import, which calls only its re-entry site; OBSERVED, i.e. no limit, for a defined function)
        and of the edges into it (`to_level`: TRAMPOLINE for a trampoline import or re-entry site,
        INDIRECT for a call site, else DIRECT). A defined function's call is its callee's kind; a
        site's call its own kind, never weaker than its targets'; an import's call TRAMPOLINE."""
        g = self.an.graph
        n_imp = g.module.num_imported_functions
        frm = bytearray(len(self.ids))
        frm[:n_imp] = bytes([TRAMPOLINE]) * n_imp
        to = bytearray([DIRECT]) * len(self.ids)
        for t in tramps:
            to[t] = TRAMPOLINE
        for k, site in enumerate(g.sites):
            frm[g.n + k] = to[g.n + k] = TRAMPOLINE if site.trampoline is not None else INDIRECT
        return bytes(frm), bytes(to)

    def _extras(self) -> tuple[array, array, bytes]:
        """The edges beyond the graph's, as (callee id, caller id, level): sinks → ROOT, calls seen at
        run time (DIRECT), and — when the analysis had extra edges — its next hops (TRAMPOLINE out of
        an import, else INDIRECT). Without extra edges every next hop is an edge of the graph already,
        at a level at least as strong, so it adds nothing."""
        an, ids, nh = self.an, self.ids, self.an.next_hop
        g = an.graph
        dst, src, lvl = array("I"), array("I"), bytearray()

        def add(callee: int, caller: int, level: int) -> None:
            dst.append(callee)
            src.append(caller)
            lvl.append(level)

        for s in an.async_imports:   # sinks: async imports, and roots of --indirect all or the runtime
            if 0 <= s < len(nh) and nh[s] == s:
                add(ROOT, ids[s], TRAMPOLINE if self.trampoline(s) else OBSERVED)
        for root in compress(range(len(nh)), map(eq, nh, repeat(ROOT_INDIRECT))):
            add(ROOT, ids[root], INDIRECT)
        for root in compress(range(len(nh)), map(eq, nh, repeat(ROOT_RUNTIME))):
            add(ROOT, ids[root], DIRECT)
        for i, j in self.observed():   # calls seen at run time are edges of the analysis too
            add(j, i, DIRECT)
        if an.extra_edges:
            n_imp = g.module.num_imported_functions
            for node in self.nodes[1:]:
                hop = nh[node]
                if hop != node and hop >= 0:
                    add(ids[hop], ids[node], TRAMPOLINE if node < n_imp else INDIRECT)
        return dst, src, bytes(lvl)

    def calls_directly(self, caller: int, callee: int) -> bool:
        """`caller` (a defined function) has a `call` of `callee` in its code."""
        d = self.an.graph.direct
        lo, hi = d.off[caller], d.off[caller + 1]
        k = bisect_left(d.tgt, callee, lo, hi)
        return k < hi and d.tgt[k] == callee

    def site_of(self, caller: int, target: int) -> Site | None:
        """The indirect call of `caller` that may reach `target`, if any (for naming an observed hop)."""
        g = self.an.graph
        if self.an.mode != "typed" or g.is_site(caller):
            return None
        for s in g.indirect_sites.get(caller, ()):
            targets = g.site_targets(s)
            k = bisect_left(targets, target)
            if k < len(targets) and targets[k] == target:
                return g.site(s)
        return None

    def observed(self) -> list[tuple[int, int]]:
        """Observed edges inside the closure, as dense ids."""
        ids, out = self.ids, []
        for (caller, callee) in self.an.origins:
            if 0 <= caller < len(ids) and 0 <= callee < len(ids) and ids[caller] >= 0 and ids[callee] >= 0:
                out.append((ids[caller], ids[callee]))
        return out


def triage(analysis: Analysis, missing: Iterable[int], reenters: tuple[str, ...] = TRAMPOLINES) -> Triage:
    """Group and rank the missing functions of an audit (see the module docstring for every word)."""
    missing = sorted(set(missing))
    out = Triage(analysis)
    if not missing:
        return out
    nh = analysis.next_hop
    stray = [f for f in missing if not 0 <= f < len(nh) or nh[f] == UNREACHED]
    if stray:
        raise ValueError(f"{len(stray)} missing function(s) cannot reach an async import in this analysis "
                         f"(e.g. function {stray[0]}): the audit and the analysis disagree")
    gr = _Graph(analysis, reenters)
    weights = bytearray(len(gr.nodes))
    for f in missing:
        weights[gr.ids[f]] = 1
    frontier_of = _frontiers(nh, missing)
    only = dominated(gr.off, gr.tgt, ROOT, bytes(weights))
    through = reach(gr.off, gr.tgt, bytes(weights))
    trees = _evidence_trees(gr)
    members: dict[int, list[int]] = {}
    for m, f in zip(missing, frontier_of):   # ascending: each group's members by index
        members.setdefault(f, []).append(m)
    mod = analysis.module
    drafts = []
    for f, mem in members.items():
        fid = gr.ids[f]
        level = next((lv for lv in range(INDIRECT) if trees[lv][fid] != UNREACHED), INDIRECT)
        chain = _chain(gr, trees[level], fid) if level < INDIRECT else analysis.chain(f)
        where = None
        if level == OBSERVED:
            where = analysis.origins.get((f, _first_function_hop(gr, trees[OBSERVED], fid)))
        ordered = tuple([f] + [x for x in mem if x != f])
        drafts.append((level, -only[fid], -through[fid], -len(mem), mod.functions[f].name, f,
                       ordered, tuple(chain), where))
    drafts.sort(key=lambda d: d[:6])
    body_size = mod.body_size
    for rank, (level, o, t, _, name, f, group, steps, where) in enumerate(drafts, 1):
        out.groups.append(Group(rank, f, name, EVIDENCE[level], steps, group, -o, -t,
                                sum(map(body_size, group)), where))
        out.group_of.update(zip(group, repeat(rank - 1)))
    return out


def _frontiers(next_hop: array, missing: list[int]) -> list[int]:
    """For each missing node (ascending), the last missing node on its shortest chain (the analysis's
    next hops): each node's answer is worked out once, from its next hop's."""
    is_missing = bytearray(len(next_hop))
    for m in missing:
        is_missing[m] = 1
    last = array("i", [UNREACHED]) * len(next_hop)   # node → last missing node from it on, -1: none
    for m in missing:
        path, node = [], m
        cur = last[node]
        while cur == UNREACHED:
            path.append(node)
            hop = next_hop[node]
            if hop == node or hop < 0:   # the end of the chain
                cur = -1
                break
            node = hop
            cur = last[node]
        for p in reversed(path):
            if cur == -1 and is_missing[p]:
                cur = p
            last[p] = cur
    return [last[m] for m in missing]


def _evidence_trees(gr: _Graph) -> list[array]:
    """Per evidence level below INDIRECT, a shortest-path tree toward ROOT (id → next id; ROOT → ROOT,
    UNREACHED outside) using only the edges (and sinks) that level allows; the OBSERVED level only
    calls seen at run time (and the sinks it allows). Callers are taken in row order, ascending."""
    one = array("I", [ROOT])
    trees = [_observed_tree(gr)]
    for level in (DIRECT, TRAMPOLINE):
        off, tgt = upto(gr.off, gr.tgt, gr.lvl, level)
        trees.append(bfs(Rows(off, tgt), one, array("I")))
    return trees


def _observed_tree(gr: _Graph) -> array:
    nxt = array("i", [UNREACHED]) * len(gr.nodes)
    nxt[ROOT] = ROOT
    obs_pred: dict[int, list[int]] = {}
    for i, j in gr.observed():
        obs_pred.setdefault(j, []).append(i)
    start, stop = gr.off[ROOT], gr.off[ROOT + 1]
    queue: deque[int] = deque()
    for caller, lv in zip(gr.tgt[start:stop], gr.lvl[start:stop]):
        if lv <= OBSERVED and nxt[caller] == UNREACHED:
            nxt[caller] = ROOT
            queue.append(caller)
    while queue:
        node = queue.popleft()
        for caller in obs_pred.get(node, ()):
            if nxt[caller] == UNREACHED:
                nxt[caller] = node
                queue.append(caller)
    return nxt


def _chain(gr: _Graph, tree: array, start: int) -> list[ChainStep]:
    """The chain start → … → async import along a tree, in the analysis's ChainStep terms."""
    g, nodes, an = gr.an.graph, gr.nodes, gr.an
    n, n_imp = g.n, g.module.num_imported_functions
    with_sites = g.indirect_sites if an.mode == "typed" else {}
    # Only an edge from outside the static graph (seen at run time, or given) can be a hop out of a
    # defined function that is neither a call in its code nor through one of its call sites.
    outside = bool(an.origins) or an.extra_edges
    steps = [ChainStep(nodes[start])]
    node, via = start, None
    while tree[node] != ROOT:
        nxt = tree[node]
        real = nodes[nxt]
        if real >= n:
            via = g.site(real)
        else:
            caller = nodes[node]
            if via is None and caller in with_sites:   # a call seen at run time that is also an indirect call: say which
                via = gr.site_of(caller, real)
            seen = outside and via is None and n_imp <= caller < n and not gr.calls_directly(caller, real)
            steps.append(ChainStep(real, via, observed=an.origins.get((caller, real), "") if seen else None))
            via = None
        node = nxt
    return steps


def _first_function_hop(gr: _Graph, tree: array, start: int) -> int:
    return gr.nodes[tree[start]] if tree[start] != ROOT else gr.nodes[start]


# --- the graph work: accelerator twins (these, and their C twins in accel/native/graph.c) ------------

def closure_rows_py(off: array, tgt: array, nodes: array, ids: array, from_level: bytes, to_level: bytes,
                    extra_dst: array, extra_src: array, extra_level: bytes) -> tuple[array, array, bytes]:
    """Rows `off`/`tgt` of a subset of the nodes, renumbered: new row k is old row `nodes[k]` (none if
    negative) with the targets t that `ids` keeps (ids[t] >= 0) as ids[t], each with the level
    max(from_level[t], to_level[nodes[k]]), plus the extra edges (extra_src[e] in row extra_dst[e], at
    extra_level[e]); each row ascending, a target listed twice at its lowest level."""
    rows: list[dict[int, int]] = [{} for _ in nodes]

    def put(row: dict[int, int], target: int, level: int) -> None:
        if level < row.get(target, 256):
            row[target] = level

    for k, v in enumerate(nodes):
        if v >= 0:
            for t in tgt[off[v]:off[v + 1]]:
                if ids[t] >= 0:
                    put(rows[k], ids[t], max(from_level[t], to_level[v]))
    for d, s, level in zip(extra_dst, extra_src, extra_level):
        put(rows[d], s, level)
    o, t, lv = array("I", [0]), array("I"), bytearray()
    for row in rows:
        for target in sorted(row):
            t.append(target)
            lv.append(row[target])
        o.append(len(t))
    return o, t, bytes(lv)


def upto_py(off: array, tgt: array, levels: bytes, max_level: int) -> tuple[array, array]:
    """The rows with only the edges of level at most `max_level`."""
    o, t = array("I", [0]), array("I")
    for v in range(len(off) - 1):
        t.extend(x for x, lv in zip(tgt[off[v]:off[v + 1]], levels[off[v]:off[v + 1]]) if lv <= max_level)
        o.append(len(t))
    return o, t


def dominated_py(off: array, tgt: array, root: int, weights: bytes) -> array:
    """Per node, the sum of `weights` over the nodes it dominates (itself included) in the graph of the
    rows from `root`; for the triage, the rows are the callers and the root ROOT, so a frontier's
    count is of the missing functions whose every chain to an async import passes through it.
    Cooper, Harvey & Kennedy's iterative algorithm ("A Simple, Fast Dominance Algorithm")."""
    n = len(off) - 1
    rows = list(Rows(off, tgt))
    post = _postorder(n, rows, root)
    num = [-1] * n
    for k, node in enumerate(post):
        num[node] = k
    preds: list[list[int]] = [[] for _ in range(n)]
    for v in post:
        for c in rows[v]:
            preds[c].append(v)
    idom = [-1] * n
    idom[root] = root
    changed = True
    while changed:
        changed = False
        for b in reversed(post[:-1]):
            new = -1
            for p in preds[b]:
                if idom[p] == -1:
                    continue
                if new == -1:
                    new = p
                    continue
                a = p
                while a != new:
                    while num[a] < num[new]:
                        a = idom[a]
                    while num[new] < num[a]:
                        new = idom[new]
            if idom[b] != new:
                idom[b] = new
                changed = True
    count = array("i", list(weights))
    for b in post:   # descendants before their dominators
        if b != root:
            count[idom[b]] += count[b]
    return count


def _postorder(n: int, children: list[list[int]], start: int) -> list[int]:
    """Iterative DFS postorder from `start` (chains can be thousands of calls deep)."""
    seen = [False] * n
    seen[start] = True
    order: list[int] = []
    stack = [(start, iter(children[start]))]
    while stack:
        node, it = stack[-1]
        for c in it:
            if not seen[c]:
                seen[c] = True
                stack.append((c, iter(children[c])))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def reach_py(off: array, tgt: array, weights: bytes) -> array:
    """Per node, how many marked nodes (weights[v] != 0) it reaches along the rows, itself included; for
    the triage, the rows are the callers, so a frontier's count is of the missing functions that can
    reach it. Bitsets over the marked nodes, pulled along the strongly connected components (recursion)
    in the order they complete: every component a component reaches is final before it."""
    n = len(off) - 1
    rows = list(Rows(off, tgt))
    comp, by_comp = components(n, rows)
    bit = {v: 1 << k for k, v in enumerate(v for v in range(n) if weights[v])}
    bits = [0] * len(by_comp)
    for c in range(len(by_comp)):
        b = 0
        for v in by_comp[c]:
            b |= bit.get(v, 0)
            for w in rows[v]:
                if comp[w] != c:
                    b |= bits[comp[w]]
        bits[c] = b
    return array("i", (bits[comp[v]].bit_count() for v in range(n)))


def _closure_rows_native(*args: object) -> tuple[array, array, bytes]:
    o, t, levels = accel.native.closure_rows(*args)
    return accel.u32s(o), accel.u32s(t), levels


def _upto_native(off: array, tgt: array, levels: bytes, max_level: int) -> tuple[array, array]:
    o, t = accel.native.upto(off, tgt, levels, max_level)
    return accel.u32s(o), accel.u32s(t)


closure_rows = accel.twin("closure_rows", closure_rows_py, _closure_rows_native)
upto = accel.twin("upto", upto_py, _upto_native)
dominated = accel.twin("dominated", dominated_py, lambda off, tgt, root, weights:
                       accel.i32s(accel.native.dominated(off, tgt, root, weights)))
reach = accel.twin("reach", reach_py, lambda off, tgt, weights: accel.i32s(accel.native.reach(off, tgt, weights)))


def short_chain(parts: list[str], keep: int = 6) -> str:
    """A chain of at most `keep` names: the start (the frontier and its cut) and the end (the import)."""
    if len(parts) <= keep:
        return " → ".join(parts)
    head, tail = parts[:keep - 2], parts[-2:]
    return " → ".join(head + [f"… {len(parts) - keep} more …"] + tail)
