"""Module → CallGraph: who can call whom, including through tables and typed function references.

Nodes are functions in the wasm function index space (imports first). Indirect calls go through
one *site node* per (canonical type, table) for `call_indirect` and per canonical type for
`call_ref`, so a binary with thousands of same-typed call sites and table entries costs
sites + entries edges, not their product.

Which functions may be in a table (the `--host-table` choice):
- always: active element segments targeting it, its initializer expression, passive segments
  that some `table.init` copies into it, other tables `table.copy`-ed into it, and — if any code
  writes it with `table.set`/`table.grow`/`table.fill` — every address-taken function. Segment items
  and initializers are constant expressions: `ref.func f` is f, `ref.null` nothing, `global.get g`
  the value of g (its own initializer, followed through chains of globals, or — g imported — any
  function the host can reach: exported or address-taken);
- `sound` (default): if the table is imported or exported, the host can also put there anything
  it can get hold of: every exported function and every address-taken function;
- `module`: trust that the host adds nothing (true for Emscripten builds that never call
  `addFunction`/`Table.set` from JS on functions of this module).
Address-taken = named by `ref.func` anywhere (code, global and table initializers, element
segments) or held by any element segment, global or table initializer; when the module imports a
global that may hold a function reference, the exported functions too (the host may pass one in).

Type matching follows the spec: MVP function types are equal when structurally equal; with GC rec
groups, types are compared iso-recursively (a type is its whole rec group plus its position), and a
call of type T may reach functions whose type is T or a declared subtype of T. `shared` types
(shared-everything threads), `describes`/`descriptor` clauses and exact references (custom
descriptors) are part of a type's identity, as in wasmparser's type canonicalisation.

Entry points (`entry_points`) are where the host can call in: exports, the start function, what the
module places in an imported or exported table, what an exported global holds. The graph has no
edges out of imports, so reachability starts there.

Edges are kept as compressed rows (`csr`, `Rows`): C-level arrays for the bulk walks (the closure,
graph output), per-node lists made on first use for node-at-a-time code.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import chain, groupby, repeat
from operator import getitem, itemgetter
from typing import TYPE_CHECKING, Literal

from .. import accel
from ..decode import Module, SubType, ValType
from ..decode import opcodes as op

if TYPE_CHECKING:
    from .values import HostMemory

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
    index: str | None = None    # the index values proven (`values.refine_indirect`): targets are only
    proof: str | None = None    # what those slots may hold; `proof` says why the index is that

    def describe(self, module: Module) -> str:
        if self.trampoline is not None:
            rest = ", ".join(map(str, module.func_type(self.trampoline).params[1:]))
            return f"re-entered through {module.functions[self.trampoline].import_key}: a table function ({rest})"
        sig = module.types[self.type_index].signature() if self.type_index < len(module.types) else "?"
        if self.table is None:
            return f"call_ref via type {sig}"
        if self.index is not None:
            return f"indirect via type {sig}, table {self.table}; index proven in {self.index}: {self.proof}"
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
    """The whole-module facts the graph needs, gathered from the event array without per-function
    objects: the direct calls as two parallel arrays (from `split`), the rest in one short pass.
    `FunctionFacts` are built on demand from the events of one function, found by bisecting `owners`."""

    call_src: array = field(default_factory=lambda: array("I"))   # caller of each direct call event
    call_dst: array = field(default_factory=lambda: array("I"))   # its callee
    indirect: dict[int, list[tuple[int, int | None]]] = field(default_factory=dict)  # (type, table|None=call_ref)
    ref_funcs: set[int] = field(default_factory=set)
    table_writes: set[int] = field(default_factory=set)
    table_inits: set[tuple[int, int]] = field(default_factory=set)
    table_copies: set[tuple[int, int]] = field(default_factory=set)
    owners: array = field(default_factory=lambda: array("I"))  # function of each event, ascending


def split_py(events: array) -> tuple[array, array, array]:
    """(callers, callees) of the direct-call events (call, return_call), and the quads of the other
    events that shape the graph (all but global reads and writes). An accelerator twin (`split`)."""
    src, dst, rest = array("I"), array("I"), array("I")
    call, tail, globs = op.EV_CALL, op.EV_TAIL, (op.EV_GLOBAL_GET, op.EV_GLOBAL_SET)
    for i in range(0, len(events), 4):
        kind = events[i + 1] & ~tail
        if kind == call:
            src.append(events[i])
            dst.append(events[i + 2])
        elif kind not in globs:
            rest.extend(events[i:i + 4])
    return src, dst, rest


def events_of_py(events: array, kind: int, a: int = -1, b: int = -1) -> array:
    """The (function, event, a, b) quads of exactly `kind` whose a and b are the given ones (-1: any),
    in order: how `recognize` finds the few functions that touch Asyncify's state global."""
    out = array("I")
    for i in range(0, len(events), 4):
        q = events[i:i + 4]
        if q[1] == kind and a in (-1, q[2]) and b in (-1, q[3]):
            out.extend(q)
    return out


