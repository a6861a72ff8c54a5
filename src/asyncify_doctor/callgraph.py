"""Module → CallGraph: who can call whom, including through tables and typed function references.

Nodes are functions in the wasm function index space (imports first). Indirect calls go through
one *site node* per (canonical type, table) for `call_indirect` and per canonical type for
`call_ref`, so a binary with thousands of same-typed call sites and table entries costs
sites + entries edges, not their product.

Which functions may be in a table (the `--host-table` choice):
- always: active element segments targeting it, its initializer expression, passive segments
  that some `table.init` copies into it, other tables `table.copy`-ed into it, and — if any code
  writes it with `table.set`/`table.grow`/`table.fill` — every address-taken function;
- `sound` (default): if the table is imported or exported, the host can also put there anything
  it can get hold of: every exported function and every address-taken function;
- `module`: trust that the host adds nothing (true for Emscripten builds that never call
  `addFunction`/`Table.set` from JS on functions of this module).
Address-taken = named by `ref.func` anywhere (code, global and table initializers, element
segments) or held by any element segment.

Type matching follows the spec: MVP function types are equal when structurally equal; with GC rec
groups, types are compared iso-recursively (a type is its whole rec group plus its position), and a
call of type T may reach functions whose type is T or a declared subtype of T.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Literal

from .decode import Module, SubType, ValType
from .decode import opcodes as op

IndirectMode = Literal["typed", "all", "ignore"]
HostTable = Literal["sound", "module"]
INDIRECT_MODES: tuple[str, ...] = ("typed", "all", "ignore")


@dataclass(frozen=True)
class Site:
    """An indirect call target set: `call_indirect` of `type_index` on `table`, `call_ref` (table
    None), or the re-entry of a trampoline import (`trampoline` = its function index)."""

    type_index: int
    table: int | None
    trampoline: int | None = None

    def describe(self, module: Module) -> str:
        if self.trampoline is not None:
            sig = module.func_type(self.trampoline)
            rest = ", ".join(map(str, sig.params[1:]))
            return f"re-entered through {module.functions[self.trampoline].import_key}: a table function ({rest})"
        sig = module.types[self.type_index].signature() if self.type_index < len(module.types) else "?"
        if self.table is None:
            return f"call_ref via type {sig}"
        return f"indirect via type {sig}, table {self.table}"


def is_trampoline_name(name: str) -> bool:
    """Emscripten's `invoke_X(index, args…)` (setjmp/longjmp and C++ exceptions in JS) and
    `dynCall_X`-style imports call table entry `index` with `args`: X is the signature."""
    return name.startswith(("invoke_", "dynCall_"))


@dataclass
class FunctionFacts:
    """What one function's body does that matters to the graph (from the decoder's events)."""

    calls: list[int] = field(default_factory=list)
    tail_calls: list[int] = field(default_factory=list)
    indirect: list[tuple[int, int]] = field(default_factory=list)   # (type, table)
    call_refs: list[int] = field(default_factory=list)              # type
    ref_funcs: list[int] = field(default_factory=list)
    globals_read: list[int] = field(default_factory=list)
    globals_written: list[int] = field(default_factory=list)
    table_writes: list[int] = field(default_factory=list)
    table_inits: list[tuple[int, int]] = field(default_factory=list)  # (elem, table)
    table_copies: list[tuple[int, int]] = field(default_factory=list)  # (dst, src)

    @property
    def has_indirect(self) -> bool:
        return bool(self.indirect or self.call_refs)


def facts_from_events(module: Module, f: int, start: int, stop: int) -> FunctionFacts:
    """FunctionFacts of one function from its slice `events[start:stop]` of the decoder's output."""
    ff = FunctionFacts()
    ev = module.code.events if module.code else []
    for i in range(start, stop, 4):
        kind, a, b = ev[i + 1], ev[i + 2], ev[i + 3]
        base = kind & ~op.EV_TAIL
        if kind == op.EV_CALL:
            ff.calls.append(a)
        elif base == op.EV_CALL:
            ff.tail_calls.append(a)
        elif base == op.EV_CALL_INDIRECT:
            if (a, b) not in ff.indirect:
                ff.indirect.append((a, b))
        elif base == op.EV_CALL_REF:
            if a not in ff.call_refs:
                ff.call_refs.append(a)
        elif kind == op.EV_REF_FUNC:
            ff.ref_funcs.append(a)
        elif kind == op.EV_GLOBAL_GET:
            ff.globals_read.append(a)
        elif kind == op.EV_GLOBAL_SET:
            ff.globals_written.append(a)
        elif kind == op.EV_TABLE_WRITE:
            ff.table_writes.append(a)
        elif kind == op.EV_TABLE_INIT:
            ff.table_inits.append((a, b))
        elif kind == op.EV_TABLE_COPY:
            ff.table_copies.append((a, b))
    return ff


