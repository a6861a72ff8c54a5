"""The instruction table: how long each opcode's immediates are, which ones the analysis cares about,
and which proposal each belongs to.

This one table drives both code scanners (pure Python in `code.py`, C in `accel/native/decode.c`), so
they cannot drift apart. Opcode numbers follow the spec and wasmparser's `binary_reader.rs`; an opcode that is
not here is an error, never a silent skip.
"""
from __future__ import annotations

# --- immediate kinds --------------------------------------------------------------------------
NONE = 0          # no immediate
BLOCK = 1         # blocktype; opens a block (block/loop/if/try)
U32 = 2           # one LEB u32 (index or label)
U32X2 = 3         # two LEB u32
BR_TABLE = 4      # vec(u32) u32
MEMARG = 5        # memarg (align flags [+ memidx if bit 6], offset u64 LEB)
I32 = 6           # s32 LEB
I64 = 7           # s64 LEB
BYTES4 = 8        # f32
BYTES8 = 9        # f64
SELECT_T = 10     # vec(valtype)
HEAPTYPE = 11     # s33 heap type
TRY_TABLE = 12    # blocktype vec(catch); opens a block
BYTES16 = 13      # v128.const, i8x16.shuffle
MEMARG_LANE = 14  # memarg + lane byte
BYTE = 15         # one raw byte (lane index, atomic.fence flags)
CAST = 16         # flags byte, label u32, heaptype, heaptype (br_on_cast[_fail])
RESUME = 17       # typeidx, resume table (stack switching)
RESUME_THROW = 18 # typeidx, tagidx, resume table
ORDER_U32 = 19    # memory order, u32 (shared-everything atomics on globals, tables, arrays)
ORDER_U32X2 = 20  # memory order, u32, u32 (atomics on struct fields)
ZERO = 21         # one byte that must be 0x00 (atomic.fence)
MEMIDX = 22       # one LEB u32 naming a memory (memory.size, memory.grow)
ILLEGAL = 255

# --- events: what a scanner reports to the call graph ----------------------------------------
EV_NONE = 0
EV_CALL = 1             # call f / return_call f                  (a = function index)
EV_CALL_INDIRECT = 2    # call_indirect / return_call_indirect    (a = type index, b = table)
EV_CALL_REF = 3         # call_ref / return_call_ref              (a = type index)
EV_REF_FUNC = 4         # ref.func f: f is address-taken          (a = function index)
EV_GLOBAL_GET = 5       # (a = global index)
EV_GLOBAL_SET = 6       # (a = global index)
EV_TABLE_WRITE = 7      # table.set / table.grow / table.fill     (a = table index)
EV_TABLE_INIT = 8       # table.init elem table                   (a = elem segment, b = table)
EV_TABLE_COPY = 9       # table.copy dst src                      (a = dst table, b = src table)
EV_END = 10             # end / delegate: closes a block
EV_DATA = 11            # memory.init / data.drop (a = data index), array.new_data / array.init_data (b = data
                        # index): the binary format then requires the data count section
EV_CALL_CHECK = 12      # a call followed by Asyncify's unwind check `global.get G; i32.const 1; i32.eq|ne`
                        #   (a = callee, or NO_CALLEE for call_indirect; b = the global G compared with 1)
EV_TAIL = 16            # flag or-ed onto CALL/CALL_INDIRECT/CALL_REF for the return_call forms

NO_CALLEE = 0xFFFFFFFF  # EV_CALL_CHECK's callee for a call_indirect

# Between a call and Asyncify's unwind check after it, Binaryen's output (at -O0..-O3) has only
# these: the result moved to a local or dropped, a constant (the `br_if` value), the state read
# itself, and the `end` of blocks the optimizer closed there. Anything else ends the window.
CHECK_WINDOW = 8
CHECK_TRANSPARENT = (0x01, 0x0B, 0x1A, 0x20, 0x21, 0x22, 0x23, 0x41, 0x42, 0x43, 0x44)  # nop end drop local.* global.get consts
I32_CONST, GLOBAL_GET, I32_EQ, I32_NE = 0x41, 0x23, 0x46, 0x47

PREFIXES = (0xFB, 0xFC, 0xFD, 0xFE)
PREFIX_SIZE = 0x114  # longest sub-opcode space (relaxed SIMD ends at 0xFD 0x113)


def _table(size: int) -> tuple[list[int], list[int]]:
    return [ILLEGAL] * size, [EV_NONE] * size