def csr_py(src: array, dst: array, n: int) -> tuple[array, array]:
    """The edges src[i] → dst[i] as compressed rows: row v is `targets[offsets[v]:offsets[v + 1]]`,
    ascending, without duplicates. An accelerator twin (`csr`)."""
    rows: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(src, dst):
        if a >= n:
            raise ValueError("csr: source out of range")
        rows[a].append(b)
    off, tgt = array("I", [0]), array("I")
    for row in rows:
        tgt.extend(sorted(set(row)))
        off.append(len(tgt))
    return off, tgt


def _split_native(events: array) -> tuple[array, array, array]:
    src, dst, rest = accel.native.split(events)
    return accel.u32s(src), accel.u32s(dst), accel.u32s(rest)


def _csr_native(src: array, dst: array, n: int) -> tuple[array, array]:
    off, tgt = accel.native.csr(src, dst, n)
    return accel.u32s(off), accel.u32s(tgt)


split = accel.twin("split", split_py, _split_native)
events_of = accel.twin("events_of", events_of_py,
                       lambda events, kind, a=-1, b=-1: accel.u32s(accel.native.events_of(events, kind, a, b)))
csr = accel.twin("csr", csr_py, _csr_native)


class Rows:
    """Rows of a compressed adjacency (`csr`): `off` and `tgt` for code that walks them in bulk (the
    closure, graph output); `rows[v]` is row v as a new list, for code that walks them one node at a
    time (made on each access: keeping every row as a list cost PHP 3.5 MB, more than it saved)."""

    __slots__ = ("off", "tgt")

    def __init__(self, off: array, tgt: array) -> None:
        self.off, self.tgt = off, tgt

    def __len__(self) -> int:
        return len(self.off) - 1

    def __getitem__(self, v: int) -> list[int]:
        off = self.off
        return self.tgt[off[v]:off[v + 1]].tolist()

    def __iter__(self):
        flat, off = self.tgt.tolist(), self.off
        return map(getitem, repeat(flat), map(slice, off[:-1], off[1:]))


