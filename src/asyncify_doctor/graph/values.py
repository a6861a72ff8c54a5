"""Abstract values of integer operands: which table slots a `call_indirect` may use, which arguments a
call passes. Decidable precision, never a guess: anything not proven stays unknown.

The decoder keeps events only (`decode.code`); this module decodes the bodies it is asked about, on
demand, and interprets them abstractly once each (`Values.summary`). Every operand becomes a *node*
of a small expression graph, evaluated only when someone needs its value (`Values.value`):

- a constant (a Python int, unsigned in its width), `None` (unknown);
- `(PARAM, f, k)`: the value parameter k of f had on entry — known only when f cannot be called from
  outside the module (not exported, not the start function, never address-taken: no `ref.func`, no
  table, no global holds it), and then it is the join of what every direct call passes;
- `(RESULT, g)`: what a call of g returns — the join of g's return values;
- `(LOAD, addr, offset, bytes, signed)`: a load from memory 0 — known only at constant addresses of
  memory the host cannot write (not imported; not exported, unless `host_memory="module"`), inside
  ranges no store of the whole module can reach (every store, `memory.fill/copy/init` and atomic
  write has an address proven outside), read from the active data segments (zero elsewhere);
  within one function, a load from a constant address right after a store to it (no call, no
  other write between, memory not shared) gives the stored value;
- `(BIN, opcode, a, b)`, `(UN, opcode, a)`: i32/i64 arithmetic, comparisons, masks, shifts;
- `(JOIN, nodes)`: where control flow merges (`if`, `block` ends, `select`); at a loop head every
  local the loop writes is unknown (one pass, no fixpoint needed);
- `(GLOBAL, g)`: an immutable global's constant initializer, or a mutable one's initializer joined
  with every value code stores in it (not imported or exported).

Values are small sets of integers (at most `MAX_SET`), unsigned ranges `(lo, hi)`, or `None`.

Functions that use instructions this interpreter does not model (SIMD, GC, exception handling, stack
switching) are not interpreted: their sites and calls stay unknown, which is always sound.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress
from operator import is_not
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..decode.code import read_valtype, scan_const_expr
from ..decode.reader import Reader
from ..errors import DecodeError, InputError

if TYPE_CHECKING:
    from ..decode import Module

HostMemory = Literal["sound", "module"]   # what the host may write in an imported or exported memory


class Graph(Protocol):
    """What the value analysis asks of the call graph (`callgraph.CallGraph` is one). The graph hands
    itself in, so this module needs nothing from `callgraph` (which builds on it)."""

    module: Module
    host_table: Literal["sound", "module"]
    gathered: Any                      # callgraph.GraphFacts: indirect sites, table writes/inits/copies
    address_taken: set[int]
    global_values: list[set[int]]      # functions each global may hold
    segment_functions: list[set[int]]  # functions each element segment holds
    table_init_functions: list[set[int]]   # functions each table's initializer holds
    table_notes: dict[int, str | None]
    index_notes: dict[tuple[int, int, int], str]

    def host_visible_tables(self) -> list[int]: ...
    def typed_targets(self, type_index: int, table: int) -> list[int]: ...
    def direct_callers(self) -> Any: ...   # callgraph.Rows: rows[f] is f's direct callers
    def global_writers(self, g: int) -> list[int]: ...

M32, M64 = (1 << 32) - 1, (1 << 64) - 1
MAX_SET = 64          # a value with more members becomes a range
MAX_PAIRS = 4096      # a binary operation on two sets computes at most this many pairs
MAX_JOIN = 32         # a join of more distinct nodes is unknown
MAX_BODY = 2_000_000  # bytes: a bigger body is not interpreted
MAX_DEPTH = 200       # nodes evaluated inside one another: deeper is unknown (Python's stack is finite)

Node = int | tuple | None
AbsVal = frozenset | tuple | None   # a set of ints, a range (lo, hi), or unknown

PARAM, RESULT, LOAD, BIN, UN, JOIN, GLOBAL = range(7)
EMPTY: frozenset = frozenset()


# --- the value domain ---------------------------------------------------------------------------

def _bounds(v: AbsVal) -> tuple[int, int]:
    """(lo, hi) of a non-empty set or range."""
    if isinstance(v, frozenset):
        return min(v), max(v)
    return v  # type: ignore[return-value]


def join_values(a: AbsVal, b: AbsVal) -> AbsVal:
    if a is None or b is None:
        return None
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        u = a | b
        if len(u) <= MAX_SET:
            return u
    if not a:
        return b
    if not b:
        return a
    (la, ha), (lb, hb) = _bounds(a), _bounds(b)
    return (min(la, lb), max(ha, hb))


def members(v: AbsVal, limit: int = MAX_SET) -> list[int] | None:
    """The values of `v` when there are at most `limit`, else None."""
    if v is None:
        return None
    if isinstance(v, frozenset):
        return sorted(v) if len(v) <= limit else None
    lo, hi = v
    return list(range(lo, hi + 1)) if hi - lo < limit else None


def show(v: AbsVal) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, frozenset):
        return "{" + ", ".join(map(_num, sorted(v))) + "}"
    return f"[{_num(v[0])}, {_num(v[1])}]"


def _num(x: int) -> str:
    return str(x) if x < 4096 else hex(x)


def _signed(x: int, bits: int) -> int:
    return x - (1 << bits) if x >> (bits - 1) else x


_I32_BIN = range(0x6A, 0x79)
_I64_BIN = range(0x7C, 0x8B)
_I32_CMP = range(0x46, 0x50)
_I64_CMP = range(0x51, 0x5B)


def _bits_of(opcode: int) -> int:
    return 64 if opcode in _I64_BIN or opcode in _I64_CMP else 32


def fold_bin(opcode: int, a: int, b: int) -> int | None:
    """The concrete result of an i32/i64 binary operation or comparison (None: it traps)."""
    if opcode in _I32_CMP or opcode in _I64_CMP:
        bits = 32 if opcode in _I32_CMP else 64
        k = opcode - (0x46 if bits == 32 else 0x51)
        sa, sb = _signed(a, bits), _signed(b, bits)
        return int((a == b, a != b, sa < sb, a < b, sa > sb, a > b, sa <= sb, a <= b, sa >= sb, a >= b)[k])
    bits = _bits_of(opcode)
    mask = M64 if bits == 64 else M32
    k = opcode - (0x7C if bits == 64 else 0x6A)
    if k == 0:
        return (a + b) & mask
    if k == 1:
        return (a - b) & mask
    if k == 2:
        return (a * b) & mask
    if k in (3, 4, 5, 6):       # div_s div_u rem_s rem_u
        if b == 0:
            return None
        if k == 4:
            return a // b
        if k == 6:
            return a % b
        sa, sb = _signed(a, bits), _signed(b, bits)
        if k == 3:
            if sa == -(1 << (bits - 1)) and sb == -1:
                return None
            q = abs(sa) // abs(sb)
            return (q if (sa < 0) == (sb < 0) else -q) & mask
        r = abs(sa) % abs(sb)
        return (-r if sa < 0 else r) & mask
    if k == 7:
        return a & b
    if k == 8:
        return a | b
    if k == 9:
        return a ^ b
    s = b % bits
    if k == 10:
        return (a << s) & mask
    if k == 11:
        return (_signed(a, bits) >> s) & mask
    if k == 12:
        return a >> s
    if k == 13:
        return ((a << s) | (a >> (bits - s))) & mask
    return ((a >> s) | (a << (bits - s))) & mask


def fold_un(opcode: int, a: int) -> int:
    if opcode == 0x45 or opcode == 0x50:
        return int(a == 0)
    if opcode == 0xA7:                       # i32.wrap_i64
        return a & M32
    if opcode == 0xAC:                       # i64.extend_i32_s
        return _signed(a, 32) & M64
    if opcode == 0xAD:                       # i64.extend_i32_u
        return a
    if opcode in (0xC0, 0xC1):               # i32.extend8_s / 16_s
        return _signed(a & ((1 << (8 << (opcode - 0xC0))) - 1), 8 << (opcode - 0xC0)) & M32
    if opcode in (0xC2, 0xC3, 0xC4):         # i64.extend8_s / 16_s / 32_s
        n = 8 << (opcode - 0xC2)
        return _signed(a & ((1 << n) - 1), n) & M64
    bits = 64 if opcode in (0x79, 0x7A, 0x7B) else 32
    k = opcode - (0x79 if bits == 64 else 0x67)
    if k == 0:                               # clz
        return bits - a.bit_length()
    if k == 1:                               # ctz
        return bits if a == 0 else (a & -a).bit_length() - 1
    return a.bit_count()                     # popcnt


UNARY_OPS = frozenset((0x45, 0x50, 0x67, 0x68, 0x69, 0x79, 0x7A, 0x7B, 0xA7, 0xAC, 0xAD, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4))
BINARY_OPS = frozenset((*_I32_BIN, *_I64_BIN, *_I32_CMP, *_I64_CMP))


def bin_values(opcode: int, a: AbsVal, b: AbsVal) -> AbsVal:
    """The abstract result of a binary operation: exact on small sets, bounds on ranges, else unknown."""
    if a is not None and b is not None and isinstance(a, frozenset) and isinstance(b, frozenset) \
            and len(a) * len(b) <= MAX_PAIRS:
        out = {r for x in a for y in b if (r := fold_bin(opcode, x, y)) is not None}
        if len(out) <= MAX_SET:
            return frozenset(out)
        return (min(out), max(out))
    if opcode in _I32_CMP or opcode in _I64_CMP:
        return _compare(opcode, a, b)
    bits = _bits_of(opcode)
    mask = M64 if bits == 64 else M32
    k = opcode - (0x7C if bits == 64 else 0x6A)
    if k == 7 and (a is not None or b is not None):     # and: never above either operand
        his = [_bounds(v)[1] for v in (a, b) if v is not None and v]
        return (0, min(his)) if his else EMPTY
    if a is None or b is None:
        return None
    if not a or not b:
        return EMPTY
    (la, ha), (lb, hb) = _bounds(a), _bounds(b)
    if k == 0:
        return (la + lb, ha + hb) if ha + hb <= mask else None
    if k == 1:
        return (la - hb, ha - lb) if la - hb >= 0 else None
    if k == 2:
        return (la * lb, ha * hb) if ha * hb <= mask else None
    if k == 4:
        return (la // hb, ha // lb) if lb > 0 else (0, ha)
    if k == 6:
        return (0, min(ha, hb - 1)) if lb > 0 else (0, ha)
    if k in (8, 9):                                     # or, xor
        top = (1 << max(ha, hb).bit_length()) - 1
        return (max(la, lb) if k == 8 else 0, top)
    if k == 10 and lb == hb and ha << (lb % bits) <= mask:
        return (la << (lb % bits), ha << (lb % bits))
    if k == 12:
        return (la >> (hb % bits), ha >> (lb % bits)) if hb < bits else (0, ha)
    if k == 11 and ha >> (bits - 1) == 0:
        return (la >> (hb % bits), ha >> (lb % bits)) if hb < bits else (0, ha)
    return None


def _compare(opcode: int, a: AbsVal, b: AbsVal) -> AbsVal:
    both = frozenset((0, 1))
    if a is None or b is None:
        return both
    if not a or not b:
        return EMPTY
    (la, ha), (lb, hb) = _bounds(a), _bounds(b)
    k = opcode - (0x46 if opcode in _I32_CMP else 0x51)
    if k == 0 and (ha < lb or hb < la):
        return frozenset((0,))
    if k == 1 and (ha < lb or hb < la):
        return frozenset((1,))
    if k == 3:                                           # lt_u
        return frozenset((1,)) if ha < lb else frozenset((0,)) if la >= hb else both
    if k == 5:                                           # gt_u
        return frozenset((1,)) if la > hb else frozenset((0,)) if ha <= lb else both
    if k == 7:                                           # le_u
        return frozenset((1,)) if ha <= lb else frozenset((0,)) if la > hb else both
    if k == 9:                                           # ge_u
        return frozenset((1,)) if la >= hb else frozenset((0,)) if ha < lb else both
    return both


def un_values(opcode: int, a: AbsVal) -> AbsVal:
    if opcode in (0x45, 0x50) and a is None:
        return frozenset((0, 1))
    if a is None:
        return None
    if isinstance(a, frozenset):
        return frozenset(fold_un(opcode, x) for x in a)
    lo, hi = a
    if opcode in (0x45, 0x50):
        return frozenset((0,)) if lo > 0 else frozenset((0, 1))
    if opcode == 0xAD or (opcode == 0xA7 and hi <= M32):
        return a
    if opcode in (0xAC, 0xC4) and hi < 1 << 31 or opcode in (0xC0, 0xC2) and hi < 1 << 7 \
            or opcode in (0xC1, 0xC3) and hi < 1 << 15:
        return a
    if opcode in (0x67, 0x68, 0x69, 0x79, 0x7A, 0x7B):
        return (0, 64 if opcode >= 0x79 else 32)
    return None


# --- what the module itself says: constant initializers, table slots, data segments ----------------

def const_expr(r: Reader, globals_: list[int | None]) -> int | None:
    """The integer value of a constant expression (i32/i64.const, global.get of a known global, the
    extended-const add/sub/mul), or None; reads up to and including its `end`."""
    start = r.pos
    stack: list[int] = []
    try:
        while True:
            code = r.u8()
            if code == 0x0B:
                return stack[-1] if len(stack) == 1 else None
            if code == 0x41:
                stack.append(r.sleb(5, 32) & M32)
            elif code == 0x42:
                stack.append(r.sleb(10, 64) & M64)
            elif code == 0x23:
                g = r.u32()
                v = globals_[g] if g < len(globals_) else None
                if v is None:
                    break
                stack.append(v)
            elif code in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E) and len(stack) >= 2:
                b = stack.pop()
                folded = fold_bin(code, stack.pop(), b)
                if folded is None:
                    break
                stack.append(folded)
            else:
                break
    except DecodeError:   # read again below, by the scanner that words errors
        pass
    r.pos = start
    scan_const_expr(r, 1 << 32, 1 << 32)
    return None


@dataclass
class Segment:
    """An active element segment's slots: `items[i]` is what slot `offset + i` gets (a set of
    functions), or the segment may land anywhere (`offset` None)."""

    index: int
    table: int
    offset: int | None
    items: list[frozenset]


@dataclass
class ModuleFacts:
    """Facts re-read from the binary on first use (the decoder keeps none of them)."""

    globals_init: list[int | None] = field(default_factory=list)   # constant initializer per global, or None
    segments: list[Segment] = field(default_factory=list)           # active element segments, in order


def _section(m: Module, sid: int) -> Reader | None:
    span = m.section_spans.get(sid)
    if span is None:
        return None
    return Reader(m.span(*span), 0, span[1], m.path)


def read_facts(m: Module, global_values: list[set[int]], segment_functions: list[set[int]]) -> ModuleFacts:
    facts = ModuleFacts()
    nimp = sum(1 for i in m.imports if i.kind == "global")
    inits: list[int | None] = [None] * nimp
    r = _section(m, 6)
    if r is not None:
        for _ in range(r.u32()):
            read_valtype(r)
            r.u8()
            inits.append(const_expr(r, inits))
    facts.globals_init = inits
    r = _section(m, 9)
    if r is not None:
        for i in range(r.u32()):
            seg = _element(r, i, inits, global_values, segment_functions)
            if seg is not None:
                facts.segments.append(seg)
    return facts


class DataImage:
    """Memory 0 at instantiation: its active data segments (read on first use), zero elsewhere."""

    def __init__(self, m: Module, inits: list[int | None]) -> None:
        self.known = True                      # every active segment of memory 0 has a constant offset
        self.segments: list[tuple[int, int, int, int]] = []   # (start, order, segment index, payload offset)
        self.sizes: dict[int, int] = {}
        self.longest = 0
        r = _section(m, 11)
        self.raw = r.data if r is not None else b""
        if r is None:
            return
        for i in range(r.u32()):
            flags = r.u32()
            mem = r.u32() if flags == 2 else 0
            offset = _const_fast(r, inits) if flags != 1 else None
            size = r.u32()
            if flags != 1 and mem == 0:
                if offset is None:
                    self.known = False
                else:
                    self.segments.append((offset, i, i, r.pos))
                    self.sizes[i] = size
                    self.longest = max(self.longest, size)
            r.pos += size
        self.segments.sort()
        self.starts = [seg[0] for seg in self.segments]

    def covering(self, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
        """The segments that overlap [lo, hi), in the order instantiation writes them."""
        first = bisect_right(self.starts, lo - self.longest)
        last = bisect_left(self.starts, hi)
        return sorted((seg for seg in self.segments[first:last] if seg[0] + self.sizes[seg[2]] > lo), key=lambda s: s[1])

    def read(self, lo: int, n: int) -> bytes:
        buf = bytearray(n)
        for start, _order, idx, pos in self.covering(lo, lo + n):
            a, b = max(lo, start), min(lo + n, start + self.sizes[idx])
            buf[a - lo:b - lo] = self.raw[pos + a - start:pos + b - start]
        return bytes(buf)


def _const_fast(r: Reader, inits: list[int | None]) -> int | None:
    """`const_expr`, with the usual `i32.const N end` read directly."""
    data, i = r.data, r.pos
    if data[i] == 0x41:
        v, j = _sleb(data, i + 1)
        if data[j] == 0x0B:
            r.pos = j + 1
            return v & M32
    return const_expr(r, inits)


def _element(r: Reader, i: int, inits: list[int | None], global_values: list[set[int]],
             segment_functions: list[set[int]]) -> Segment | None:
    flags = r.u32()
    active = not flags & 1
    table = r.u32() if flags & 2 and active else 0
    offset = const_expr(r, inits) if active else None
    if flags & 3:
        if flags & 4:
            read_valtype(r)
        else:
            r.u8()
    items: list[frozenset] = []
    anything = frozenset(segment_functions[i]) if i < len(segment_functions) else EMPTY
    for _ in range(r.u32()):
        if not flags & 4:
            items.append(frozenset((r.u32(),)))
            continue
        start = r.pos
        code = r.u8()
        if code == 0xD2:
            f = r.u32()
            if r.u8() == 0x0B:
                items.append(frozenset((f,)))
                continue
        elif code == 0xD0:
            r.pos = start
            scan_const_expr(r, 1 << 32, 1 << 32)
            items.append(EMPTY)
            continue
        elif code == 0x23:
            g = r.u32()
            if r.u8() == 0x0B:
                items.append(frozenset(global_values[g]) if g < len(global_values) else anything)
                continue
        r.pos = start
        scan_const_expr(r, 1 << 32, 1 << 32)
        items.append(anything)
    return Segment(i, table, offset, items) if active else None


class TableSlots:
    """What each slot of one table may hold, from the module's own active element segments: exact
    only for a table nothing else writes (see `refinable_tables`)."""

    def __init__(self, facts: ModuleFacts, table: int, size: int, init: Iterable[int]) -> None:
        self.size = size
        self.anywhere: set[int] = set(init)       # the table's initializer fills every slot
        self.where: dict[int, list[int]] = {}     # function -> segments that put it somewhere
        slots: dict[int, set[int]] = {}
        for seg in facts.segments:
            if seg.table != table:
                continue
            for k, funcs in enumerate(seg.items):
                if seg.offset is None:
                    self.anywhere |= funcs
                else:
                    slots.setdefault(seg.offset + k, set()).update(funcs)
                for f in funcs:
                    self.where.setdefault(f, []).append(seg.index)
        self.keys = sorted(s for s in slots if s < size)
        self.slots = slots

    def functions(self, indices: AbsVal) -> set[int] | None:
        """Every function a slot among `indices` may hold (None: unknown indices)."""
        if indices is None:
            return None
        out = set(self.anywhere)
        if isinstance(indices, frozenset):
            for s in indices:
                if s < self.size:
                    out |= self.slots.get(s, EMPTY)
            return out
        lo, hi = indices
        for s in self.keys[bisect_left(self.keys, lo):bisect_right(self.keys, hi)]:
            out |= self.slots[s]
        return out


# --- decoding a body ------------------------------------------------------------------------------

class Unsupported(Exception):
    """A body uses an instruction this interpreter does not model: it is not interpreted."""


# (pops, pushes) of the instructions handled generically: results unknown
_ARITY: dict[int, tuple[int, int]] = {0x01: (0, 0), 0x1A: (1, 0), 0x24: (1, 0), 0x25: (1, 1), 0x26: (2, 0),
                                      0x2A: (1, 1), 0x2B: (1, 1),
                                      0x3F: (0, 1), 0x40: (1, 1), 0x43: (0, 1), 0x44: (0, 1),
                                      0xD0: (0, 1), 0xD1: (1, 1), 0xD2: (0, 1), 0xD3: (2, 1), 0xD4: (1, 1)}
for _c in range(0x5B, 0x67):
    _ARITY[_c] = (2, 1)                              # float comparisons
for _c in (*range(0x8B, 0x92), *range(0x99, 0xA0)):
    _ARITY[_c] = (1, 1)                              # float unary
for _c in (*range(0x92, 0x99), *range(0xA0, 0xA7)):
    _ARITY[_c] = (2, 1)                              # float binary
for _c in range(0xA8, 0xC0):
    if _c not in (0xAC, 0xAD):
        _ARITY[_c] = (1, 1)                          # conversions (the integer ones are UNARY_OPS)
_MISC: dict[int, tuple[int, int]] = {**{k: (1, 1) for k in range(8)}, 9: (0, 0), 12: (3, 0), 13: (0, 0),
                                     14: (3, 0), 15: (2, 1), 16: (0, 1), 17: (3, 0),
                                     0x13: (4, 2), 0x14: (4, 2), 0x15: (2, 2), 0x16: (2, 2)}
_MEM_WRITES = {8: "memory.init", 10: "memory.copy", 11: "memory.fill", 18: "memory.discard"}
_LOADS = {0x28: (4, False), 0x29: (8, False), 0x2C: (1, True), 0x2D: (1, False), 0x2E: (2, True),
          0x2F: (2, False), 0x30: (1, True), 0x31: (1, False), 0x32: (2, True), 0x33: (2, False),
          0x34: (4, True), 0x35: (4, False)}
_LOAD_BITS = {c: 64 if c in (0x29, *range(0x30, 0x36)) else 32 for c in _LOADS}
_STORES = {0x36: 4, 0x37: 8, 0x38: 4, 0x39: 8, 0x3A: 1, 0x3B: 2, 0x3C: 1, 0x3D: 2, 0x3E: 4}


def _atomic_arity(sub: int) -> tuple[int, int, bool]:
    """(pops, pushes, writes memory) of a 0xFE instruction."""
    if sub == 0x00:
        return 2, 1, False
    if sub in (0x01, 0x02):
        return 3, 1, False
    if sub == 0x03:
        return 0, 0, False
    if 0x10 <= sub <= 0x16:
        return 1, 1, False
    if 0x17 <= sub <= 0x1D:
        return 2, 0, True
    if 0x1E <= sub <= 0x47:
        return 2, 1, True
    if 0x48 <= sub <= 0x4E:
        return 3, 1, True
    raise Unsupported(f"0xfe 0x{sub:x}")


def _decode_kinds() -> list[int]:
    """How `decode_body` reads each opcode: 0 no immediate, 1 one u32, 2 a memarg, 3 a signed
    constant, 8 something rarer (handled one by one), 9 not modelled."""
    kinds = [9] * 256
    for c in (0x00, 0x01, 0x05, 0x0A, 0x0F, 0x19, 0x1A, 0x1B, *_ARITY, *UNARY_OPS, *BINARY_OPS):
        kinds[c] = 0
    for c in (0x20, 0x21, 0x22, 0x23, 0x24, 0x0C, 0x0D, 0x10, 0x12, 0x14, 0x15, 0x25, 0x26, 0xD2, 0x3F, 0x40):
        kinds[c] = 1
    for c in range(0x28, 0x3F):
        kinds[c] = 2
    kinds[0x41] = kinds[0x42] = 3
    for c in (0x02, 0x03, 0x04, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x11, 0x13, 0x18, 0x1C, 0x1F, 0x43, 0x44, 0xD0,
              0xFC, 0xFE):
        kinds[c] = 8
    return kinds


_DECODE_KIND = _decode_kinds()


@dataclass
class Body:
    """A decoded body: parallel lists of opcodes (prefixed ones `prefix << 16 | sub`), immediates and
    byte offsets, the locals' types, and per loop (its instruction index) the locals it writes."""

    codes: list[int]
    imms: list
    offsets: list[int]
    local_types: list[int]
    loop_writes: dict[int, set[int]]