def _set(kinds: list[int], events: list[int], ops: range | list[int], kind: int, event: int = EV_NONE) -> None:
    for op in ops:
        kinds[op] = kind
        events[op] = event


def _base() -> tuple[list[int], list[int]]:
    k, e = _table(256)
    _set(k, e, [0x00, 0x01, 0x0A, 0x0F, 0x1A, 0x1B, 0x05, 0x19], NONE)   # unreachable nop throw_ref return drop select else catch_all
    _set(k, e, [0x0B], NONE, EV_END)
    _set(k, e, [0x02, 0x03, 0x04, 0x06], BLOCK)                            # block loop if try
    _set(k, e, [0x07, 0x08, 0x09, 0x0C, 0x0D], U32)                        # catch throw rethrow br br_if
    _set(k, e, [0x18], U32, EV_END)                                        # delegate closes a try
    _set(k, e, [0x0E], BR_TABLE)
    _set(k, e, [0x10], U32, EV_CALL)
    _set(k, e, [0x12], U32, EV_CALL | EV_TAIL)
    _set(k, e, [0x11], U32X2, EV_CALL_INDIRECT)
    _set(k, e, [0x13], U32X2, EV_CALL_INDIRECT | EV_TAIL)
    _set(k, e, [0x14], U32, EV_CALL_REF)
    _set(k, e, [0x15], U32, EV_CALL_REF | EV_TAIL)
    _set(k, e, [0x1C], SELECT_T)
    _set(k, e, [0x1F], TRY_TABLE)
    _set(k, e, [0x20, 0x21, 0x22, 0x25], U32)                              # local.get/set/tee table.get
    _set(k, e, [0x23], U32, EV_GLOBAL_GET)
    _set(k, e, [0x24], U32, EV_GLOBAL_SET)
    _set(k, e, [0x26], U32, EV_TABLE_WRITE)
    _set(k, e, range(0x28, 0x3F), MEMARG)                                  # loads and stores
    _set(k, e, [0x3F, 0x40], MEMIDX)                                       # memory.size/grow memidx
    _set(k, e, [0x41], I32)
    _set(k, e, [0x42], I64)
    _set(k, e, [0x43], BYTES4)
    _set(k, e, [0x44], BYTES8)
    _set(k, e, range(0x45, 0xC5), NONE)                                    # numeric
    _set(k, e, [0xD0], HEAPTYPE)                                           # ref.null
    _set(k, e, [0xD1, 0xD3, 0xD4], NONE)                                   # ref.is_null ref.eq ref.as_non_null
    _set(k, e, [0xD2], U32, EV_REF_FUNC)
    _set(k, e, [0xD5, 0xD6], U32)                                          # br_on_null br_on_non_null
    _set(k, e, [0xE0, 0xE2], U32)                                          # cont.new suspend
    _set(k, e, [0xE1, 0xE6], U32X2)                                        # cont.bind switch
    _set(k, e, [0xE3, 0xE5], RESUME)                                       # resume resume_throw_ref
    _set(k, e, [0xE4], RESUME_THROW)
    return k, e


def _gc() -> tuple[list[int], list[int]]:
    k, e = _table(PREFIX_SIZE)
    _set(k, e, [0x00, 0x01, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x10, 0x20, 0x21], U32)
    _set(k, e, [0x02, 0x03, 0x04, 0x05, 0x08, 0x0A, 0x11, 0x13], U32X2)
    _set(k, e, [0x09, 0x12], U32X2, EV_DATA)        # array.new_data array.init_data
    _set(k, e, [0x0F, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E], NONE)
    _set(k, e, [0x14, 0x15, 0x16, 0x17, 0x22, 0x23, 0x24], HEAPTYPE)  # ref.test/cast; custom descriptors' ref.get_desc, ref.cast_desc_eq
    _set(k, e, [0x18, 0x19, 0x25, 0x26], CAST)
    return k, e


def _misc() -> tuple[list[int], list[int]]:
    k, e = _table(PREFIX_SIZE)
    _set(k, e, range(0x00, 0x08), NONE)            # trunc_sat
    _set(k, e, [0x08], U32X2, EV_DATA)             # memory.init
    _set(k, e, [0x0A], U32X2)                      # memory.copy
    _set(k, e, [0x09], U32, EV_DATA)               # data.drop
    _set(k, e, [0x0B, 0x0D, 0x10, 0x12], U32)      # memory.fill elem.drop table.size memory.discard
    _set(k, e, [0x0C], U32X2, EV_TABLE_INIT)
    _set(k, e, [0x0E], U32X2, EV_TABLE_COPY)
    _set(k, e, [0x0F, 0x11], U32, EV_TABLE_WRITE)  # table.grow table.fill
    _set(k, e, range(0x13, 0x17), NONE)            # wide arithmetic
    return k, e


