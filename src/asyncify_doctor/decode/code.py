"""Scanning function bodies: one pass over every instruction, keeping only what the analysis needs.

What is kept per function (as events, deduplicated per function in first-seen order): direct
callees, `call_indirect` sites (type, table), `call_ref` sites (type), `ref.func` targets, global
reads and writes, table writes. Plus per-function counts (instructions, calls, indirect calls) so
exactness can be checked against an independent decoder, and the classes of instruction and type the
code holds (`Uses`: which wasm features it needs, see features.py).

`scan_code` and `scan_data` are accelerator twins (see `asyncify_doctor.accel`): `scan_code_py` and
`scan_data_py` here, and the same walks in C (accel/native/decode.c: PHP's 23 MB in well under a
second), driven by the same tables (`opcodes`), tested equal (tests/test_accel.py).
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Callable

from .. import accel
from ..errors import DecodeError
from . import opcodes as op
from .reader import Reader

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def _no_uses() -> array:
    return array("I", [op.NO_OFFSET]) * op.NUM_USES


@dataclass
class Uses:
    """The classes of instruction and type (`opcodes.U_*`) a part of the binary holds: bit k of `mask`
    for class k, and `first[k]` the byte offset of its first use (`opcodes.NO_OFFSET` if none)."""

    mask: int = 0
    first: array = field(default_factory=_no_uses)

    def in_order(self) -> list[tuple[int, int]]:
        """(class, offset of its first use) of each class used, in file order."""
        return sorted(((k, self.first[k]) for k in range(op.NUM_USES) if self.mask >> k & 1), key=lambda ko: ko[1])


@dataclass
class CodeScan:
    """Flat results of scanning the code section (arrays keep 23 MB binaries cheap in memory).

    bodies: (offset, size) per defined function, offset of the body's first byte in the file.
    events: (function index, event, a, b) quads, see `opcodes.EV_*`.
    counts: (instructions, calls, indirect calls) per defined function.
    uses: the classes of instruction and type the bodies hold (`Uses`).
    """

    bodies: array
    events: array
    counts: array
    uses: Uses = field(default_factory=Uses)


class _Ctx:
    """Per-scan state shared by the helpers of the pure-Python scanner."""

    __slots__ = ("base_uses", "data_count", "events", "first", "func", "multi", "num_funcs", "num_globals", "r",
                 "seen", "uses")

    def __init__(self, r: Reader, num_funcs: int, num_globals: int, data_count: bool = True, const: bool = False,
                 multi: bytes = b"") -> None:
        self.r = r
        self.num_funcs = num_funcs
        self.num_globals = num_globals
        self.data_count = data_count   # the module has a data count section (code may name data segments)
        self.events = array("I")
        self.seen: set[tuple[int, int, int]] = set()
        self.func = 0
        self.base_uses = op.CONST_BASE_USES if const else op.BASE_USES   # a constant expression: extended-const
        self.multi = multi             # per type index: a block of that type is multi-value
        self.uses = 0
        self.first = _no_uses()

    def use(self, k: int, offset: int) -> None:
        """The code holds class k (`opcodes.U_*`, or NO_USE: nothing) at `offset`."""
        if k != op.NO_USE and not self.uses >> k & 1:
            self.uses |= 1 << k
            self.first[k] = offset

    def emit(self, event: int, a: int, b: int, offset: int) -> None:
        base = event & ~op.EV_TAIL
        if base in (op.EV_CALL, op.EV_REF_FUNC) and a >= self.num_funcs:
            raise self.r.error(f"function index {a} out of range ({self.num_funcs} functions)", offset)
        if base in (op.EV_GLOBAL_GET, op.EV_GLOBAL_SET) and a >= self.num_globals:
            raise self.r.error(f"global index {a} out of range ({self.num_globals} globals)", offset)
        if event == op.EV_DATA and not self.data_count:
            raise self.r.error("memory.init, data.drop or array.*_data need the data count section, which is missing", offset)
        key = (event, a, b)
        if key not in self.seen:
            self.seen.add(key)
            self.events.extend((self.func, event, a, b))


# Abstract heap types, each one byte (wasmparser's `AbstractHeapType`): func extern any none noextern
# nofunc eq struct array i31 exn noexn cont nocont. Value types add the numeric ones.
ABSTRACT_HEAP_BYTES = frozenset((0x70, 0x6F, 0x6E, 0x71, 0x72, 0x73, 0x6D, 0x6B, 0x6A, 0x6C, 0x69, 0x74, 0x68, 0x75))
NUMERIC_BYTES = frozenset((0x7F, 0x7E, 0x7D, 0x7C, 0x7B))
SHARED = 0x65   # shared-everything threads: `(shared <abstract heap type>)`
EXACT = 0x62    # custom descriptors: `(exact <type index>)`, only inside a heap type


def read_heaptype(r: Reader) -> tuple[int, bool, bool]:
    """A heap type: (s33 value, shared, exact). A concrete type index is >= 0; an abstract type is
    the negative s33 of its byte, optionally after the shared prefix; `exact` prefixes a type index.
    Exactly wasmparser's `HeapType::from_reader`: one byte for every negative form, no overlong ones."""
    at = r.pos
    b = r.u8()
    if b & 0xC0 != 0x40:          # a non-negative s33: a concrete type index
        r.pos = at
        v = r.s33()
        if v < 0:
            raise r.error("invalid heap type (overlong encoding)", at)
        return v, False, False
    if b == SHARED:
        a = r.u8()
        if a not in ABSTRACT_HEAP_BYTES:
            raise r.error(f"invalid heap type 0x{a:02x} after `shared`", r.pos - 1)
        return a - 0x80, True, False
    if b == EXACT:
        return r.u32(), False, True
    if b not in ABSTRACT_HEAP_BYTES:
        raise r.error(f"invalid heap type 0x{b:02x}", at)
    return b - 0x80, False, False