def gather(module: Module) -> GraphFacts:
    ev = module.code.events if module.code else array("I")
    src, dst, rest = split(ev)
    gf = GraphFacts(src, dst)
    gf.owners = ev[0::4]
    ind, cref, rfunc, tail = op.EV_CALL_INDIRECT, op.EV_CALL_REF, op.EV_REF_FUNC, op.EV_TAIL
    indirect = gf.indirect
    for f, kind, a, b in zip(rest[0::4], rest[1::4], rest[2::4], rest[3::4]):
        kind &= ~tail
        if kind == ind or kind == cref:
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
        def ref(idx: int, start: int = start, count: int = count) -> tuple:
            return ("rec", idx - start) if start <= idx < start + count else ("ext", canon[idx] if idx < len(canon) else -1)

        def vt(v: ValType) -> tuple:
            return (v.code, None if v.heap is None else (v.heap if v.heap < 0 else ref(v.heap)), v.shared, v.exact)

        def opt(idx: int | None) -> tuple | None:
            return None if idx is None else ref(idx)

        group = tuple((t.form, t.final, t.shared, tuple(ref(s) for s in t.supertypes), tuple(map(vt, t.params)),
                       tuple(map(vt, t.results)), tuple((vt(f), m) for f, m in t.fields),
                       opt(t.cont_type), opt(t.describes), opt(t.descriptor))
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

    def __init__(self, module: Module, host_table: HostTable = "sound", trampolines: list[int] | None = None,
                 host_memory: HostMemory = "sound", index_values: bool = True) -> None:
        """`index_values=False` keeps every `call_indirect` typed (no `values.refine_indirect`): what
        the graph was before the value analysis, for comparisons."""
        from ..decode.module import no_gc
        with no_gc():
            self._build(module, host_table, trampolines or [], host_memory, index_values)

    def _build(self, module: Module, host_table: HostTable, trampolines: list[int], host_memory: HostMemory,
               index_values: bool = True) -> None:
        from .values import Values
        self.module = module
        self.host_table = host_table
        self.host_memory = host_memory
        self.gathered = gather(module)
        self.types = TypeLattice(module)
        self.n = len(module.functions)
        self.address_taken = self._address_taken()
        self.table_contents = self._table_contents()
        self.sites: list[Site] = []
        self._site_index: dict[tuple[int, int | None], int] = {}
        self._site_targets: list[list[int]] = []
        self._pools: dict[int, dict[int, list[int]]] = {}
        self._fcanon: list[int] | None = None
        gf = self.gathered
        self.direct = Rows(*csr(gf.call_src, gf.call_dst, self.n))   # callees of each function, ascending
        self._facts: dict[int, FunctionFacts] = {}
        self.values = Values(self, host_memory)   # abstract values of operands, computed on demand
        self._index_sites(trampolines, index_values)

    def _index_sites(self, trampolines: list[int], index_values: bool) -> None:
        """The site nodes: each function's `call_indirect`/`call_ref` sites (narrowed by their index
        values where `values.refine_indirect` proves them), then the trampolines' re-entries."""
        from .values import refine_indirect
        gf, module = self.gathered, self.module
        self.sites = []
        self._site_index = {}
        self._site_targets = []
        self.__dict__.pop("_refined_index", None)
        self._reverse: dict[str, Rows] = {}
        self.table_notes: dict[int, str | None] = {}               # why a table's slots are not known
        self.index_notes: dict[tuple[int, int, int], str] = {}    # why a function's call_indirect index is not
        refined = refine_indirect(self, self.values) if gf.indirect and index_values else {}
        keys = chain.from_iterable(gf.indirect.values()) if not refined else \
            (k for f, sites in gf.indirect.items() for k in sites if (f, *k) not in refined)
        node = {key: self._site(*key) for key in dict.fromkeys(keys)}
        self.indirect_sites: dict[int, list[int]] = {f: list(map(node.__getitem__, sites)) for f, sites in gf.indirect.items()} \
            if not refined else {f: [self._refined_site(f, k, refined) if (f, *k) in refined else node[k] for k in sites]
                                 for f, sites in gf.indirect.items()}
        self.trampolines: dict[int, int] = {}   # trampoline import → its re-entry site node
        for imp in trampolines:
            self.trampolines[imp] = self.n + len(self.sites)
            self.sites.append(Site(module.functions[imp].type_index, None, imp))
            self._site_targets.append(self.reentry_targets(imp))

    def read_as_asyncified(self, state_global: int, instrumented: set[int], hosted_buffer: bool = False) -> None:
        """An asyncified binary (`analysis.recognize`): read its instrumented functions as they run in
        Asyncify's normal state (`values.Values`, `asyncified`) and find the index values of every
        call_indirect again with that. Without it their indices, restored from Asyncify's buffer
        while rewinding, are never known, so what audit recomputes is wider than what analyze said.
        `hosted_buffer`: Asyncify's buffer is the host's (see `Values`)."""
        from .values import Values
        self.values = Values(self, self.host_memory, asyncified=(state_global, frozenset(instrumented)),
                             hosted_buffer=hosted_buffer)
        self._index_sites(list(self.trampolines), True)

    # what may be in tables / referenced
    def _address_taken(self) -> set[int]:
        """Functions whose reference the module can hold as a value, with the values of every
        funcref-producing constant expression (`_constant_values`)."""
        m = self.module
        taken: set[int] = set(self.gathered.ref_funcs)
        for g in m.globals:
            taken.update(g.init_funcs)
        for t in m.tables:
            taken.update(t.init_funcs)
        for seg in m.elements:
            taken.update(seg.functions)
        self.exported_functions = {e.index for e in m.exports if e.kind == "func"}
        self._constant_values(taken)
        for values in (*self.global_values, *self.segment_functions, *self.table_init_functions):
            taken |= values
        # an imported global that may hold a function reference: the host hands the module one of the
        # functions it can reach, which the module then holds as a value like any other
        self.host_gives_functions = any(g.import_key is not None and self.may_hold_function(g.valtype)
                                        for g in m.globals)
        if self.host_gives_functions:
            taken |= self.exported_functions
        return taken

    def _constant_values(self, taken: set[int]) -> None:
        """What each global, element segment and table initializer holds: the functions its constant
        expression can yield. `ref.func f` yields f, `ref.null` nothing, `global.get g` the value of
        g — a defined global's initializer, followed through chains of globals; an imported one's is
        the host's choice, so any function the host can reach (exported or address-taken)."""
        m = self.module
        host = taken | self.exported_functions
        self.host_reachable = host
        values: list[set[int]] = []
        for g in m.globals:
            if not self.may_hold_function(g.valtype):
                values.append(set())
            elif g.import_key is not None or g.mutable:   # the host's value (or code's: any reference)
                values.append(host)
            else:  # valid modules name earlier globals only; anything else reads as nothing
                v = set(g.init_funcs)
                for h in g.init_globals:
                    if h < len(values):
                        v |= values[h]
                values.append(v)
        self.global_values = values

        def with_globals(funcs: list[int], globs: list[int]) -> set[int]:
            out = set(funcs)
            for h in globs:
                if h < len(values):
                    out |= values[h]
            return out

        self.segment_functions = [with_globals(seg.functions, seg.global_refs) for seg in m.elements]
        self.table_init_functions = [with_globals(t.init_funcs, t.init_globals) for t in m.tables]

    def may_hold_function(self, vt: ValType) -> bool:
        """Whether a value of this type can be a (non-null) function reference: funcref, or a
        reference to `func` or to a function type (exact or not, shared or not)."""
        if vt.code == 0x70:
            return True
        if vt.code not in (0x63, 0x64) or vt.heap is None:
            return False
        if vt.heap < 0:
            return vt.heap == 0x70 - 0x80
        types = self.module.types
        return vt.heap < len(types) and types[vt.heap].form == "func"

    def host_visible_tables(self) -> list[int]:
        exported = {e.index for e in self.module.exports if e.kind == "table"}
        return [t.index for t in self.module.tables if t.import_key is not None or t.index in exported]

    def _table_contents(self, host: bool = True) -> list[set[int]]:
        """What each table may hold; with `host=False` only what the module itself puts there."""
        m = self.module
        contents: list[set[int]] = [set(v) for v in self.table_init_functions]
        for seg, funcs in zip(m.elements, self.segment_functions):
            if seg.mode == "active" and seg.table is not None:
                contents[seg.table].update(funcs)
        gf = self.gathered
        for elem, table in gf.table_inits:
            if elem < len(m.elements) and table < len(contents):
                contents[table].update(self.segment_functions[elem])
        copies = sorted(gf.table_copies)
        for t in gf.table_writes:
            if t < len(contents):
                contents[t].update(self.address_taken)
        if host and self.host_table == "sound":
            for t in self.host_visible_tables():
                contents[t].update(self.address_taken | self.exported_functions)
        changed = True
        while changed:  # table.copy: dst may hold whatever src holds
            changed = False
            for dst, src in copies:
                if dst < len(contents) and src < len(contents) and not contents[src] <= contents[dst]:
                    contents[dst] |= contents[src]
                    changed = True
        return contents

    def table_reason(self, table: int, f: int) -> str | None:
        """Why `f` may be in `table`, in words (for `why`); None if it may not be."""
        m = self.module
        if table >= len(self.table_contents) or f not in self.table_contents[table]:
            return None
        return f"table {table} may hold {m.functions[f].name}: {self._table_detail(table, f)}"

    def _table_detail(self, table: int, f: int) -> str:
        t = self.module.tables[table]
        if f in t.init_funcs:
            return "it is the table's initial value (ref.func)"
        for h in t.init_globals:
            if h < len(self.global_values) and f in self.global_values[h]:
                return f"the table's initial value is global.get {h}, and " + self._global_reason(h, f)
        for seg, funcs in zip(self.module.elements, self.segment_functions):
            if f not in funcs:
                continue
            if seg.mode == "active" and seg.table == table:
                how = f"element segment {seg.index} puts"
            elif (seg.index, table) in self.gathered.table_inits:
                how = f"table.init copies in element segment {seg.index}, which holds"
            else:
                continue
            if f in seg.functions:
                return f"{how} it there" if seg.mode == "active" else f"{how} it"
            h = next(h for h in seg.global_refs if h < len(self.global_values) and f in self.global_values[h])
            return f"{how} global.get {h}" + (" there" if seg.mode == "active" else "") + ", and " + self._global_reason(h, f)
        if table in self.gathered.table_writes:
            return "code writes the table (table.set/grow/fill) and the function is address-taken"
        if self.host_table == "sound" and table in self.host_visible_tables():
            return "the table is imported or exported, so the host may put it there (--host-table sound)"
        return "table.copy fills the table from one that may hold it"

    def _global_reason(self, g: int, f: int, depth: int = 0) -> str:
        m = self.module
        glob = m.globals[g]
        label = f"global {g}" + (f" (${glob.name})" if glob.name else "")
        if glob.import_key is not None:
            return (f"{label} is imported ({glob.import_key}): the host chooses its value, which may be any "
                    "function the host can reach (exported or address-taken)")
        if glob.mutable:
            return f"{label} is mutable: code may store any function reference in it"
        if f in glob.init_funcs:
            return f"{label} = ref.func {m.functions[f].name}"
        h = next((h for h in glob.init_globals if h < g and f in self.global_values[h]), None)
        if h is None or depth > 50:
            return f"{label} may hold {m.functions[f].name}"
        return f"{label} = global.get {h}, " + self._global_reason(h, f, depth + 1)

    # roots
    def entry_points(self) -> dict[int, list[str]]:
        """The functions the host can call directly, each with why: exported (`export NAME`), the
        start function, functions the module places in an imported or exported table (the host can
        `table.get` and call them), and functions held by an exported global. The host can also call
        what it puts into such tables itself, but that is something it already reaches (an export).
        The call graph has no edges out of imports, so these are where reachability starts."""
        m = self.module
        roots: dict[int, list[str]] = {}
        for e in m.exports:
            if e.kind == "func":
                roots.setdefault(e.index, []).append(f"export {e.name}")
        if m.start is not None:
            roots.setdefault(m.start, []).append("start")
        placed = self._table_contents(host=False)
        for t in self.host_visible_tables():
            why = f"in {'imported' if m.tables[t].import_key is not None else 'exported'} table {t}"  # one string, shared
            for f in sorted(placed[t]):
                roots.setdefault(f, []).append(why)
        for e in m.exports:
            if e.kind == "global" and e.index < len(self.global_values) and m.globals[e.index].import_key is None:
                for f in sorted(self.global_values[e.index]):
                    roots.setdefault(f, []).append(f"held by exported global {e.name}")
        return dict(sorted(roots.items()))

    # site nodes
    def _site(self, type_index: int, table: int | None) -> int:
        key = (type_index, table)
        idx = self._site_index.get(key)
        if idx is None:
            site = Site(type_index, table)
            idx = self._site_index[key] = self.n + len(self.sites)
            self.sites.append(site)
            self._site_targets.append(self._resolve(site))
        return idx

    def _refined_site(self, f: int, key: tuple[int, int | None], refined: dict) -> int:
        """The node of a function's `call_indirect` sites whose index is proven (one per distinct
        target set and proof, shared by the functions that have the same)."""
        targets, index, proof = refined[(f,) + tuple(key)]
        site = Site(key[0], key[1], index=index, proof=proof)
        known = self.__dict__.setdefault("_refined_index", {})
        idx = known.get(site)
        if idx is None:
            idx = known[site] = self.n + len(self.sites)
            self.sites.append(site)
            self._site_targets.append(targets)
        return idx

    # what `values` asks of the graph (so it needs no import of this module at run time)

    def typed_targets(self, type_index: int, table: int) -> list[int]:
        """Every function a `call_indirect` of that type on that table may reach, index unknown."""
        return self._resolve(Site(type_index, table))

    def direct_callers(self) -> Rows:
        """Every function's direct callers, as rows (built in C when the accelerator is there)."""
        gf = self.gathered
        return Rows(*csr(gf.call_dst, gf.call_src, self.n))

    def global_writers(self, g: int) -> list[int]:
        """The functions with a `global.set` of global g, ascending."""
        m = self.module
        writers = events_of(m.code.events, op.EV_GLOBAL_SET, g) if m.code else []
        return sorted(set(writers[0::4]))

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
                    pool |= self.exported_functions
            if self._fcanon is None:   # each function's canonical type, once (loops in C)
                self._fcanon = list(map(canon.__getitem__, map(itemgetter(1), m.functions)))
            by_type = self._fcanon.__getitem__
            members = sorted(pool)
            members.sort(key=by_type)   # stable: by type, then by index
            cached = {t: list(fs) for t, fs in groupby(members, key=by_type)}
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

    def successor_rows(self, mode: IndirectMode = "typed") -> Rows:
        """`successors` of every node (functions, then sites) as compressed rows, in the same order,
        for searches in C: the direct rows copied in runs, without a list per row."""
        d_off, d_tgt = self.direct.off, self.direct.tgt
        extra = dict(self.indirect_sites) if mode == "typed" else {}
        extra.update((imp, [site]) for imp, site in self.trampolines.items())   # imports call nothing
        off, tgt = array("I", [0]), array("I")

        def copy(lo: int, hi: int) -> None:   # rows lo..hi-1 as they are
            shift = len(tgt) - d_off[lo]
            tgt.extend(d_tgt[d_off[lo]:d_off[hi]])
            off.extend(map(shift.__add__, d_off[lo + 1:hi + 1]))

        done = 0
        for f in sorted(extra):
            copy(done, f + 1)
            tgt.extend(extra[f])
            off[-1] = len(tgt)
            done = f + 1
        copy(done, self.n)
        for s in range(self.n, self.n + len(self.sites)):
            tgt.extend(self.site_targets(s))
            off.append(len(tgt))
        return Rows(off, tgt)

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
        direct = self.direct[f]
        sites = self.indirect_sites.get(f) if mode != "ignore" else None
        if f in self.trampolines:   # an import that re-enters the table
            return list(self.site_targets(self.trampolines[f]))
        if not sites:
            return list(direct)   # a copy: callers may keep or change it
        out = set(direct)
        if mode == "typed":
            for s in sites:
                out.update(self.site_targets(s))
        else:
            out.update(self.address_taken)
            for c in self.table_contents:
                out.update(c)
        return sorted(out)

    def reverse(self, mode: IndirectMode = "typed") -> Rows:
        """Callers of every node (functions, then sites) under a mode, each row ascending: a caller
        function before any site. Built once per mode. Trampoline re-entries count in every mode."""
        rows = self._reverse.get(mode)
        if rows is None:
            gf = self.gathered
            callee, caller = gf.call_dst, gf.call_src
            if mode == "typed" and self.sites:
                users, sites = self.indirect_sites.keys(), self.indirect_sites.values()
                callee = callee + array("I", chain.from_iterable(sites)) + array("I", chain.from_iterable(self._site_targets))
                caller = caller + array("I", chain.from_iterable(map(repeat, users, map(len, sites)))) + array(
                    "I", chain.from_iterable(map(repeat, range(self.n, self.n + len(self.sites)), map(len, self._site_targets))))
            elif self.trampolines:   # trampolines re-enter the table in every mode
                nodes = list(self.trampolines.values())
                targets = [self.site_targets(v) for v in nodes]
                callee = callee + array("I", chain.from_iterable(targets))
                caller = caller + array("I", chain.from_iterable(map(repeat, nodes, map(len, targets))))
            if self.trampolines:     # import → its re-entry site
                callee = callee + array("I", self.trampolines.values())
                caller = caller + array("I", self.trampolines.keys())
            rows = self._reverse[mode] = Rows(*csr(callee, caller, self.n + len(self.sites)))
        return rows

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