_SIMD_GAPS = {0x9A, 0xA2, 0xA5, 0xA6, 0xAF, 0xB0, 0xB2, 0xB3, 0xB4, 0xBB, 0xC2, 0xC5, 0xC6, 0xCF,
              0xD0, 0xD2, 0xD3, 0xD4, 0xE2, 0xEE}


def _simd() -> tuple[list[int], list[int]]:
    k, e = _table(PREFIX_SIZE)
    _set(k, e, [op for op in range(0x0E, 0x114) if op not in _SIMD_GAPS], NONE)
    _set(k, e, range(0x00, 0x0C), MEMARG)
    _set(k, e, [0x0C, 0x0D], BYTES16)
    _set(k, e, range(0x15, 0x23), BYTE)            # extract/replace lane
    _set(k, e, range(0x54, 0x5C), MEMARG_LANE)
    _set(k, e, [0x5C, 0x5D], MEMARG)               # load32_zero load64_zero
    return k, e


def _atomic() -> tuple[list[int], list[int]]:
    k, e = _table(PREFIX_SIZE)
    _set(k, e, [0x00, 0x01, 0x02], MEMARG)
    _set(k, e, [0x03], ZERO)                       # atomic.fence
    _set(k, e, range(0x10, 0x4F), MEMARG)
    # shared-everything threads (wasmparser `visit_0xfe_operator`): global.atomic.get/set/rmw.*,
    # table.atomic.get/set/rmw.xchg/cmpxchg, struct.atomic.*, array.atomic.*, ref.i31_shared
    _set(k, e, [0x4F], ORDER_U32, EV_GLOBAL_GET)
    _set(k, e, range(0x50, 0x58), ORDER_U32, EV_GLOBAL_SET)
    _set(k, e, [0x58], ORDER_U32)
    _set(k, e, range(0x59, 0x5C), ORDER_U32, EV_TABLE_WRITE)
    _set(k, e, range(0x5C, 0x67), ORDER_U32X2)
    _set(k, e, range(0x67, 0x72), ORDER_U32)
    _set(k, e, [0x72], NONE)
    return k, e


# --- uses: the classes of instruction and type a body holds, one bit each ----------------------
# Both scanners set bit k of their `uses` mask (and note the offset of its first use) where the code
# holds class k: the opcode's class from the tables below, plus the classes its immediates show (a
# memory or table other than 0, the types of locals, blocks, `select t` and `ref.null`). features.py
# says which wasm feature each class needs; the scanners collect them in their one pass, so knowing a
# binary's features costs no second pass over its code.
U_EXCEPTIONS = 0          # try catch throw rethrow throw_ref delegate catch_all try_table
U_TAIL_CALL = 1           # return_call return_call_indirect return_call_ref
U_TYPED_REF = 2           # call_ref ref.eq ref.as_non_null br_on_null br_on_non_null
U_REF = 3                 # ref.null ref.is_null ref.func `select t` table.get table.set
U_SIGN_EXT = 4            # i32.extend8_s … i64.extend32_s
U_STACK_SWITCHING = 5     # cont.new … switch
U_SAT_CONV = 6            # 0xfc 0x00-0x07: non-trapping float-to-int
U_BULK = 7                # memory.init data.drop table.init elem.drop table.copy
U_BULK_OPT = 8            # memory.copy memory.fill
U_TABLE_REF = 9           # table.grow table.size
U_TABLE_FILL = 10         # table.fill
U_WIDE = 11               # wide arithmetic (0xfc 0x13-0x16)
U_MEMORY_CONTROL = 12     # the other 0xfc opcodes (memory.discard)
U_SIMD = 13               # 0xfd below 0x100
U_RELAXED_SIMD = 14       # 0xfd 0x100 and above
U_ATOMICS = 15            # 0xfe below 0x4f: threads
U_SHARED_ATOMICS = 16     # 0xfe 0x4f and above: shared-everything threads' atomics on globals, tables, GC
U_GC = 17                 # 0xfb below 0x22
U_CUSTOM_DESCRIPTORS = 18 # 0xfb 0x22 and above
U_MULTI_MEMORY = 19       # a memarg, memory.size or memory.grow of a memory other than 0
U_OTHER_TABLE = 20        # call_indirect / return_call_indirect of a table other than 0
U_V128 = 21               # types of locals, blocks, `select t`, `ref.null` (TYPE_USES): v128
U_REFTYPE = 22            #   funcref, externref (abstract, or as the heap type of a ref)
U_EXNREF = 23             #   exnref
U_GCREF = 24              #   any other reference type
U_MULTI_VALUE = 25        # a block of a type with parameters or several results
U_EXTENDED_CONST = 26     # i32/i64 add, sub, mul in a constant expression
U_PASSIVE_DATA = 27       # the data section: a passive segment
U_DATA_MEMORY = 28        #   a segment for a memory other than 0
NUM_USES = 29
NO_USE = 255
NO_OFFSET = 0xFFFFFFFF    # the first-use offset of a class not used