def read_valtype(r: Reader) -> int:
    """Read a value type (its first byte is returned): a numeric type, an abstract reference type
    (optionally `shared`), or `ref`/`ref null` of a heap type. Anything else is malformed."""
    b = r.u8()
    if b in NUMERIC_BYTES or b in ABSTRACT_HEAP_BYTES:
        return b
    if b in (0x63, 0x64):
        read_heaptype(r)
    elif b == SHARED:
        a = r.u8()
        if a not in ABSTRACT_HEAP_BYTES:
            raise r.error(f"invalid reference type 0x{a:02x} after `shared`", r.pos - 1)
    else:
        raise r.error(f"invalid value type 0x{b:02x}", r.pos - 1)
    return b


def read_heaptype_use(r: Reader) -> int:
    """Read a heap type; its use class (`opcodes.TYPE_USES`; a type index: U_GCREF)."""
    heap = read_heaptype(r)[0]
    return op.U_GCREF if heap >= 0 else op.TYPE_USES[heap + 0x80]


def read_valtype_use(r: Reader) -> int:
    """Read a value type; its use class (`opcodes.TYPE_USES`, or the heap type's for `ref`/`ref null`)."""
    if r.pos < r.end and r.data[r.pos] in (0x63, 0x64):
        r.pos += 1
        return read_heaptype_use(r)
    return op.TYPE_USES[read_valtype(r)]


def read_blocktype(r: Reader, multi: bytes = b"") -> int:
    """Read a block type; its use class: its value type's, U_MULTI_VALUE for a type index that `multi`
    marks (a type with parameters or several results), else NO_USE."""
    b = r.data[r.pos] if r.pos < r.end else r.u8()
    if b == 0x40:
        r.pos += 1
        return op.NO_USE
    if b & 0xC0 == 0x40:
        return read_valtype_use(r)
    t = r.s33()
    if t < 0:
        raise r.error("invalid block type", r.pos - 1)
    return op.U_MULTI_VALUE if t < len(multi) and multi[t] else op.NO_USE