def _leb(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def _sleb(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, i


def decode_body(m: Module, f: int) -> Body:
    """Decode one defined function's body (the module was validated by the scanner already, so this
    reads without checks). Raises `Unsupported` for instructions the interpreter does not model."""
    i0 = f - m.num_imported_functions
    start, size = m.code.bodies[2 * i0], m.code.bodies[2 * i0 + 1]  # type: ignore[union-attr]
    if size > MAX_BODY:
        raise Unsupported(f"a body of {size} bytes")
    data = m.data[start:start + size] if m.data else m.span(start, size)
    types = m.types
    local_types = [0x7F if p.code == 0x7F else 0x7E if p.code == 0x7E else 0 for p in types[m.functions[f].type_index].params]
    n, i = _leb(data, 0)
    for _ in range(n):
        count, i = _leb(data, i)
        at = i
        r = Reader(data, i, size)
        read_valtype(r)
        i = r.pos
        t = data[at] if data[at] in (0x7F, 0x7E) else 0
        if count > 1_000_000:
            raise Unsupported("too many locals")
        local_types.extend([t] * count)
    codes: list[int] = []
    imms: list = []
    offsets: list[int] = []
    loops: list[tuple[int, set[int]]] = []     # open blocks: (instruction index or -1, writes)
    loop_writes: dict[int, set[int]] = {}
    append_c, append_i, append_o = codes.append, imms.append, offsets.append
    kinds = _DECODE_KIND
    end = size
    while i < end:
        at = i
        c = data[i]
        i += 1
        k = kinds[c]
        if k == 0:          # no immediate
            append_c(c)
            append_i(None)
            append_o(start + at)
            continue
        if k == 1:          # one u32
            b = data[i]
            if b < 0x80:
                imm: object = b
                i += 1
            else:
                imm, i = _leb(data, i)
            if (c == 0x21 or c == 0x22) and loops:
                loops[-1][1].add(imm)  # type: ignore[arg-type]
            append_c(c)
            append_i(imm)
            append_o(start + at)
            continue
        if k == 2:          # memarg: flags (bit 6: a memory index follows), offset
            b = data[i]
            mem = 0
            if b < 0x40:
                i += 1
            else:
                flags, i = _leb(data, i)
                if flags & 0x40:
                    mem, i = _leb(data, i)
            b = data[i]
            if b < 0x80:
                off = b
                i += 1
            else:
                off, i = _leb(data, i)
            append_c(c)
            append_i((mem, off))
            append_o(start + at)
            continue
        if k == 3:          # i32/i64.const
            b = data[i]
            if b < 0x40:
                imm = b
                i += 1
            else:
                imm, i = _sleb(data, i)
            append_c(c)
            append_i(imm)
            append_o(start + at)
            continue
        imm = None
        if k == 9:
            raise Unsupported(f"opcode 0x{c:02x}")
        elif c == 0x02 or c == 0x03 or c == 0x04 or c == 0x06:
            imm, i = _blocktype(data, i, types)
            loops.append((len(codes) if c == 0x03 or c == 0x06 else -1, set()))
        elif c == 0x1F:   # try_table: blocktype, then its catch clauses (kind, [tag,] label)
            bt, i = _blocktype(data, i, types)
            n, i = _leb(data, i)
            labels = []
            for _ in range(n):
                kind = data[i]
                i += 1
                if kind in (0x00, 0x01):
                    _tag, i = _leb(data, i)
                lab, i = _leb(data, i)
                labels.append(lab)
            imm = (bt, labels)
            loops.append((len(codes), set()))
        elif c == 0x07 or c == 0x09:
            imm, i = _leb(data, i)
            if c == 0x07:
                imm = len(types[m.tags[imm]].params) if imm < len(m.tags) else 0
        elif c == 0x18:   # delegate: closes its try like `end`
            _lab, i = _leb(data, i)
            if loops:
                idx, writes = loops.pop()
                loop_writes[idx] = writes
                if loops:
                    loops[-1][1].update(writes)
        elif c == 0x0B:
            if loops:
                idx, writes = loops.pop()
                if idx >= 0:
                    loop_writes[idx] = writes
                if loops:
                    loops[-1][1].update(writes)
        elif c == 0x11 or c == 0x13:
            t, i = _leb(data, i)
            tab, i = _leb(data, i)
            imm = (t, tab)
        elif c == 0x0E:
            n, i = _leb(data, i)
            labels = []
            for _ in range(n + 1):
                lab, i = _leb(data, i)
                labels.append(lab)
            imm = labels
        elif c == 0x1C:
            n, i = _leb(data, i)
            r = Reader(data, i, size)
            for _ in range(n):
                read_valtype(r)
            i = r.pos
        elif c == 0x43:
            i += 4
        elif c == 0x44:
            i += 8
        elif c == 0xD0:
            r = Reader(data, i, size)
            from ..decode.code import read_heaptype
            read_heaptype(r)
            i = r.pos
        elif c == 0xFC:
            sub, i = _leb(data, i)
            if sub in (8, 10, 12, 14):
                a, i = _leb(data, i)
                b, i = _leb(data, i)
                imm = (a, b)
            elif sub in (9, 11, 13, 15, 16, 17, 18):
                imm, i = _leb(data, i)
            elif sub > 0x16:
                raise Unsupported(f"0xfc 0x{sub:x}")
            c = 0xFC0000 | sub
        elif c == 0xFE:
            sub, i = _leb(data, i)
            _atomic_arity(sub)
            if sub == 0x03:
                i += 1
            else:
                flags, i = _leb(data, i)
                mem = 0
                if flags & 0x40:
                    mem, i = _leb(data, i)
                off, i = _leb(data, i)
                imm = (mem, off)
            c = 0xFE0000 | sub
        elif c == 0x08:
            _tag, i = _leb(data, i)
        append_c(c)
        append_i(imm)
        append_o(start + at)
    return Body(codes, imms, offsets, local_types, loop_writes)


def _blocktype(data: bytes, i: int, types: list) -> tuple[tuple[int, int], int]:
    b = data[i]
    if b == 0x40:
        return (0, 0), i + 1
    if b & 0xC0 == 0x40:   # a value type
        r = Reader(data, i, len(data))
        read_valtype(r)
        return (0, 1), r.pos
    t, i = _sleb(data, i)
    ft = types[t]
    if ft.form != "func":
        raise Unsupported("a block of a non-function type")
    return (len(ft.params), len(ft.results)), i


# --- interpreting a body --------------------------------------------------------------------------

@dataclass
class Summary:
    """What one function does with values: its indirect call sites (byte offset, type, table, index
    node), its direct calls (byte offset, callee, argument nodes, path condition), the node of its
    result, its memory writes (address node, static offset, bytes or a length node) and its global
    writes (global, node). A path condition maps a parameter to the values it must have for the call
    to run (from `if`/`br_if` tests of the parameter's entry value against constants)."""

    function: int
    indirect: list[tuple[int, int, int, Node]] = field(default_factory=list)
    calls: list[tuple[int, int, tuple, dict]] = field(default_factory=list)
    result: Node = None
    stores: list[tuple[Node, int, object]] = field(default_factory=list)
    global_sets: list[tuple[int, Node]] = field(default_factory=list)


class _Frame:
    __slots__ = ("arity", "entry", "has_else", "height", "idx", "kind", "merges", "results")

    def __init__(self, kind: int, height: int, arity: int, results: int, idx: int) -> None:
        self.kind, self.height, self.arity, self.results, self.idx = kind, height, arity, results, idx
        self.merges: list[tuple] = []   # (locals, values, cells, pc) reaching the label
        self.entry: tuple | None = None
        self.has_else = False


_BLOCK, _LOOP, _IF, _FUNC = range(4)
_CLOSERS = frozenset((0x0B, 0x05, 0x07, 0x19, 0x18))   # end, else, catch, catch_all, delegate


def _join_nodes(nodes: list[Node]) -> Node:
    """The node of a value that is any of `nodes` (nested joins flattened, duplicates dropped)."""
    first = nodes[0]
    if all(n is first for n in nodes):
        return first
    out: list[Node] = []
    seen: set = set()
    for n in nodes:
        if n is None:
            return None
        for x in (n[1] if type(n) is tuple and n[0] == JOIN else (n,)):
            key = x if type(x) is int else id(x)
            if key not in seen:
                seen.add(key)
                out.append(x)
    if len(out) > MAX_JOIN:
        return None
    return out[0] if len(out) == 1 else (JOIN, tuple(out))


def _join_states(states: list[tuple]) -> tuple:
    """Locals, branch values, memory cells and path conditions where control flow merges."""
    if len(states) == 1:
        return states[0]
    first = states[0][0]
    differ: set[int] = set()
    for st in states[1:]:   # the locals that differ, found in C (`is_not` over the two lists)
        if st[0] is not first:
            differ.update(compress(range(len(first)), map(is_not, first, st[0])))
    locs = list(first)
    for k in differ:
        locs[k] = _join_nodes([st[0][k] for st in states])
    vals = [_join_nodes(list(col)) for col in zip(*(s[1] for s in states))]
    cells = dict(states[0][2])
    for s in states[1:]:
        cells = {k: v for k, v in cells.items() if s[2].get(k) is v}
    pc = dict(states[0][3])
    for s in states[1:]:
        pc = {k: v | s[3][k] for k, v in pc.items() if k in s[3]}
    return locs, vals, cells, pc


def interpret(m: Module, f: int, body: Body, forward_stores: bool, normal_state: int | None = None) -> Summary:
    """One forward pass over a body: each operand as a node (see the module docstring).

    A test whose condition is a constant takes only the way it goes (`if`, `br_if`, `select`).
    `normal_state`: f was instrumented by Asyncify and this is its state global: read as 0 (normal),
    so the rewind prelude and unwind paths are not taken (see `Values`)."""
    ft = m.types[m.functions[f].type_index]
    nparams = len(ft.params)
    s = Summary(f)
    params = [(PARAM, f, k) for k in range(nparams)]
    locs: list[Node] = list(params) + [0 if t else None for t in body.local_types[nparams:]]
    stack: list[Node] = []
    cells: dict[tuple[int, int], tuple[Node, int]] = {}
    pc: dict[int, frozenset] = {}
    frames = [_Frame(_FUNC, 0, len(ft.results), len(ft.results), -1)]
    codes, imms, offsets = body.codes, body.imms, body.offsets
    types, functions = m.types, m.functions
    dead = 0             # depth of blocks opened in unreachable code
    live = True
    i, n = 0, len(codes)

    def branch(fr: _Frame, cond_pc: dict | None = None) -> None:
        if fr.kind == _LOOP:
            return
        vals = stack[len(stack) - fr.arity:] if fr.arity else []
        fr.merges.append((list(locs), vals, dict(cells), cond_pc if cond_pc is not None else dict(pc)))

    while i < n:
        c = codes[i]
        if not live and (dead or c not in _CLOSERS):
            if c == 0x02 or c == 0x03 or c == 0x04 or c == 0x06 or c == 0x1F:
                dead += 1
            elif (c == 0x0B or c == 0x18) and dead:
                dead -= 1
            i += 1
            continue
        imm = imms[i]
        if c == 0x20:
            stack.append(locs[imm])
        elif c == 0x41:
            stack.append(imm & M32)
        elif c == 0x21:
            locs[imm] = stack.pop()
        elif c == 0x22:
            locs[imm] = stack[-1]
        elif c in _LOADS:
            addr = stack.pop()
            mem, off = imm
            nbytes, signed = _LOADS[c]
            cell = cells.get((addr + off, nbytes)) if type(addr) is int and mem == 0 else None
            if cell is not None and cell[1] == _LOAD_BITS[c] and not signed:
                stack.append(cell[0])
            else:
                stack.append((LOAD, addr, off, nbytes, signed, _LOAD_BITS[c]) if mem == 0 else None)
        elif c in BINARY_OPS:
            b = stack.pop()
            a = stack.pop()
            if type(a) is int and type(b) is int:
                stack.append(fold_bin(c, a, b))
            else:
                stack.append((BIN, c, a, b))
        elif c in _STORES:
            value = stack.pop()
            addr = stack.pop()
            mem, off = imm
            if mem == 0:
                width = _STORES[c]
                s.stores.append((addr, off, width))
                if type(addr) is int and forward_stores:
                    lo = addr + off
                    for key in [k for k in cells if k[0] < lo + width and lo < k[0] + k[1]]:
                        del cells[key]
                    if c in (0x36, 0x37):
                        cells[(lo, width)] = (value, 32 if c == 0x36 else 64)
                else:
                    cells.clear()
        elif c == 0x10 or c == 0x12:
            sig = types[functions[imm].type_index]
            k = len(sig.params)
            args = tuple(stack[len(stack) - k:]) if k else ()
            del stack[len(stack) - k:]
            s.calls.append((offsets[i], imm, args, dict(pc)))
            cells.clear()
            res = [(RESULT, imm)] if len(sig.results) == 1 else [None] * len(sig.results)
            if c == 0x12:
                frames[0].merges.append((locs, res, cells, pc))
                live = False
            else:
                stack.extend(res)
        elif c == 0x42:
            stack.append(imm & M64)
        elif c in UNARY_OPS:
            a = stack.pop()
            stack.append(fold_un(c, a) if type(a) is int else (UN, c, a))
        elif c == 0x0D:   # br_if
            cond = stack.pop()
            if type(cond) is int:   # a constant: never taken, or a plain br
                if cond:
                    branch(frames[-1 - imm])
                    live = False
            else:
                taken, fall = _refine(cond, pc, params)
                branch(frames[-1 - imm], taken)
                pc = fall
        elif c == 0x02 or c == 0x03 or c == 0x04:
            np_, nr = imm
            if c == 0x04:
                cond = stack.pop()
            fr = _Frame(_LOOP if c == 0x03 else _IF if c == 0x04 else _BLOCK, len(stack) - np_,
                        np_ if c == 0x03 else nr, nr, i)
            frames.append(fr)
            if c == 0x03:
                for x in body.loop_writes.get(i, ()):
                    locs[x] = None
                cells.clear()
                if np_:
                    stack[len(stack) - np_:] = [None] * np_
            elif c == 0x04 and type(cond) is int:   # a constant: only one arm runs (entry None: not the else)
                if cond:
                    fr.entry = None
                else:
                    fr.entry = (list(locs), stack[len(stack) - np_:] if np_ else [], dict(cells), dict(pc))
                    live = False
            elif c == 0x04:
                taken, fall = _refine(cond, pc, params)
                fr.entry = (list(locs), stack[len(stack) - np_:] if np_ else [], dict(cells), fall)
                pc = taken
        elif c in _CLOSERS:
            fr = frames[-1]
            if live:
                vals = stack[len(stack) - fr.results:] if fr.results else []
                fr.merges.append((locs, vals, cells, pc))
            if c == 0x07 or c == 0x19:   # catch: whatever the try body had, locals it writes unknown
                assert fr.entry is not None
                locs, cells, pc = list(fr.entry[0]), {}, dict(fr.entry[3])
                for x in body.loop_writes.get(fr.idx, ()):
                    locs[x] = None
                del stack[fr.height:]
                stack.extend([None] * (imm if c == 0x07 else 0))
                live = True
                i += 1
                continue
            if c == 0x05:
                fr.has_else = True
                if fr.entry is None:   # the condition was a constant true: the else arm never runs
                    live = False
                    i += 1
                    continue
                locs, vals, cells, pc = list(fr.entry[0]), fr.entry[1], dict(fr.entry[2]), dict(fr.entry[3])
                del stack[fr.height:]
                stack.extend(vals)
                live = True
                i += 1
                continue
            if fr.kind == _IF and not fr.has_else and fr.entry is not None:
                fr.merges.append(fr.entry)
            frames.pop()
            del stack[fr.height:]
            if fr.kind == _FUNC:
                vals_ = [st[1] for st in fr.merges]
                if len(ft.results) == 1 and vals_:
                    s.result = _join_nodes([v[0] for v in vals_])
                elif len(ft.results) == 1:
                    s.result = None
                break
            if not fr.merges:
                live = False
                i += 1
                continue
            locs, vals, cells, pc = _join_states(fr.merges)
            locs, cells, pc = list(locs), dict(cells), dict(pc)
            stack.extend(vals)
            live = True
        elif c == 0x11 or c == 0x13:
            t, tab = imm
            index = stack.pop()
            sig = types[t]
            k = len(sig.params)
            del stack[len(stack) - k:]
            s.indirect.append((offsets[i], t, tab, index))
            cells.clear()
            if c == 0x13:
                frames[0].merges.append((locs, [None] * len(sig.results), cells, pc))
                live = False
            else:
                stack.extend([None] * len(sig.results))
        elif c == 0x23:
            stack.append(0 if imm == normal_state else (GLOBAL, imm))
        elif c == 0x24:
            s.global_sets.append((imm, stack.pop()))
        elif c == 0x1B or c == 0x1C:
            cond = stack.pop()
            b = stack.pop()
            a = stack.pop()
            stack.append((a if cond else b) if type(cond) is int else _join_nodes([a, b]))
        elif c == 0x0C:
            branch(frames[-1 - imm])
            live = False
        elif c == 0x0F:
            branch(frames[0])
            live = False
        elif c == 0x0E:
            stack.pop()
            for lab in dict.fromkeys(imm):
                branch(frames[-1 - lab])
            live = False
        elif c == 0x00 or c == 0x08 or c == 0x09 or c == 0x0A:
            live = False
        elif c == 0x06:   # try: a block; its catches start from its entry state
            (np_, nr) = imm
            fr = _Frame(_BLOCK, len(stack) - np_, nr, nr, i)
            fr.entry = (list(locs), [], {}, dict(pc))
            frames.append(fr)
        elif c == 0x1F:   # try_table: a block whose catch clauses branch from anywhere in it
            (np_, nr), labels = imm
            caught = list(locs)
            for x in body.loop_writes.get(i, ()):
                caught[x] = None
            for lab in labels:
                target = frames[-1 - lab]
                if target.kind != _LOOP:
                    target.merges.append((caught, [None] * target.arity, {}, dict(pc)))
            frames.append(_Frame(_BLOCK, len(stack) - np_, nr, nr, i))
        elif c == 0x14 or c == 0x15:
            sig = types[imm]
            k = len(sig.params) + 1
            del stack[len(stack) - k:]
            cells.clear()
            if c == 0x15:
                frames[0].merges.append((locs, [None] * len(sig.results), cells, pc))
                live = False
            else:
                stack.extend([None] * len(sig.results))
        elif c >= 0xFC0000:
            prefix, sub = c >> 16, c & 0xFFFF
            if prefix == 0xFC and sub in _MEM_WRITES:   # (dest, [src or value,] length)
                length = stack.pop()
                if sub != 18:
                    stack.pop()
                dest = stack.pop()
                mem = imm[1] if sub == 8 else imm[0] if sub == 10 else imm
                if mem == 0:
                    s.stores.append((dest, 0, ("len", length)))
                cells.clear()
            elif prefix == 0xFC:
                pops, pushes = _MISC[sub]
                del stack[len(stack) - pops:]
                stack.extend([None] * pushes)
            else:
                pops, pushes, writes = _atomic_arity(sub)
                operands = stack[len(stack) - pops:]
                del stack[len(stack) - pops:]
                if writes:
                    if imm[0] == 0:
                        s.stores.append((operands[0], imm[1], 8))
                    cells.clear()
                stack.extend([None] * pushes)
        else:
            pops, pushes = _ARITY[c]
            if pops:
                del stack[len(stack) - pops:]
            if pushes:
                stack.extend([None] * pushes)
        i += 1
    return s


def _refine(cond: Node, pc: dict[int, frozenset], params: list) -> tuple[dict, dict]:
    """Path conditions after a test: (when it is true, when it is false). Only tests of a parameter's
    entry value against a constant (`eq`, `ne`, `eqz`) say anything."""
    if type(cond) is tuple:
        k, value, equal = _param_test(cond, params)
        if k is not None:
            narrowed = dict(pc)
            narrowed[k] = pc[k] & frozenset((value,)) if k in pc else frozenset((value,))
            return (narrowed, pc) if equal else (pc, narrowed)
    return pc, pc


def _param_test(cond: tuple, params: list) -> tuple[int | None, int, bool]:
    """(parameter, constant, whether the test is true on equality) for `p == c`, `p != c`, `!p`."""
    if cond[0] == UN and cond[1] in (0x45, 0x50):
        a = cond[2]
        if type(a) is tuple and a[0] == PARAM and a in params:
            return a[2], 0, True
        if type(a) is tuple and a[0] == BIN:
            k, v, eq = _param_test(a, params)
            return k, v, not eq
    if cond[0] == BIN and cond[1] in (0x46, 0x47, 0x51, 0x52):
        a, b = cond[2], cond[3]
        if type(b) is tuple:
            a, b = b, a
        if type(a) is tuple and a[0] == PARAM and a in params and type(b) is int:
            return a[2], b, cond[1] in (0x46, 0x51)
    return None, 0, False


# --- evaluating nodes -----------------------------------------------------------------------------

class Values:
    """Summaries of the functions asked about, and the values of their nodes, each computed once.
    `host_memory="module"` trusts the host never to write the module's memory (as `--host-table
    module` trusts it never to write the table); the default does not, for an exported memory.

    `asyncified=(state global, instrumented functions)`: a binary after Binaryen's asyncify pass,
    whose instrumented functions read the state global (0 normal, 1 unwinding, 2 rewinding) to skip
    code while rewinding and to save their locals while unwinding. They are read as they run in the
    normal state. Sound for what is asked here (which values reach a call or a call_indirect): a
    rewind only replays the calls that were running at the unwind, into the same callees, with the
    locals saved then (Asyncify.cpp@version_132 `makeCallSupport`: a call runs when the state is
    normal or it is the call being rewound, 1218-1226; the locals are loaded under the Rewinding
    check, 1540-1541; the same in version_116 at 1178-1186 and 1414-1415), so every value a rewind
    passes was passed first in the normal state. Their saves write the buffer at addresses not known,
    so no load of memory is known in such a binary, unless `hosted_buffer`: the buffer is one the host
    hands out (`asyncify_start_unwind(ptr)` called by the host only, and `host_memory="module"`
    trusts it not to be the module's static data). Functions that set the state themselves
    (inlined runtime code) are read as they are."""

    def __init__(self, graph: Graph, host_memory: HostMemory = "sound",
                 asyncified: tuple[int, frozenset[int]] | None = None, hosted_buffer: bool = False) -> None:
        self.graph = graph
        self.module = graph.module
        self.host_memory = host_memory
        state, instrumented = asyncified or (None, frozenset())
        self.normal_state = state
        self.instrumented = instrumented - set(graph.global_writers(state)) if state is not None else frozenset()
        self.hosted_buffer = hosted_buffer
        self._summaries: dict[int, Summary | None] = {}
        self.unsupported: dict[int, str] = {}
        self._memo: dict[int, AbsVal] = {}
        self._keep: list[Node] = []            # nodes whose id() is a memo key stay alive
        self._params: dict[tuple[int, int], AbsVal] = {}
        self._results: dict[int, AbsVal] = {}
        self._globals: dict[int, AbsVal] = {}
        self._busy: set = set()
        self._facts: ModuleFacts | None = None
        self._image: DataImage | None = None
        self._written: list[tuple[int, int]] | None | bool = False   # False: not computed yet
        self._written_why = ""
        self._callers: Any = None   # callgraph.Rows of direct callers, made on first use
        self.load_unknown: dict[int, str] = {}   # id(load node) -> why its value is not known
        self._depth = 0                          # nodes being evaluated, nested
        self.decoded = 0                         # bytes of bodies interpreted so far
        self.limit: int | None = None            # stop interpreting beyond this many (a budget)
        m = self.module
        exported = {e.index for e in m.exports if e.kind == "memory"}
        imported = {i.index for i in m.imports if i.kind == "memory"}
        self.memory_host = ("imported" if 0 in imported else
                            "exported" if 0 in exported and host_memory == "sound" else None)
        self.memory_bytes, self.memory_shared = m.memory_types[0] if m.memory_types else (0, False)
        self.forward_stores = not (self.memory_shared and (0 in imported or 0 in exported))

    # facts ---------------------------------------------------------------------------------------
    @property
    def facts(self) -> ModuleFacts:
        if self._facts is None:
            g = self.graph
            with self.module.rereading():
                self._facts = read_facts(self.module, g.global_values, g.segment_functions)
        return self._facts

    def summary(self, f: int) -> Summary | None:
        """The function's summary, or None when it is imported or not interpreted (`unsupported`)."""
        if f in self._summaries:
            return self._summaries[f]
        m = self.module
        s: Summary | None = None
        if f >= m.num_imported_functions:
            if self.limit is not None and self.decoded > self.limit:
                return None   # not kept: without the limit, a later question may read it
            self.decoded += m.body_size(f)
            try:
                normal = f in self.instrumented
                s = interpret(m, f, decode_body(m, f), self.forward_stores, self.normal_state if normal else None)
                if normal and not self.hosted_buffer:   # its unwinds save locals in Asyncify's buffer
                    s.stores.append((None, 0, 4))
            except Unsupported as exc:
                self.unsupported[f] = str(exc)
            except (IndexError, KeyError, AssertionError, ValueError, TypeError) as exc:   # defensive: never guess
                self.unsupported[f] = f"not interpreted ({type(exc).__name__})"
            except InputError as exc:   # the binary cannot be read again (decoded from a buffer not kept)
                self.unsupported[f] = exc.message
        self._summaries[f] = s
        return s

    # values --------------------------------------------------------------------------------------
    def value(self, node: Node) -> AbsVal:
        if node is None:
            return None
        if type(node) is int:
            return frozenset((node,))
        key = id(node)
        got = self._memo.get(key, self)
        if got is not self:
            return got  # type: ignore[return-value]
        if key in self._busy or self._depth > MAX_DEPTH:   # a cycle, or a chain too long to follow
            return None
        self._busy.add(key)
        self._depth += 1
        try:
            v = self._value(node)  # type: ignore[arg-type]
        finally:
            self._busy.discard(key)
            self._depth -= 1
        self._memo[key] = v
        self._keep.append(node)
        return v

    def _value(self, node: tuple) -> AbsVal:
        tag = node[0]
        if tag == BIN:
            return bin_values(node[1], self.value(node[2]), self.value(node[3]))
        if tag == UN:
            return un_values(node[1], self.value(node[2]))
        if tag == JOIN:
            out: AbsVal = EMPTY
            for x in node[1]:
                out = join_values(out, self.value(x))
                if out is None:
                    return None
            return out
        if tag == PARAM:
            return self.param(node[1], node[2])
        if tag == RESULT:
            return self.result(node[1])
        if tag == LOAD:
            return self._load(node)
        if tag == GLOBAL:
            return self.global_value(node[1])
        return None

    def callers(self, f: int) -> list[int] | None:
        """The functions that call f directly, or None when something else can call it too (the host,
        a table, a function reference)."""
        g = self.graph
        m = self.module
        if f < m.num_imported_functions or f in g.address_taken or f == m.start:
            return None
        if self._callers is None:   # every function's direct callers, as rows built in C
            self._callers = g.direct_callers()
            self._exported = {e.index for e in m.exports if e.kind == "func"}
        if f in self._exported:
            return None
        return self._callers[f]

    def param(self, f: int, k: int) -> AbsVal:
        key = (f, k)
        if key in self._params:
            return self._params[key]
        if key in self._busy:
            return None
        self._busy.add(key)
        try:
            v = self._param(f, k)
        finally:
            self._busy.discard(key)
        self._params[key] = v
        return v

    def _param(self, f: int, k: int) -> AbsVal:
        callers = self.callers(f)
        if callers is None:
            return None
        out: AbsVal = EMPTY
        for c in callers:
            s = self.summary(c)
            if s is None:
                return None
            for _at, callee, args, _pc in s.calls:
                if callee == f:
                    out = join_values(out, self.value(args[k]))
                    if out is None:
                        return None
        return out

    def result(self, f: int) -> AbsVal:
        if f in self._results:
            return self._results[f]
        if ("r", f) in self._busy:
            return None
        self._busy.add(("r", f))
        try:
            s = self.summary(f)
            v = None if s is None else self.value(s.result) if s.result is not None else None
        finally:
            self._busy.discard(("r", f))
        self._results[f] = v
        return v

    def global_value(self, g: int) -> AbsVal:
        if g in self._globals:
            return self._globals[g]
        if ("g", g) in self._busy:
            return None
        self._busy.add(("g", g))
        try:
            v = self._global(g)
        finally:
            self._busy.discard(("g", g))
        self._globals[g] = v
        return v

    def _global(self, g: int) -> AbsVal:
        m = self.module
        if g >= len(m.globals) or m.globals[g].import_key is not None:
            return None
        init = self.facts.globals_init[g] if g < len(self.facts.globals_init) else None
        if init is None:
            return None
        out: AbsVal = frozenset((init,))
        if not m.globals[g].mutable:
            return out
        if any(e.kind == "global" and e.index == g for e in m.exports):
            return None
        for f in self.graph.global_writers(g):
            s = self.summary(f)
            if s is None:
                return None
            for h, node in s.global_sets:
                if h == g:
                    out = join_values(out, self.value(node))
                    if out is None:
                        return None
        return out

    # memory --------------------------------------------------------------------------------------
    def _load(self, node: tuple) -> AbsVal:
        why = self.load_unknown
        _tag, addr, off, nbytes, signed, bits = node
        if self.memory_host is not None:
            why[id(node)] = (f"memory 0 is {self.memory_host}: the host may write it"
                             + (" (--host-memory sound; --host-memory module trusts it not to)"
                                if self.memory_host == "exported" else ""))
            return None
        addrs = members(self.value(addr))
        if addrs is None:
            why[id(node)] = "the address is not known"
            return None
        out = set()
        for a in addrs:
            lo = a + off
            if lo + nbytes > self.memory_bytes:
                why[id(node)] = f"0x{lo:x} is beyond the initial memory"
                return None
            if not self.unwritten(lo, lo + nbytes):
                why[id(node)] = (f"a store may write 0x{lo:x}" if self.written_ranges() is not None
                                 else f"some store's address is not known ({self._written_why})")
                return None
            if not self.image.known:
                why[id(node)] = "a data segment of memory 0 has an offset not known before instantiation"
                return None
            raw = self.image.read(lo, nbytes)
            v = int.from_bytes(raw, "little", signed=signed)
            out.add(v & (M64 if bits == 64 else M32))
        return frozenset(out)

    @property
    def image(self) -> DataImage:
        if self._image is None:
            with self.module.rereading():
                self._image = DataImage(self.module, self.facts.globals_init)
        return self._image

    def data_segment_at(self, addr: int) -> int | None:
        segs = self.image.covering(addr, addr + 1)
        return segs[-1][2] if segs else None

    def unwritten(self, lo: int, hi: int) -> bool:
        """No store of the module, nor the host, can write memory 0's bytes [lo, hi)."""
        if self.memory_host is not None:
            return False
        written = self.written_ranges()
        if written is None:
            return False
        k = bisect_right(written, (lo, 1 << 70))
        if k and written[k - 1][1] > lo:
            return False
        return k >= len(written) or written[k][0] >= hi

    def written_ranges(self) -> list[tuple[int, int]] | None:
        """The ranges of memory 0 some store may write, merged and sorted (None: any byte). Every
        defined function is read until one store is found whose address is unknown."""
        if self._written is not False:
            return self._written  # type: ignore[return-value]
        self._written = None   # while computing: loads are unknown (no circular proofs)
        m = self.module
        ranges: list[tuple[int, int]] = []
        result: list[tuple[int, int]] | None = ranges
        with m.rereading():
            for f in range(m.num_imported_functions, len(m.functions)):
                s = self.summary(f)
                if s is None:
                    result = None
                    self._written_why = f"{m.functions[f].name} is not interpreted ({self.unsupported.get(f)})"
                    break
                for addr, off, width in s.stores:
                    span = self._store_span(addr, off, width)
                    if span is None:
                        result = None
                        self._written_why = f"{m.functions[f].name} stores at an address not known"
                        break
                    ranges.append(span)
                if result is None:
                    break
        if result is not None:
            result = _merge(ranges)
        self._written = result
        return result

    def _store_span(self, addr: Node, off: int, width: object) -> tuple[int, int] | None:
        a = self.value(addr)
        if a is None:
            return None
        if not a:
            return (0, 0)
        lo, hi = _bounds(a)
        if isinstance(width, tuple):   # ("len", node): memory.fill/copy/init
            n = self.value(width[1])
            if n is None:
                return None
            if not n:
                return (0, 0)
            return (lo + off, hi + off + _bounds(n)[1])
        return (lo + off, hi + off + int(width))  # type: ignore[call-overload]

    # words ---------------------------------------------------------------------------------------
    def _host_writes(self) -> str:
        m = self.module
        if self.host_memory == "module" and any(e.kind == "memory" and e.index == 0 for e in m.exports):
            return "is trusted not to write (--host-memory module)"
        return "cannot write"

    def explain(self, node: Node, depth: int = 0) -> str:
        """A node in words, with what is known of its value where that matters (for `why`)."""
        if node is None:
            return "unknown"
        if isinstance(node, int):
            return _num(node)
        if depth > 3:
            return "…"
        m = self.module
        tag = node[0]
        if tag == PARAM:
            f, k = node[1], node[2]
            callers = self.callers(f)
            text = f"param {k} of {m.functions[f].name}"
            if callers is None:
                return text
            return text + f" (= {show(self.value(node))}: what its {len(callers)} caller(s) pass; nothing else can call it)"
        if tag == RESULT:
            v = self.value(node)
            return f"the result of {m.functions[node[1]].name}" + (f" (= {show(v)})" if v is not None else "")
        if tag == LOAD:
            _t, addr, off, nbytes, signed, bits = node
            v = self.value(node)
            text = f"i{bits}.load{'' if nbytes * 8 == bits else str(nbytes * 8) + ('_s' if signed else '_u')}" \
                   f"[{self.explain(addr, depth + 1)}{' + ' + _num(off) if off else ''}]"
            if v is not None:
                a = members(self.value(addr)) or []
                segs = sorted({s for x in a if (s := self.data_segment_at(x + off)) is not None})
                text += (f" = {show(v)}, from data segment{'s' if len(segs) > 1 else ''} "
                         f"{', '.join(map(str, segs))}" if segs else f" = {show(v)}, zero-initialised memory") + \
                    f" that no store can reach and the host {self._host_writes()}"
            elif id(node) in self.load_unknown:
                text += f" (not known: {self.load_unknown[id(node)]})"
            return text
        if tag == BIN:
            return f"{_OPNAMES.get(node[1], hex(node[1]))}({self.explain(node[2], depth + 1)}, {self.explain(node[3], depth + 1)})"
        if tag == UN:
            return f"{_OPNAMES.get(node[1], hex(node[1]))}({self.explain(node[2], depth + 1)})"
        if tag == JOIN:
            parts = [self.explain(x, depth + 1) for x in node[1][:4]]
            return "one of " + ", ".join(parts) + (", …" if len(node[1]) > 4 else "")
        if tag == GLOBAL:
            g = node[1]
            name = m.globals[g].name if g < len(m.globals) and m.globals[g].name else str(g)
            return f"global {name} (= {show(self.value(node))})"
        return "?"


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[1] > r[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


_OPNAMES = {**{c: "i32." + n for c, n in zip(range(0x6A, 0x79), (
    "add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr"))},
    **{c: "i64." + n for c, n in zip(range(0x7C, 0x8B), (
        "add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr"))},
    **{c: "i32." + n for c, n in zip(range(0x46, 0x50), ("eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"))},
    **{c: "i64." + n for c, n in zip(range(0x51, 0x5B), ("eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"))},
    0x45: "i32.eqz", 0x50: "i64.eqz", 0xA7: "i32.wrap_i64", 0xAC: "i64.extend_i32_s", 0xAD: "i64.extend_i32_u",
    0xC0: "i32.extend8_s", 0xC1: "i32.extend16_s", 0xC2: "i64.extend8_s", 0xC3: "i64.extend16_s", 0xC4: "i64.extend32_s",
    0x67: "i32.clz", 0x68: "i32.ctz", 0x69: "i32.popcnt", 0x79: "i64.clz", 0x7A: "i64.ctz", 0x7B: "i64.popcnt"}


# --- call_indirect target sets ----------------------------------------------------------------------

def table_note(graph: Graph, table: int) -> str | None:
    """Why the slots of `table` cannot be known from the module alone (None: they can). Slots are
    exact when nothing but the module's own active element segments fills the table: no code writes
    it (`table.set/grow/fill/init`, `table.copy` into it) and the host cannot either (not imported or
    exported, or `--host-table module`, which trusts the host never to write it)."""
    gf = graph.gathered
    m = graph.module
    if table >= len(m.tables):
        return "no such table"
    if table in gf.table_writes:
        return f"code writes table {table} (table.set/grow/fill), so any slot may hold any address-taken function"
    if any(t == table for _e, t in gf.table_inits):
        return f"table.init copies into table {table} at run time"
    if any(dst == table for dst, _s in gf.table_copies):
        return f"table.copy copies into table {table} at run time"
    if graph.host_table == "sound" and table in graph.host_visible_tables():
        how = "imported" if m.tables[table].import_key is not None else "exported"
        return (f"table {table} is {how}: the host may write any slot (--host-table sound; "
                "--host-table module trusts it not to)")
    return None


def refine_indirect(graph: Graph, values: Values) -> dict[tuple[int, int, int], tuple[list[int], str, str]]:
    """For each (function, type, table) of `call_indirect` sites whose index is proven to lie in a
    set of slots: (targets, the index values in words, why). The targets are the typed ones that may
    be in those slots, so always a subset of the typed set. Also fills `graph.index_notes` with why
    the other sites' indices were not narrowed."""
    m = graph.module
    notes = graph.table_notes = {t: table_note(graph, t) for t in range(len(m.tables))}
    graph.index_notes = {}
    if all(notes.values()):
        return {}
    try:
        return _refine_sites(graph, values, notes)
    except InputError as exc:   # the binary cannot be read again: every site stays typed
        graph.table_notes = {t: note or f"the binary cannot be read again ({exc.message})" for t, note in notes.items()}
        graph.index_notes = {}
        return {}
    finally:
        values.limit = None


def _refine_sites(graph: Graph, values: Values, notes: dict[int, str | None]) -> dict[tuple[int, int, int], tuple[list[int], str, str]]:
    gf, m = graph.gathered, graph.module
    slots: dict[int, TableSlots] = {}
    out: dict[tuple[int, int, int], tuple[list[int], str, str]] = {}
    work = sorted((m.body_size(f), f) for f, sites in gf.indirect.items()
                  if any(tab is not None and not notes.get(tab, "none") for _t, tab in sites))
    for size, f in work:
        if size > SITE_BODY:
            for t, tab in gf.indirect[f]:
                if tab is not None and not notes.get(tab, "none"):
                    graph.index_notes[(f, t, tab)] = (f"{m.functions[f].name} is not interpreted ({size} bytes of code: "
                                                      f"the value analysis reads call_indirect sites in bodies up to {SITE_BODY})")
    work = [(size, f) for size, f in work if size <= SITE_BODY]
    external = set(graph.address_taken) | {e.index for e in m.exports if e.kind == "func"}
    values.limit = values.decoded + SITE_BUDGET   # the smallest bodies first, until the budget is spent
    with m.rereading():
        for _size, f in work:
            keys = [(t, tab) for t, tab in gf.indirect[f] if tab is not None and not notes.get(tab, "none")]
            if values.decoded > values.limit:   # the budget is spent: the rest stays typed, unread
                for t, tab in keys:
                    graph.index_notes[(f, t, tab)] = (f"{m.functions[f].name} is not interpreted (past the value "
                                                      f"analysis's budget of {SITE_BUDGET} bytes of code)")
                continue
            if values.memory_host is not None and _likely_unknown(m, f, {t for t, _ in keys}, f in external):
                for t, tab in keys:
                    graph.index_notes[(f, t, tab)] = (
                        f"the index comes from memory the host may write (memory 0 is {values.memory_host}): a "
                        f"load, or a local set from one (seen in the bytes; {m.functions[f].name} not interpreted)")
                continue
            s = values.summary(f)
            if s is None:
                why = values.unsupported.get(f) or f"past the value analysis's budget of {SITE_BUDGET} bytes of code"
                for t, tab in keys:
                    graph.index_notes[(f, t, tab)] = f"{m.functions[f].name} is not interpreted ({why})"
                continue
            for t, tab in keys:
                if tab not in slots:
                    table = m.tables[tab]
                    slots[tab] = TableSlots(values.facts, tab, table.minimum, graph.table_init_functions[tab])
                got = _site_targets(graph, values, slots[tab], s, t, tab)
                if isinstance(got, str):
                    graph.index_notes[(f, t, tab)] = got
                else:
                    out[(f, t, tab)] = got
    return out


SITE_BUDGET = 64 * 1024    # bytes of code `refine_indirect` interprets at most (smallest bodies first),
SITE_BODY = 4 * 1024       # and only functions up to this size hold the sites it reads (big ones rarely pay)


def _leb_at(data: bytes, i: int) -> tuple[int, int]:
    """A u32 LEB at i, or (-1, i) when the bytes end first."""
    try:
        return _leb(data, i)
    except IndexError:
        return -1, i


def _load_ends_at(data: bytes, p: int) -> bool:
    """Whether the bytes before p read as a load: opcode, one-byte alignment, offset ending at p."""
    for q in range(max(0, p - 7), p - 2):
        if 0x28 <= data[q] <= 0x35 and data[q + 1] < 0x40 and _leb_at(data, q + 2)[1] == p:
            return True
    return False


def _likely_unknown(m: Module, f: int, types: set[int], external: bool) -> bool:
    """A look at the raw bytes, for a module whose memory the host may write (loads are unknown):
    whether every `call_indirect` of these types takes its index from a load, or from a local that
    some load sets (or that is a parameter of a function called from outside). Then interpreting
    the body would find nothing. The bytes are not decoded, so this may misread; a wrong answer
    costs time or precision, never soundness (a skipped function keeps its typed targets)."""
    data = m.span(*_body_span(m, f))
    nparams = len(m.func_type(f).params)
    p = data.find(b"\x11")
    while p != -1:
        t, _ = _leb_at(data, p + 1)
        if t in types and not _load_ends_at(data, p) and not _local_from_load(data, p, nparams, external):
            return False
        p = data.find(b"\x11", p + 1)
    return True


def _local_from_load(data: bytes, p: int, nparams: int, external: bool) -> bool:
    for q in range(max(0, p - 5), p - 1):
        if data[q] != 0x20:
            continue
        x, end = _leb_at(data, q + 1)
        if end != p:
            continue
        if x < nparams and external:
            return True
        enc = _uleb_bytes(x)
        for opcode in (0x21, 0x22):
            pattern = bytes((opcode,)) + enc
            k = data.find(pattern)
            while k != -1:
                if _load_ends_at(data, k):
                    return True
                k = data.find(pattern, k + 1)
    return False


def _uleb_bytes(x: int) -> bytes:
    out = bytearray()
    while True:
        b, x = x & 0x7F, x >> 7
        out.append(b | 0x80 if x else b)
        if not x:
            return bytes(out)


def _body_span(m: Module, f: int) -> tuple[int, int]:
    i = f - m.num_imported_functions
    return m.code.bodies[2 * i], m.code.bodies[2 * i + 1]  # type: ignore[union-attr]


def _site_targets(graph: Graph, values: Values, slots: TableSlots, s: Summary, t: int,
                  tab: int) -> tuple[list[int], str, str] | str:
    """Targets of one function's sites of (type, table), or why their index is not known."""
    union: AbsVal = EMPTY
    funcs: set[int] = set()
    proofs: list[str] = []
    for _at, t2, tab2, node in s.indirect:
        if (t2, tab2) != (t, tab):
            continue
        v = values.value(node)
        got = slots.functions(v)
        if got is None:
            return f"the index is not known: {values.explain(node)}"
        funcs |= got
        union = join_values(union, v)
        text = values.explain(node)
        if text not in proofs:
            proofs.append(text)
    typed = graph.typed_targets(t, tab)
    targets = [x for x in typed if x in funcs]
    why = "; ".join(proofs[:3]) + ("; …" if len(proofs) > 3 else "")
    return targets, show(union), why