def _uses(size: int, ranges: list[tuple[range | list[int], int]]) -> list[int]:
    out = [NO_USE] * size
    for ops, use in ranges:
        for op in ops:
            out[op] = use
    return out


BASE_USES = _uses(256, [([0x06, 0x07, 0x08, 0x09, 0x0A, 0x18, 0x19, 0x1F], U_EXCEPTIONS),
                        ([0x12, 0x13, 0x15], U_TAIL_CALL), ([0x14, 0xD3, 0xD4, 0xD5, 0xD6], U_TYPED_REF),
                        ([0xD0, 0xD1, 0xD2, 0x1C, 0x25, 0x26], U_REF), (range(0xC0, 0xC5), U_SIGN_EXT),
                        (range(0xE0, 0xE7), U_STACK_SWITCHING)])
# in a constant expression (global, element and table initializers, segment offsets)
CONST_BASE_USES = [U_EXTENDED_CONST if op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E) else use
                   for op, use in enumerate(BASE_USES)]
PREFIX_USES: dict[int, list[int]] = {
    0xFB: _uses(PREFIX_SIZE, [(range(0x22), U_GC), (range(0x22, PREFIX_SIZE), U_CUSTOM_DESCRIPTORS)]),
    0xFC: _uses(PREFIX_SIZE, [(range(PREFIX_SIZE), U_MEMORY_CONTROL), (range(0x08), U_SAT_CONV),
                              ([0x08, 0x09, 0x0C, 0x0D, 0x0E], U_BULK), ([0x0A, 0x0B], U_BULK_OPT),
                              ([0x0F, 0x10], U_TABLE_REF), ([0x11], U_TABLE_FILL), (range(0x13, 0x17), U_WIDE)]),
    0xFD: _uses(PREFIX_SIZE, [(range(0x100), U_SIMD), (range(0x100, PREFIX_SIZE), U_RELAXED_SIMD)]),
    0xFE: _uses(PREFIX_SIZE, [(range(0x4F), U_ATOMICS), (range(0x4F, PREFIX_SIZE), U_SHARED_ATOMICS)]),
}
# a value type's first byte, or a heap type's (after `ref`, `ref null` or `shared`); a type index: U_GCREF
TYPE_USES = _uses(256, [([0x7B], U_V128), ([0x70, 0x6F], U_REFTYPE), ([0x69], U_EXNREF),
                        ([0x6E, 0x71, 0x72, 0x73, 0x6D, 0x6B, 0x6A, 0x6C, 0x74, 0x68, 0x75], U_GCREF)])

BASE_KINDS, BASE_EVENTS = _base()
PREFIX_TABLES: dict[int, tuple[list[int], list[int]]] = {
    0xFB: _gc(), 0xFC: _misc(), 0xFD: _simd(), 0xFE: _atomic(),
}
PREFIX_NAMES = {0xFB: "GC", 0xFC: "misc (bulk memory / table / trunc_sat)", 0xFD: "SIMD", 0xFE: "threads/atomics"}


def packed_tables() -> bytes:
    """All tables as one byte string for the C scanner: base kinds, base events, then kinds and events
    per prefix; base uses, base uses in a constant expression, uses per prefix, type uses."""
    out = bytearray(BASE_KINDS) + bytearray(BASE_EVENTS)
    for prefix in PREFIXES:
        kinds, events = PREFIX_TABLES[prefix]
        out += bytearray(kinds) + bytearray(events)
    out += bytearray(BASE_USES) + bytearray(CONST_BASE_USES)
    for prefix in PREFIXES:
        out += bytearray(PREFIX_USES[prefix])
    return bytes(out + bytearray(TYPE_USES))
