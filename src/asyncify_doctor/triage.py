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

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Literal

from .analysis import ROOT_INDIRECT, ROOT_RUNTIME, Analysis, ChainStep
from .callgraph import Site
from .patterns import import_matches

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
    """The closure with each edge's weakest evidence level needed to use it, as dense ids (0 = ROOT)."""

    def __init__(self, an: Analysis, reenters: tuple[str, ...]) -> None:
        g, m = an.graph, an.module
        self.an = an
        self.nodes: list[int] = [ROOT_INDIRECT] + sorted(an.hops)   # nodes[ROOT] is a placeholder
        self.id = {node: i for i, node in enumerate(self.nodes)}
        self.static: set[tuple[int, int]] = set()              # direct calls (caller, callee)

        tramps = {f.index for f in m.functions[:m.num_imported_functions]
                  if any(import_matches(p, f.import_key or "") for p in reenters)} | set(g.trampolines)
        self.trampoline = tramps.__contains__   # matched once per import, not once per edge
        n = len(self.nodes)
        self.succ: list[dict[int, int]] = [{} for _ in range(n)]   # id → {callee id: level}
        for node, i in self.id.items():
            if node == ROOT_INDIRECT:
                continue
            for callee, level in self._edges(node):
                j = self.id.get(callee)
                if j is not None and level < self.succ[i].get(j, 4):
                    self.succ[i][j] = level
        for caller, callee in an.origins:       # calls seen at run time are edges of the analysis too
            i, j = self.id.get(caller), self.id.get(callee)
            if i is not None and j is not None and DIRECT < self.succ[i].get(j, 4):
                self.succ[i][j] = DIRECT
        for node, hop in an.hops.items():   # sinks: async imports, and roots of --indirect all
            if hop == node:
                self.succ[self.id[node]][ROOT] = TRAMPOLINE if self.trampoline(node) else OBSERVED
            elif hop == ROOT_INDIRECT:
                self.succ[self.id[node]][ROOT] = INDIRECT
            elif hop == ROOT_RUNTIME:   # starts unwinds itself (Binaryen's top-most runtime)
                self.succ[self.id[node]][ROOT] = DIRECT
        self.pred: list[list[tuple[int, int]]] = [[] for _ in range(n)]   # callee id → [(caller id, level)]
        for i, out in enumerate(self.succ):
            for j, level in out.items():
                self.pred[j].append((i, level))

    def _edges(self, node: int) -> Iterable[tuple[int, int]]:
        """(callee, level) for every call out of `node`: static ones, observed ones, and the analysis's
        own next hop (so an edge it learned elsewhere is never lost; counted as the weakest kind)."""
        an, g = self.an, self.an.graph
        if g.is_site(node):
            level = TRAMPOLINE if g.site(node).trampoline is not None else INDIRECT
            for t in g.site_targets(node):
                yield t, level
        elif g.module.functions[node].imported:
            for t in g.successors(node, an.mode):   # an import that re-enters wasm
                yield t, TRAMPOLINE
        else:
            for t in g.direct[node]:
                self.static.add((node, t))
                yield t, TRAMPOLINE if self.trampoline(t) else DIRECT
            for s in g.successors(node, an.mode):
                if g.is_site(s):
                    yield s, INDIRECT
        hop = an.hops.get(node)
        if hop is not None and hop != node and hop not in (ROOT_INDIRECT, ROOT_RUNTIME):
            yield hop, TRAMPOLINE if not g.is_site(node) and g.module.functions[node].imported else INDIRECT

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
        out = []
        for (caller, callee) in self.an.origins:
            i, j = self.id.get(caller), self.id.get(callee)
            if i is not None and j is not None:
                out.append((i, j))
        return out


def triage(analysis: Analysis, missing: Iterable[int], reenters: tuple[str, ...] = TRAMPOLINES) -> Triage:
    """Group and rank the missing functions of an audit (see the module docstring for every word)."""
    missing = sorted(set(missing))
    out = Triage(analysis)
    if not missing:
        return out
    stray = [f for f in missing if f not in analysis.hops]
    if stray:
        raise ValueError(f"{len(stray)} missing function(s) cannot reach an async import in this analysis "
                         f"(e.g. function {stray[0]}): the audit and the analysis disagree")
    gr = _Graph(analysis, reenters)
    miss = {gr.id[f] for f in missing}
    frontier_of = _frontiers(gr, miss)
    only = _dominated_counts(gr, miss)
    through = _reaching_counts(gr, miss)
    trees = _evidence_trees(gr)
    members: dict[int, list[int]] = {}
    for m in sorted(miss, key=lambda i: gr.nodes[i]):
        members.setdefault(frontier_of[m], []).append(gr.nodes[m])
    mod = analysis.module
    drafts = []
    for fid, mem in members.items():
        f = gr.nodes[fid]
        level = next((lv for lv in range(INDIRECT) if fid in trees[lv]), INDIRECT)
        chain = _chain(gr, trees[level], fid) if level < INDIRECT else analysis.chain(f)
        where = None
        if level == OBSERVED:
            where = analysis.origins.get((f, _first_function_hop(gr, trees[OBSERVED], fid)))
        ordered = tuple([f] + [x for x in mem if x != f])
        drafts.append((level, -only[fid], -through[fid], -len(mem), mod.functions[f].name, f,
                       ordered, tuple(chain), where))
    drafts.sort(key=lambda d: d[:6])
    for rank, (level, o, t, _, name, f, mem, chain, where) in enumerate(drafts, 1):
        out.groups.append(Group(rank, f, name, EVIDENCE[level], chain, mem, -o, -t,
                                sum(mod.body_size(x) for x in mem), where))
        for x in mem:
            out.group_of[x] = rank - 1
    return out


