"""Which witness chain `why` shows, and how far to trust it.

`Analysis.chain` is a shortest chain of the closure, static calls first. With stacks recorded by
`trace` (`--observed`), `why` prefers calls that really happened: `observed_first_chain` picks, among
the chains that stay in the closure, one with the fewest hops that were *not* observed, then the
fewest hops — so a chain seen at run time is shown whenever there is one, and a mixed one otherwise.

A chain through a *hub* — a function with very many callers or callees: a dispatcher
(`zend_call_function`), an allocator's error path, a `call_indirect` of a common type — may be an
over-approximation: the hub can reach the import, but perhaps not when called from here. `Hubs`
measures, per defined function under the analysis' `--indirect` mode, its fan-in (distinct direct
callers, plus the functions whose indirect-call sites may reach it) and fan-out (distinct direct
callees, plus each of its sites' possible targets), and calls a function a hub when either is at least
the larger of `HUB_MIN` and the module's top 0.1% (`HUB_TOP`) of that measure.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from itertools import pairwise

from ..graph.callgraph import Site
from .closure import ROOT_INDIRECT, ROOT_RUNTIME, Analysis, ChainStep

HUB_TOP = 0.001   # the top 0.1% of defined functions by fan-in, or by fan-out
HUB_MIN = 50      # …and never fewer than this many callers or callees: small modules have no hubs


def observed_first_chain(an: Analysis, f: int) -> tuple[list[ChainStep], list[bool]]:
    """A chain from `f` to where the closure starts (an async import, or a function that is a member
    by itself), inside the closure, with the fewest hops not seen in a recorded stack, then the fewest
    hops; and per step whether the hop into it was seen at run time. A step carries where it was seen
    (`ChainStep.observed`) when the static graph lacks that hop, as in `Analysis.chain`. Without
    observed edges: `an.chain(f)`."""
    if not an.origins or not an.contains(f):
        steps = an.chain(f)
        return steps, [False] * len(steps)
    g, mode = an.graph, an.mode
    observed: dict[int, list[int]] = {}
    for caller, callee in an.origins:
        observed.setdefault(caller, []).append(callee)

    def inside(v: int) -> bool:
        return an.reached(v) and v not in an.barriers

    def is_end(v: int) -> bool:
        return an.next_hop[v] in (ROOT_INDIRECT, ROOT_RUNTIME) or an.next_hop[v] == v

    # Dijkstra on (hops not observed, hops); a site node is part of the hop into its target
    best: dict[int, tuple[float, float]] = {f: (0, 0)}
    came: dict[int, tuple[int, bool]] = {}          # node → (previous node, hop observed)
    heap: list[tuple[float, float, int]] = [(0, 0, f)]
    end = None
    while heap:
        static, hops, u = heapq.heappop(heap)
        if best[u] < (static, hops):
            continue
        if not g.is_site(u) and is_end(u):
            end = u
            break
        moves = [(v, False) for v in g.successors(u, mode)]
        if not g.is_site(u):
            moves += [(v, True) for v in observed.get(u, ())]
        for v, seen in moves:
            if not inside(v):
                continue
            cost = (static + (0 if seen or g.is_site(v) else 1), hops + (0 if g.is_site(v) else 1))
            if cost < best.get(v, (math.inf, math.inf)):
                best[v] = cost
                came[v] = (u, seen)
                heapq.heappush(heap, (*cost, v))
    if end is None:                                   # cannot happen for a member; keep the static one
        steps = an.chain(f)
        return steps, [False] * len(steps)
    path = [end]
    while path[-1] != f:
        path.append(came[path[-1]][0])
    path.reverse()
    steps, seen_at = [ChainStep(f)], [False]
    via = None
    for prev, node in pairwise(path):
        if g.is_site(node):
            via = g.site(node)
            continue
        seen = came[node][1]
        only_seen = seen and via is None and node not in g.successors(prev, mode)
        steps.append(ChainStep(node, via, observed=an.origins.get((prev, node), "") if only_seen else None))
        seen_at.append(seen)
        via = None
    return steps, seen_at


@dataclass
class Hubs:
    """Direct fan-in and fan-out of every function, and the thresholds from which a function is a hub."""

    fan_in: list[int]
    fan_out: list[int]
    min_in: int
    min_out: int
    imported: int = 0

    def of(self, f: int) -> tuple[str, int] | None:
        """("callers", n) or ("callees", n) when `f` is a hub (the larger ratio to its threshold), else None."""
        if f < self.imported:
            return None
        fin, fout = self.fan_in[f], self.fan_out[f]
        is_in, is_out = fin >= self.min_in, fout >= self.min_out
        if is_in and (not is_out or fin / self.min_in >= fout / self.min_out):
            return ("callers", fin)
        return ("callees", fout) if is_out else None


def hubs(an: Analysis) -> Hubs:
    """Distinct direct callers and callees of every function, and the hub thresholds: the larger of
    `HUB_MIN` and the smallest count in the top `HUB_TOP` of defined functions, for each measure."""
    g, imported = an.graph, an.module.num_imported_functions
    fan_in, fan_out = [0] * g.n, [0] * g.n
    for f in range(g.n):
        callees = set(g.direct[f])
        fan_out[f] = len(callees)
        for c in callees:
            fan_in[c] += 1
    k = max(1, math.ceil(HUB_TOP * (g.n - imported)))

    def threshold(counts: list[int]) -> int:
        return max(HUB_MIN, (heapq.nlargest(k, counts[imported:]) or [0])[-1])

    return Hubs(fan_in, fan_out, threshold(fan_in), threshold(fan_out), imported)


def chain_hubs(an: Analysis, steps: list[ChainStep], seen: list[bool] | None = None,
               measured: Hubs | None = None) -> list[tuple[int | None, str, int]]:
    """The hubs a chain runs through: (function, "callers" or "callees", count) for a function with
    very many direct callers or callees — not the chain's first function (the one asked about) nor its
    last (the import), nor one whose hop onward was seen at run time (`seen`: per step, whether the hop
    into it was; then it really leads there) — and (None, the site's description, its possible
    targets) for an indirect hop whose site may reach at least as many functions as a hub calls."""
    if len(steps) < 2:
        return []
    seen = seen or [False] * len(steps)
    measured = measured or hubs(an)
    out: list[tuple[int | None, str, int]] = []
    for i, step in enumerate(steps[1:], 1):
        if step.via is not None and not seen[i]:
            targets = len(an.graph.site_targets(_site_node(an, step.via)))
            if targets >= measured.min_out:
                out.append((None, step.via.describe(an.module), targets))
        if i < len(steps) - 1:
            hub = measured.of(step.function)
            if hub and not seen[i + 1]:
                out.append((step.function, *hub))
    return out


def _site_node(an: Analysis, site: Site) -> int:
    return an.graph.n + an.graph.sites.index(site)
