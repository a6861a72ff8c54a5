"""The C accelerator, when it was built at install time (it is optional: every function here has a
pure-Python twin giving identical results, and tests check that they do):

- `scan_code`: the code-section scanner (twin: `code.scan_code_py`);
- `data_section`: reads the data section to its end (twin: `module._data_section_py`);
- `split`: direct calls apart from the other events (twin: `callgraph.split_py`);
- `events_of`: the events of one kind (twin: `callgraph.events_of_py`);
- `csr`: edges as sorted, deduplicated rows (twin: `callgraph.csr_py`);
- `bfs`: the multi-source breadth-first search of the closure (twin: `analysis.bfs_py`);
- `records`: the Function records made in one go (twin: `module._records_py`);
- `reached_bits`: the bits of everything each node calls, transitively, for `--stats` (twin:
  `analysis.reached_bits_py`);
- `closure_rows`, `upto`, `dominated`, `reach`: the graph work of the audit's triage — the closure's
  rows renumbered with each edge's evidence level, the rows up to a level, dominator-subtree and
  reachability counts (twins: `triage.closure_rows_py`, `upto_py`, `dominated_py`, `reach_py`);
- `odd_names`: the names of a list that are not plain C names (twin: `lists.odd_names_py`);
- `u32_vec`, `name_map`, `exports`: the long vectors of the function, element, export and name
  sections; on malformed bytes they return None and the Python reader reads them again to word the
  error, so both paths accept and reject exactly alike.

`ASYNCIFY_DOCTOR_PURE_PYTHON=1` turns it off.
"""
from __future__ import annotations

import os
import sys
from array import array

from ..errors import DecodeError
from . import opcodes
from .code import CodeScan

try:
    from . import _scan  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the install
    _scan = None

_TABLES = opcodes.packed_tables()


def available() -> bool:
    return _scan is not None


def enabled() -> bool:
    """Built, and not turned off by the environment."""
    return _scan is not None and not os.environ.get("ASYNCIFY_DOCTOR_PURE_PYTHON")


def active():  # noqa: ANN201 - this module, or None
    """This module when `enabled`, else None: each twin's dispatcher is `fast = active()`, then the C
    function or its pure-Python twin."""
    return sys.modules[__name__] if enabled() else None


def u32s(raw: bytes) -> array:
    out = array("I")
    out.frombytes(raw)
    return out


def _raise(res: tuple, path: str) -> None:
    _, offset, func, message = res
    raise DecodeError(path, offset, message, None if func < 0 else func)


def scan_code(data: bytes, start: int, end: int, num_imported: int, num_funcs: int,
              num_globals: int, path: str = "<wasm>", data_count: bool = True) -> CodeScan:
    assert _scan is not None and array("I").itemsize == 4 and sys.byteorder in ("little", "big")
    res = _scan.scan(data, start, end, num_imported, num_funcs, num_globals, _TABLES, data_count)
    if res[0] == "error":
        _raise(res, path)
    bodies, events, counts = res
    return CodeScan(u32s(bodies), u32s(events), u32s(counts))


def data_section(data: bytes, start: int, end: int, num_funcs: int, num_globals: int, path: str) -> int:
    """The position after the data section's last segment (errors as the Python reader words them)."""
    assert _scan is not None
    res = _scan.data(data, start, end, num_funcs, num_globals, _TABLES)
    if isinstance(res, tuple):
        _raise(res, path)
    return res


def split(events: array) -> tuple[array, array, array]:
    assert _scan is not None
    src, dst, rest = _scan.split(events)
    return u32s(src), u32s(dst), u32s(rest)


def csr(src: array, dst: array, n: int) -> tuple[array, array]:
    assert _scan is not None
    off, tgt = _scan.csr(src, dst, n)
    return u32s(off), u32s(tgt)


def bfs(off: array, tgt: array, sources: array, roots: array) -> array:
    assert _scan is not None
    out = array("i")
    out.frombytes(_scan.bfs(off, tgt, sources, roots))
    return out


def closure_rows(off: array, tgt: array, nodes: array, ids: array, from_level: bytes, to_level: bytes,
                 extra_dst: array, extra_src: array, extra_level: bytes) -> tuple[array, array, bytes]:
    assert _scan is not None
    o, t, lv = _scan.closure_rows(off, tgt, nodes, ids, from_level, to_level, extra_dst, extra_src, extra_level)
    return u32s(o), u32s(t), lv


def upto(off: array, tgt: array, levels: bytes, max_level: int) -> tuple[array, array]:
    assert _scan is not None
    o, t = _scan.upto(off, tgt, levels, max_level)
    return u32s(o), u32s(t)


def reached_bits(off: array, tgt: array, bit_of: array, lo: int, hi: int) -> bytes:
    assert _scan is not None
    return _scan.reached_bits(off, tgt, bit_of, lo, hi)


def i32s(raw: bytes) -> array:
    out = array("i")
    out.frombytes(raw)
    return out


def dominated(off: array, tgt: array, root: int, weights: bytes) -> array:
    assert _scan is not None
    return i32s(_scan.dominated(off, tgt, root, weights))


def reach(off: array, tgt: array, weights: bytes) -> array:
    assert _scan is not None
    return i32s(_scan.reach(off, tgt, weights))


def u32_vec(data: bytes, pos: int, end: int) -> tuple[array, int] | None:
    """A vec(u32) at `pos` and the position after it; None if malformed (the caller then reads it
    with the Python reader, which words the error)."""
    assert _scan is not None
    res = _scan.u32_vec(data, pos, end)
    return None if res is None else (u32s(res[0]), res[1])


def name_map(data: bytes, pos: int, end: int) -> tuple[array, list[str], int] | None:
    assert _scan is not None
    res = _scan.name_map(data, pos, end)
    return None if res is None else (u32s(res[0]), res[1], res[2])


def exports(data: bytes, pos: int, end: int) -> tuple[list[str], bytes, array, int] | None:
    assert _scan is not None
    res = _scan.exports(data, pos, end)
    return None if res is None else (res[0], res[1], u32s(res[2]), res[3])


def events_of(events: array, kind: int, a: int, b: int) -> array:
    assert _scan is not None
    return u32s(_scan.events_of(events, kind, a, b))


def odd_names(names: list[str]) -> list[str]:
    assert _scan is not None
    return _scan.odd_names(names)


def records(cls: type, columns: tuple) -> list:
    """[cls(row) for row in zip(*columns)] for a tuple subclass, made in C (twin: `module._records_py`)."""
    assert _scan is not None
    return _scan.records(cls, columns)