def read_ordering(r: Reader) -> None:
    """The memory-order immediate of shared-everything atomics: 0 seq_cst, 1 acq_rel."""
    at = r.pos
    order = r.u32()
    if order > 1:
        raise r.error(f"invalid atomic ordering {order}", at)


def read_memarg(r: Reader) -> int:
    """Read a memarg; its memory index."""
    at = r.pos
    flags = r.u32()
    if flags >= 0x80:  # alignment (bits 0-5) and a memory index (bit 6) only
        raise r.error(f"malformed memarg flags 0x{flags:x}", at)
    memory = r.u32() if flags & 0x40 else 0   # multi-memory
    r.u64()      # offset (u64 for memory64)
    return memory


def _resume_table(r: Reader) -> None:
    for _ in range(r.u32()):
        at = r.pos
        kind = r.u8()
        r.u32()
        if kind == 0x00:
            r.u32()
        elif kind != 0x01:
            raise r.error(f"invalid resume handler kind 0x{kind:02x}", at)


def _try_table(r: Reader, multi: bytes = b"") -> int:
    """Read try_table's immediates; its block type's use class."""
    use = read_blocktype(r, multi)
    for _ in range(r.u32()):
        kind = r.u8()
        if kind in (0x00, 0x01):
            r.u32()
            r.u32()
        elif kind in (0x02, 0x03):
            r.u32()
        else:
            raise r.error(f"invalid try_table catch kind 0x{kind:02x}", r.pos - 1)
    return use


def _immediates(ctx: _Ctx, kind: int, event: int, start: int) -> None:
    """Skip one instruction's immediates, emitting its event and noting the uses they show. Slow path for
    the rarer kinds."""
    r = ctx.r
    if kind == op.U32X2:
        a = r.u32()
        b = r.u32()
        if event:
            ctx.emit(event, a, b, start)
            if b and event & ~op.EV_TAIL == op.EV_CALL_INDIRECT:
                ctx.use(op.U_OTHER_TABLE, start)
    elif kind == op.MEMARG:
        if read_memarg(r):
            ctx.use(op.U_MULTI_MEMORY, start)
    elif kind == op.MEMIDX:
        if r.u32():
            ctx.use(op.U_MULTI_MEMORY, start)
    elif kind == op.I64:
        r.sleb(10, 64)
    elif kind == op.I32:
        r.sleb(5, 32)
    elif kind == op.BYTES4:
        r.bytes(4)
    elif kind == op.BYTES8:
        r.bytes(8)
    elif kind == op.BR_TABLE:
        for _ in range(r.u32() + 1):
            r.u32()
    elif kind == op.SELECT_T:
        for _ in range(r.u32()):
            ctx.use(read_valtype_use(r), start)
    elif kind == op.HEAPTYPE:
        read_heaptype(r)
    elif kind == op.BYTES16:
        r.bytes(16)
    elif kind == op.MEMARG_LANE:
        if read_memarg(r):
            ctx.use(op.U_MULTI_MEMORY, start)
        r.u8()
    elif kind == op.BYTE:
        r.u8()
    elif kind == op.ORDER_U32:
        read_ordering(r)
        a = r.u32()
        if event:
            ctx.emit(event, a, 0, start)
    elif kind == op.ORDER_U32X2:
        read_ordering(r)
        r.u32()
        r.u32()
    elif kind == op.ZERO:
        if r.u8() != 0:
            raise r.error("the byte after atomic.fence must be 0x00", r.pos - 1)
    elif kind == op.CAST:
        flags = r.u8()
        if flags > 3:
            raise r.error(f"invalid cast flags 0x{flags:02x}", r.pos - 1)
        r.u32()
        read_heaptype(r)
        read_heaptype(r)
    elif kind == op.RESUME:
        r.u32()
        _resume_table(r)
    elif kind == op.RESUME_THROW:
        r.u32()
        r.u32()
        _resume_table(r)
    else:  # pragma: no cover - the table only holds the kinds above
        raise r.error(f"internal: unknown immediate kind {kind}", start)


_CALLS = (op.EV_CALL, op.EV_CALL_INDIRECT)