def _frontiers(gr: _Graph, miss: set[int]) -> dict[int, int]:
    """Each missing id → the last missing id on its shortest chain (the analysis's next hops)."""
    nh, ids, nodes = gr.an.hops, gr.id, gr.nodes
    last: dict[int, int | None] = {}
    for m in miss:
        path, node, cur = [], m, None
        while node not in last:
            path.append(node)
            hop = nh[nodes[node]]
            if hop == nodes[node] or hop in (ROOT_INDIRECT, ROOT_RUNTIME):   # the end of the chain
                break
            node = ids[hop]
        else:
            cur = last[node]
        for p in reversed(path):
            if cur is None and p in miss:
                cur = p
            last[p] = cur
    return {m: last[m] for m in miss}  # type: ignore[misc]


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


def _dominated_counts(gr: _Graph, miss: set[int]) -> dict[int, int]:
    """For every node, how many missing nodes it dominates in the reversed call graph from ROOT
    (Cooper, Harvey & Kennedy's iterative algorithm, "A Simple, Fast Dominance Algorithm")."""
    n = len(gr.nodes)
    callers = [[i for i, _ in gr.pred[j]] for j in range(n)]
    post = _postorder(n, callers, ROOT)
    num = [-1] * n
    for k, node in enumerate(post):
        num[node] = k
    rpo = post[::-1]
    idom = [-1] * n
    idom[ROOT] = ROOT
    changed = True
    while changed:
        changed = False
        for b in rpo[1:]:
            new = -1
            for p in gr.succ[b]:   # predecessors in the reversed graph: the callees
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
    count = [1 if i in miss else 0 for i in range(n)]
    for b in post:   # descendants before their dominators
        if b != ROOT:
            count[idom[b]] += count[b]
    return dict(enumerate(count))


def _reaching_counts(gr: _Graph, miss: set[int]) -> dict[int, int]:
    """For every node, how many missing nodes can reach it: bitsets over the missing nodes, pushed from
    callers to callees over the strongly connected components (recursion), callers first."""
    n = len(gr.nodes)
    comp = _sccs(n, [list(s) for s in gr.succ])
    bit = {m: 1 << k for k, m in enumerate(sorted(miss))}
    ncomp = max(comp) + 1 if comp else 0
    reach = [0] * ncomp
    for i in range(n):
        if i in bit:
            reach[comp[i]] |= bit[i]
    by_comp: list[list[int]] = [[] for _ in range(ncomp)]
    for i in range(n):
        by_comp[comp[i]].append(i)
    for c in range(ncomp - 1, -1, -1):   # Tarjan numbers callees first: reversed = callers first
        r = reach[c]
        for i in by_comp[c]:
            for j in gr.succ[i]:
                if comp[j] != c:
                    reach[comp[j]] |= r
    return {i: reach[comp[i]].bit_count() for i in range(n)}


def _sccs(n: int, succ: list[list[int]]) -> list[int]:
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


def _evidence_trees(gr: _Graph) -> list[dict[int, int]]:
    """Per evidence level below INDIRECT, a shortest-path tree toward ROOT (id → next id) using only the
    edges (and sinks) that level allows; the OBSERVED level only calls seen at run time."""
    trees: list[dict[int, int]] = []
    seen_edges = gr.observed()
    obs_pred: list[list[int]] = [[] for _ in gr.nodes]
    for i, j in seen_edges:
        obs_pred[j].append(i)
    for level in range(INDIRECT):
        nxt: dict[int, int] = {ROOT: ROOT}
        queue = deque([ROOT])
        while queue:
            node = queue.popleft()
            if level == OBSERVED and node != ROOT:
                callers = [(i, OBSERVED) for i in obs_pred[node]]
            else:   # (calls seen at run time are in gr.pred as DIRECT)
                callers = gr.pred[node]
            for caller, lv in callers:
                if lv <= level and caller not in nxt:
                    nxt[caller] = node
                    queue.append(caller)
        del nxt[ROOT]
        trees.append(nxt)
    return trees


def _chain(gr: _Graph, tree: dict[int, int], start: int) -> list[ChainStep]:
    """The chain start → … → async import along a tree, in the analysis's ChainStep terms."""
    g, nodes = gr.an.graph, gr.nodes
    steps = [ChainStep(nodes[start])]
    node, via = start, None
    while tree[node] != ROOT:
        nxt = tree[node]
        real = nodes[nxt]
        if g.is_site(real):
            via = g.site(real)
        else:
            caller = nodes[node]
            if via is None:   # a call seen at run time that is also an indirect call: say which
                via = gr.site_of(caller, real)
            seen = via is None and not g.is_site(caller) and (caller, real) not in gr.static \
                and not (caller < g.n and g.module.functions[caller].imported)
            steps.append(ChainStep(real, via, observed=gr.an.origins.get((caller, real), "") if seen else None))
            via = None
        node = nxt
    return steps


def _first_function_hop(gr: _Graph, tree: dict[int, int], start: int) -> int:
    return gr.nodes[tree[start]] if tree[start] != ROOT else gr.nodes[start]


def short_chain(parts: list[str], keep: int = 6) -> str:
    """A chain of at most `keep` names: the start (the frontier and its cut) and the end (the import)."""
    if len(parts) <= keep:
        return " → ".join(parts)
    head, tail = parts[:keep - 2], parts[-2:]
    return " → ".join(head + [f"… {len(parts) - keep} more …"] + tail)