@dataclass
class GraphFacts:
    """The whole-module facts the graph needs, gathered in one pass over the event array (fast:
    no per-function objects; `FunctionFacts` are built on demand from the events of one function,
    found by bisecting `owners`)."""

    direct: list[list[int]] = field(default_factory=list)
    indirect: dict[int, list[tuple[int, int | None]]] = field(default_factory=dict)  # (type, table|None=call_ref)
    ref_funcs: set[int] = field(default_factory=set)
    table_writes: set[int] = field(default_factory=set)
    table_inits: set[tuple[int, int]] = field(default_factory=set)
    table_copies: set[tuple[int, int]] = field(default_factory=set)
    owners: array = field(default_factory=lambda: array("I"))  # function of each event, ascending


def gather(module: Module) -> GraphFacts:
    gf = GraphFacts([[] for _ in module.functions])
    ev = module.code.events if module.code else array("I")
    gf.owners = ev[0::4]
    call, ind, cref, rfunc = op.EV_CALL, op.EV_CALL_INDIRECT, op.EV_CALL_REF, op.EV_REF_FUNC
    tail = op.EV_TAIL
    direct, indirect = gf.direct, gf.indirect
    for f, kind, a, b in zip(gf.owners, ev[1::4], ev[2::4], ev[3::4]):
        kind &= ~tail
        if kind == call:
            direct[f].append(a)
        elif kind == ind or kind == cref:
            site = (a, b if kind == ind else None)
            lst = indirect.setdefault(f, [])
            if site not in lst:
                lst.append(site)
        elif kind == rfunc:
            gf.ref_funcs.add(a)
        elif kind == op.EV_TABLE_WRITE:
            gf.table_writes.add(a)
        elif kind == op.EV_TABLE_INIT:
            gf.table_inits.add((a, b))
        elif kind == op.EV_TABLE_COPY:
            gf.table_copies.add((a, b))
    return gf


# --- types --------------------------------------------------------------------------------------

def canonical_types(types: list[SubType], rec_groups: list[tuple[int, int]]) -> list[int]:
    """Map each type index to a canonical id; equal ids = the same type (iso-recursive equality)."""
    canon = [0] * len(types)
    ids: dict[tuple, int] = {}
    for start, count in rec_groups:
        def ref(idx: int) -> tuple:
            return ("rec", idx - start) if start <= idx < start + count else ("ext", canon[idx] if idx < len(canon) else -1)

        def vt(v: ValType) -> tuple:
            return (v.code, None if v.heap is None else (v.heap if v.heap < 0 else ref(v.heap)))

        group = tuple((t.form, t.final, tuple(ref(s) for s in t.supertypes), tuple(map(vt, t.params)),
                       tuple(map(vt, t.results)), tuple((vt(f), m) for f, m in t.fields),
                       None if t.cont_type is None else ref(t.cont_type))
                      for t in types[start:start + count])
        for j in range(count):
            canon[start + j] = ids.setdefault((group, j), len(ids))
    return canon


class TypeLattice:
    """Canonical type ids and the declared-subtype relation between them."""

    def __init__(self, module: Module) -> None:
        self.canon = canonical_types(module.types, module.rec_groups)
        self.parent: dict[int, int] = {}
        for i, t in enumerate(module.types):
            if t.supertypes and t.supertypes[0] < len(self.canon):
                self.parent[self.canon[i]] = self.canon[t.supertypes[0]]

    def is_subtype(self, sub: int, sup: int) -> bool:
        """Canonical `sub` <: `sup` (reflexive, along declared supertypes)."""
        seen = 0
        while True:
            if sub == sup:
                return True
            nxt = self.parent.get(sub)
            seen += 1
            if nxt is None or seen > len(self.canon):
                return False
            sub = nxt