class _CheckWatch:
    """Spots Asyncify's unwind check right after a call: `global.get G; i32.const 1; i32.eq|ne` (either
    operand order), with only `CHECK_TRANSPARENT` instructions between the call and it. Binaryen puts
    that check after exactly the calls it treated as able to unwind (AsyncifyFlow::makePossibleUnwind),
    so an asyncified binary says which callees its build considered async. decode.c does the same."""

    __slots__ = ("ctx", "pending", "hist")

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx
        self.pending: int | None = None      # callee of the call being watched (NO_CALLEE: call_indirect)
        self.hist: list[tuple[int, int]] = []  # (opcode, immediate) since that call

    def step(self, code: int, event: int, imm: int, at: int) -> None:
        if event in _CALLS:  # a (non-tail) call starts a new window
            self.pending, self.hist = (imm if event == op.EV_CALL else op.NO_CALLEE), []
            return
        if code in (op.I32_EQ, op.I32_NE) and len(self.hist) >= 2:
            (c1, v1), (c2, v2) = self.hist[-2:]
            if c1 == op.GLOBAL_GET and (c2, v2) == (op.I32_CONST, 1):
                self.ctx.emit(op.EV_CALL_CHECK, self.pending, v1, at)  # type: ignore[arg-type]
            elif (c1, v1) == (op.I32_CONST, 1) and c2 == op.GLOBAL_GET:
                self.ctx.emit(op.EV_CALL_CHECK, self.pending, v2, at)  # type: ignore[arg-type]
        if code not in op.CHECK_TRANSPARENT or len(self.hist) >= op.CHECK_WINDOW:
            self.pending = None
        else:
            self.hist.append((code, imm))


def scan_expr(ctx: _Ctx, func_index: int | None = None) -> tuple[int, int, int]:
    """Scan instructions up to the `end` that closes the expression (or body).

    Returns (instructions, direct calls, indirect calls). Errors name the function when known.
    """
    r = ctx.r
    data = r.data
    kinds, events, base_uses = op.BASE_KINDS, op.BASE_EVENTS, ctx.base_uses
    prefix_tables, prefix_uses, no_use = op.PREFIX_TABLES, op.PREFIX_USES, op.NO_USE
    depth = 1
    n_instr = n_calls = n_indirect = 0
    watch = _CheckWatch(ctx)
    try:
        while True:
            start = r.pos
            if start >= r.end:
                raise r.error("function body or expression ends without its final `end`")
            code = data[start]
            r.pos = start + 1
            kind = kinds[code]
            event = events[code]
            use = base_uses[code]
            if code >= 0xFB and code in prefix_tables:
                sub = r.u32()
                pk, pe = prefix_tables[code]
                if sub >= len(pk) or pk[sub] == op.ILLEGAL:
                    raise r.error(f"unknown opcode 0x{code:02x} 0x{sub:x} ({op.PREFIX_NAMES[code]} prefix)", start)
                kind, event, use = pk[sub], pe[sub], prefix_uses[code][sub]
            elif kind == op.ILLEGAL:
                raise r.error(f"unknown opcode 0x{code:02x}", start)
            if use != no_use:
                ctx.use(use, start)
            n_instr += 1
            imm = 0
            if kind == op.NONE:
                if event == op.EV_END:
                    depth -= 1
                    if depth == 0:
                        return n_instr, n_calls, n_indirect
            elif kind == op.I32:
                imm = r.sleb(5, 32)
            elif kind == op.U32:
                a = imm = r.u32()
                if event:
                    base = event & ~op.EV_TAIL
                    if base == op.EV_END:
                        depth -= 1
                        if depth == 0:
                            return n_instr, n_calls, n_indirect
                    else:
                        if base == op.EV_CALL:
                            n_calls += 1
                        elif base == op.EV_CALL_REF:
                            n_indirect += 1
                        ctx.emit(event, a, 0, start)
            elif kind == op.BLOCK:
                ctx.use(read_blocktype(r, ctx.multi), start)
                depth += 1
            elif kind == op.TRY_TABLE:
                ctx.use(_try_table(r, ctx.multi), start)
                depth += 1
            elif kind == op.HEAPTYPE and code == 0xD0:   # ref.null: the type it makes
                ctx.use(read_heaptype_use(r), start)
            else:
                if event & ~op.EV_TAIL == op.EV_CALL_INDIRECT:
                    n_indirect += 1
                _immediates(ctx, kind, event, start)
            if watch.pending is not None or event in _CALLS:
                watch.step(code, event, imm, start)
    except DecodeError as exc:
        if func_index is not None and exc.function is None:
            raise DecodeError(exc.path, exc.offset, exc.message, func_index) from None
        raise


