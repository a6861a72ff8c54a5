"""A shadow stack written into the binary, so a host sees the whole wasm stack at any import call.

Why: wasmtime gives a host function no backtrace, and the backtrace of a trap is capped at
`Config::wasm_backtrace_max_frames` (20 by default), which its C API — and so wasmtime-py — cannot
change. So the module records its own stack. Every defined function i keeps its index, but its body
moves to a new function appended at the end, and i becomes a wrapper:

    (func $i (param …) (local $sp i32)
      (i32.store $shadow (local.tee $sp (global.get $shadow_sp)) (i32.const i))
      (global.set $shadow_sp (i32.add (local.get $sp) (i32.const 4)))
      (call $i_body (local.get 0) …)
      (global.set $shadow_sp (local.get $sp)))

Calls, tables, `ref.func`, exports, the start function and the name section all go on naming i, so
nothing else in the module changes. The stack lives in a memory of its own (multi-memory), exported
with its top, and holds function indices, outermost first. Each wrapper restores the top it found
rather than subtracting, and in a module with exception tags the call is inside a `try_table` that
restores the top before rethrowing, so the frames an exception unwinds leave nothing stale behind.
(A trap leaves them, but a trap ends the run; the tracer starts every run on a fresh instance.)
A function that tail-calls (`return_call`) stays on the shadow stack until its callee returns: it
is recorded as on the stack, which is safe for a list (listed, never missed).

Cost: one extra call, one store and three global accesses per call.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ...decode import Module, decode
from ...decode.module import sections
from ...decode.reader import Reader
from ...decode.writer import name, section, sleb, uleb

PAGES = 16            # 4 bytes a frame: 262,144 frames, far deeper than any engine's native stack allows
SECTION_ORDER = (1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11)   # the spec's order of the known sections


@dataclass(frozen=True)
class Shadowed:
    """The rewritten binary and the export names of the shadow stack's memory and top."""

    wasm: bytes
    memory_export: str
    top_export: str

    def frames(self, memory: bytes | bytearray, top: int) -> list[int]:
        """Function indices on the stack, innermost first, from the memory's first `top` bytes."""
        return list(struct.unpack(f"<{top // 4}I", memory[:top]))[::-1]


def instrument(data: bytes, module: Module | None = None) -> Shadowed:
    """`data` with a shadow stack; `module` is its decoding, when the caller has it already."""
    m = module if module is not None else decode(data)
    first, count = m.num_imported_functions, len(m.functions) - m.num_imported_functions
    memory, top = m.memories, len(m.globals)
    taken = {e.name for e in m.exports}
    mem_name, top_name = _unused("asyncify_doctor_shadow_stack", taken), _unused("asyncify_doctor_shadow_top", taken)
    types = [m.functions[first + k].type_index for k in range(count)]
    wrappers = [_wrapper(m, first + k, first + count + k, memory, top) for k in range(count)]
    edits = {
        3: ([], [uleb(t) for t in types]),                         # the bodies' functions, same types
        5: ([], [b"\x00" + uleb(PAGES)]),                          # the shadow memory
        6: ([], [b"\x7f\x01\x41\x00\x0b"]),                        # its top: (mut i32) (i32.const 0)
        7: ([], [name(mem_name) + b"\x02" + uleb(memory), name(top_name) + b"\x03" + uleb(top)]),
        10: ([uleb(len(w)) + w for w in wrappers], []),            # wrappers first: they keep the indices
    }
    if not count:
        del edits[3], edits[10]
    return Shadowed(_rewrite(data, m.path, edits), mem_name, top_name)


def _unused(base: str, taken: set[str]) -> str:
    n, out = 0, base
    while out in taken:
        n += 1
        out = f"{base}_{n}"
    return out


def _wrapper(m: Module, func: int, body: int, memory: int, top: int) -> bytes:
    """The body of wrapper `func`: push `func`, call `body` with the same arguments, pop."""
    nparams = len(m.func_type(func).params)
    sp = uleb(nparams)                          # the local holding the top this call found
    memarg = b"\x02\x00" if memory == 0 else b"\x42" + uleb(memory) + b"\x00"   # align 4, offset 0
    restore = b"\x20" + sp + b"\x24" + uleb(top)
    push = (b"\x23" + uleb(top) + b"\x22" + sp + b"\x41" + sleb(func) + b"\x36" + memarg
            + b"\x20" + sp + b"\x41\x04\x6a\x24" + uleb(top))
    args = b"".join(b"\x20" + uleb(i) for i in range(nparams))
    call = args + b"\x10" + uleb(body)
    if m.tags:
        # (block (result exnref) args (try_table (type T) (catch_all_ref 0) call) restore return)
        # restore throw_ref — the try_table's catch labels count from the block around it
        call = (b"\x02\x69" + args + b"\x1f" + sleb(m.functions[func].type_index) + b"\x01\x03\x00"
                + b"\x10" + uleb(body) + b"\x0b" + restore + b"\x0f\x0b" + restore + b"\x0a")
    return b"\x01\x01\x7f" + push + call + restore + b"\x0b"


def _rewrite(data: bytes, path: str, edits: dict[int, tuple[list[bytes], list[bytes]]]) -> bytes:
    """Copy every section, putting `before` entries ahead of and `after` entries behind the existing
    ones of each edited section; an edited section the module lacks is created in its place."""
    out = [data[:8]]
    pending = dict(edits)
    for sid, at, sec in sections(Reader(data, 8, len(data), path)):
        if sid != 0:
            out.extend(_missing(pending, before=sid))
        if sid not in pending:
            out.append(data[at:sec.end])
            continue
        before, after = pending.pop(sid)
        n = sec.u32()
        out.append(section(sid, uleb(n + len(before) + len(after)) + b"".join(before) + data[sec.pos:sec.end] + b"".join(after)))
    out.extend(_missing(pending, before=None))
    return b"".join(out)


def _missing(pending: dict[int, tuple[list[bytes], list[bytes]]], before: int | None) -> list[bytes]:
    """New sections for the edits still pending that belong before section `before` (None: the end)."""
    rank = SECTION_ORDER.index(before) if before in SECTION_ORDER else len(SECTION_ORDER)
    out = []
    for sid in [sid for sid in SECTION_ORDER[:rank] if sid in pending]:
        entries = [*pending[sid][0], *pending.pop(sid)[1]]
        out.append(section(sid, uleb(len(entries)) + b"".join(entries)))
    return out