# --- the graph ------------------------------------------------------------------------------------

class CallGraph:
    """Functions plus indirect-call site nodes, with forward edges; reverse edges built on demand.

    `host_table` decides what imported/exported tables may hold (see module docstring).
    """

    def __init__(self, module: Module, host_table: HostTable = "sound", trampolines: list[int] | None = None) -> None:
        self.module = module
        self.host_table = host_table
        self.gathered = gather(module)
        self.types = TypeLattice(module)
        self.n = len(module.functions)
        self.address_taken = self._address_taken()
        self.table_contents = self._table_contents()
        self.sites: list[Site] = []
        self._site_index: dict[Site, int] = {}
        self._site_targets: list[list[int]] = []
        self._pools: dict[int, dict[int, list[int]]] = {}
        empty: list[int] = []
        direct = self.gathered.direct
        self.direct: list[list[int]] = [sorted(set(d)) if d else empty for d in direct]
        self.indirect_sites: dict[int, list[int]] = {
            f: [self._site(Site(t, table)) for t, table in sites] for f, sites in self.gathered.indirect.items()}
        self.trampolines: dict[int, int] = {}   # trampoline import → its re-entry site node
        for imp in trampolines or []:
            node = self.n + len(self.sites)
            self.sites.append(Site(module.functions[imp].type_index, None, imp))
            self._site_targets.append(self.reentry_targets(imp))
            self.trampolines[imp] = node
        self._facts: dict[int, FunctionFacts] = {}

    # what may be in tables / referenced
    def _address_taken(self) -> set[int]:
        m = self.module
        taken: set[int] = set(self.gathered.ref_funcs)
        for g in m.globals:
            taken.update(g.init_funcs)
        for t in m.tables:
            taken.update(t.init_funcs)
        for seg in m.elements:
            taken.update(seg.functions)
        return taken

    def host_visible_tables(self) -> list[int]:
        exported = {e.index for e in self.module.exports if e.kind == "table"}
        return [t.index for t in self.module.tables if t.import_key is not None or t.index in exported]

    def _table_contents(self) -> list[set[int]]:
        m = self.module
        contents: list[set[int]] = [set(t.init_funcs) for t in m.tables]
        for seg in m.elements:
            if seg.mode == "active" and seg.table is not None:
                contents[seg.table].update(seg.functions)
        gf = self.gathered
        for elem, table in gf.table_inits:
            if elem < len(m.elements) and table < len(contents):
                contents[table].update(m.elements[elem].functions)
        copies = sorted(gf.table_copies)
        for t in gf.table_writes:
            if t < len(contents):
                contents[t].update(self.address_taken)
        if self.host_table == "sound":
            exported_funcs = {e.index for e in m.exports if e.kind == "func"}
            for t in self.host_visible_tables():
                contents[t].update(self.address_taken | exported_funcs)
        changed = True
        while changed:  # table.copy: dst may hold whatever src holds
            changed = False
            for dst, src in copies:
                if dst < len(contents) and src < len(contents) and not contents[src] <= contents[dst]:
                    contents[dst] |= contents[src]
                    changed = True
        return contents

    # site nodes
    def _site(self, site: Site) -> int:
        idx = self._site_index.get(site)
        if idx is None:
            idx = self.n + len(self.sites)
            self._site_index[site] = idx
            self.sites.append(site)
            self._site_targets.append(self._resolve(site))
        return idx

    def _resolve(self, site: Site) -> list[int]:
        canon = self.types.canon
        if site.type_index >= len(canon):
            return []
        if site.table is None:
            pool_key = -1
        elif site.table < len(self.table_contents):
            pool_key = site.table
        else:
            return []
        want = canon[site.type_index]
        by_type = self._pool_by_type(pool_key)
        out: list[int] = []
        for have, funcs in by_type.items():
            if self.types.is_subtype(have, want):
                out.extend(funcs)
        return sorted(out)

    def _pool_by_type(self, pool_key: int) -> dict[int, list[int]]:
        """Candidates of a table (or, key -1, of `call_ref`) grouped by canonical type, built once."""
        cached = self._pools.get(pool_key)
        if cached is None:
            m, canon = self.module, self.types.canon
            if pool_key >= 0:
                pool = self.table_contents[pool_key]
            else:
                pool = set(self.address_taken)
                if self.host_table == "sound":
                    pool |= {e.index for e in m.exports if e.kind == "func"}
            cached = {}
            for g in pool:
                cached.setdefault(canon[m.functions[g].type_index], []).append(g)
            self._pools[pool_key] = cached
        return cached

    # queries
    def is_site(self, node: int) -> bool:
        return node >= self.n

    def site(self, node: int) -> Site:
        return self.sites[node - self.n]

    def site_targets(self, node: int) -> list[int]:
        return self._site_targets[node - self.n]

    def successors(self, node: int, mode: IndirectMode = "typed") -> list[int]:
        """Edges out of a node under a mode; in `all`/`ignore` indirect-call site nodes are not
        entered. A trampoline import leads to its re-entry site in every mode (in `all` the caller
        treats it as async instead: see `api`)."""
        if node >= self.n:
            return self.site_targets(node)
        if node in self.trampolines:
            return [self.trampolines[node]]
        if mode == "typed" and node in self.indirect_sites:
            return self.direct[node] + self.indirect_sites[node]
        return self.direct[node]

    def reentry_targets(self, imp: int) -> list[int]:
        """Functions an import that calls back into wasm may reach: for `invoke_X`/`dynCall_X`
        (first parameter: the table index), table functions whose type is X's type without that
        parameter; for other re-entering imports, anything in a host-visible table or exported."""
        m = self.module
        sig = m.func_type(imp)
        visible: set[int] = set()
        for t in self.host_visible_tables():
            visible |= self.table_contents[t]
        if is_trampoline_name(m.functions[imp].import_name or "") and sig.params:
            return self._reentry_pool(bool(visible)).get((sig.params[1:], sig.results), [])
        return sorted(visible | {e.index for e in m.exports if e.kind == "func"})

    def _reentry_pool(self, visible: bool) -> dict[tuple, list[int]]:
        """Host-visible table functions (else table 0's) by signature, grouped once for all trampolines."""
        pool = getattr(self, "_reentry", None)
        if pool is None:
            m = self.module
            funcs: set[int] = set()
            for t in self.host_visible_tables() if visible else []:
                funcs |= self.table_contents[t]
            if not visible and self.table_contents:
                funcs = self.table_contents[0]
            pool = {}
            for f in sorted(funcs):
                sig = m.func_type(f)
                pool.setdefault((sig.params, sig.results), []).append(f)
            self._reentry = pool
        return pool

    def callees(self, f: int, mode: IndirectMode = "typed") -> list[int]:
        """Functions `f` may call, site nodes expanded. In `all` mode an indirect call may reach any
        function that may be in any table or is address-taken, whatever its type (Binaryen's view)."""
        out = set(self.direct[f])
        if f in self.trampolines:
            out.update(self.site_targets(self.trampolines[f]))
        if mode == "typed":
            for s in self.indirect_sites.get(f, ()):
                out.update(self.site_targets(s))
        elif mode == "all" and self.has_indirect(f):
            out.update(self.address_taken)
            for c in self.table_contents:
                out.update(c)
        return sorted(out)

    def reverse(self, mode: IndirectMode = "typed") -> list[list[int]]:
        """Callers of every node (functions and sites) under a mode."""
        total = self.n + len(self.sites)
        rev: list[list[int]] = [[] for _ in range(total)]
        for f in range(self.n):
            for g in self.successors(f, mode):
                rev[g].append(f)
        for s in range(self.n, total):
            if mode == "typed" or self.sites[s - self.n].trampoline is not None:
                for g in self.site_targets(s):
                    rev[g].append(s)
        return rev

    def has_indirect(self, f: int) -> bool:
        return f in self.indirect_sites

    def facts(self, f: int) -> FunctionFacts:
        """Everything the decoder recorded for one function (built on first use, then cached)."""
        ff = self._facts.get(f)
        if ff is None:
            owners = self.gathered.owners
            start, stop = bisect_left(owners, f), bisect_right(owners, f)
            ff = self._facts[f] = facts_from_events(self.module, f, 4 * start, 4 * stop)
        return ff