def scan_code_py(data: bytes, start: int, end: int, num_imported: int, num_funcs: int,
                 num_globals: int, path: str = "<wasm>", progress: Progress | None = None,
                 data_count: bool = True, multi: bytes = b"") -> CodeScan:
    """Pure-Python scan of the code section's contents `data[start:end]`. Without `data_count` (the
    module has no data count section), an instruction that names a data segment is an error. `multi`:
    per type index, 1 if a block of that type is multi-value (parameters, or several results)."""
    r = Reader(data, start, end, path)
    ctx = _Ctx(r, num_funcs, num_globals, data_count, multi=multi)
    bodies, counts = array("I"), array("I")
    count = r.u32()
    for i in range(count):
        size = r.u32()
        body_start = r.pos
        body = r.sub(size)
        ctx.r = body
        ctx.func = num_imported + i
        ctx.seen.clear()
        try:
            total = 0
            for _ in range(body.u32()):
                at = body.pos
                total += body.u32()
                if total > 0xFFFFFFFF:
                    raise body.error("too many locals (more than 2^32 - 1)", at)
                at = body.pos
                ctx.use(read_valtype_use(body), at)
        except DecodeError as exc:
            raise DecodeError(exc.path, exc.offset, f"in local declarations: {exc.message}", ctx.func) from None
        counts.extend(scan_expr(ctx, ctx.func))
        if body.pos != body.end:
            raise DecodeError(path, body.pos, "bytes after the function body's final `end`", ctx.func)
        bodies.extend((body_start, size))
        if progress is not None and i % 256 == 0:
            progress(r.pos - start, end - start)
    if r.pos != end:
        raise r.error("bytes after the last function body in the code section")
    return CodeScan(bodies, ctx.events, counts, Uses(ctx.uses, ctx.first))


def scan_data_py(data: bytes, start: int, end: int, num_funcs: int, num_globals: int,
                 path: str = "<wasm>") -> tuple[int, Uses]:
    """The data section's contents `data[start:end]`: nothing the analysis needs, but read to their
    last byte so that a malformed segment is an error, not silently accepted (the bytes are skipped,
    not copied; PHP has 78,697 segments). Returns the position after the last segment, and the uses
    (passive segments, memories other than 0, the classes of the offset expressions)."""
    r = Reader(data, start, end, path)
    ctx = _Ctx(r, num_funcs, num_globals, const=True)
    for _ in range(r.u32()):
        at = r.pos
        flags = r.u32()
        if flags > 2:
            raise r.error(f"invalid data segment flags {flags}", at)
        if flags == 1:
            ctx.use(op.U_PASSIVE_DATA, at)
        elif flags == 2 and r.u32():   # memory index
            ctx.use(op.U_DATA_MEMORY, at)
        if flags != 1:
            scan_expr(ctx)  # the offset expression
        size = r.u32()
        if size > r.end - r.pos:
            raise r.error(f"data segment of {size} bytes runs past the end ({r.end - r.pos} bytes left)")
        r.pos += size
    return r.pos, Uses(ctx.uses, ctx.first)


def scan_const_expr(r: Reader, num_funcs: int, num_globals: int) -> list[tuple[int, int, int]]:
    """Scan an init expression (global, element item, segment offset); returns its events."""
    ctx = _Ctx(r, num_funcs, num_globals, const=True)
    scan_expr(ctx)
    return [tuple(ctx.events[i + 1:i + 4]) for i in range(0, len(ctx.events), 4)]  # type: ignore[misc]


def const_expr_uses(r: Reader) -> Uses:
    """The uses of the constant expression at `r` (a global, table or element initializer)."""
    ctx = _Ctx(r, 1 << 32, 1 << 32, const=True)
    scan_expr(ctx)
    return Uses(ctx.uses, ctx.first)


# --- the C twins (accel/native/decode.c), driven by the same tables -------------------------------

_TABLES = op.packed_tables()


def _raise(res: tuple, path: str) -> None:
    """The C side's ("error", offset, function or -1, message) as the Python twin raises it."""
    _, offset, func, message = res
    raise DecodeError(path, offset, message, None if func < 0 else func)


def _uses_native(mask: int, first: bytes) -> Uses:
    return Uses(mask, accel.u32s(first)[:op.NUM_USES])


def _scan_code_native(data: bytes, start: int, end: int, num_imported: int, num_funcs: int,
                      num_globals: int, path: str = "<wasm>", progress: Progress | None = None,
                      data_count: bool = True, multi: bytes = b"") -> CodeScan:
    """Big sections are scanned as two halves on two threads (no progress: it takes well under a second)."""
    res = accel.native.scan(data, start, end, num_imported, num_funcs, num_globals, _TABLES, data_count, multi)
    if res[0] == "error":
        _raise(res, path)
    bodies, events, counts, mask, first = res
    return CodeScan(accel.u32s(bodies), accel.u32s(events), accel.u32s(counts), _uses_native(mask, first))


def _scan_data_native(data: bytes, start: int, end: int, num_funcs: int, num_globals: int,
                      path: str = "<wasm>") -> tuple[int, Uses]:
    res = accel.native.data(data, start, end, num_funcs, num_globals, _TABLES)
    if res[0] == "error":
        _raise(res, path)
    return res[0], _uses_native(res[1], res[2])


scan_code = accel.twin("scan_code", scan_code_py, _scan_code_native)
scan_data = accel.twin("scan_data", scan_data_py, _scan_data_native)


def body_ops(data: bytes, start: int, size: int, path: str = "<wasm>", limit: int | None = None) -> list[tuple[int, int]]:
    """A function body as (opcode, immediate) pairs, for reading small bodies instruction by
    instruction (the Asyncify runtime functions). Prefixed opcodes are `prefix << 16 | sub`; the
    immediate is the index of U32 kinds, the value of i32/i64.const, a memarg's offset, else 0.
    `limit`: stop after that many instructions (the start of a body is often all that matters)."""
    r = Reader(data, start, start + size, path)
    for _ in range(r.u32()):
        r.u32()
        read_valtype(r)
    out: list[tuple[int, int]] = []
    depth = 1
    while depth and (limit is None or len(out) < limit):
        code = r.u8()
        kind = op.BASE_KINDS[code]
        if code in op.PREFIX_TABLES:
            sub = r.u32()
            kinds = op.PREFIX_TABLES[code][0]
            kind = kinds[sub] if sub < len(kinds) else op.ILLEGAL
            code = code << 16 | sub
        if kind == op.ILLEGAL:
            raise r.error(f"unknown opcode 0x{code:x}")
        imm = 0
        if kind == op.U32:
            imm = r.u32()
        elif kind in (op.I32, op.I64):
            imm = r.sleb(5, 32) if kind == op.I32 else r.sleb(10, 64)
        elif kind == op.MEMARG:
            if r.u32() & 0x40:
                r.u32()
            imm = r.u64()
        elif kind == op.BLOCK:
            read_blocktype(r)
        elif kind == op.TRY_TABLE:
            _try_table(r)
        elif kind != op.NONE:
            _immediates(_Ctx(r, 1 << 32, 1 << 32), kind, op.EV_NONE, r.pos)
        if kind in (op.BLOCK, op.TRY_TABLE):
            depth += 1
        elif code < 256 and op.BASE_EVENTS[code] == op.EV_END:
            depth -= 1
        out.append((code, imm))
    return out
