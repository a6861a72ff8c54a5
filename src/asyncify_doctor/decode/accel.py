"""The C code scanner, when it was built at install time (it is optional: `code.scan_code_py` is the
same walk in pure Python, and tests check both give identical results)."""
from __future__ import annotations

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


def _u32s(raw: bytes) -> array:
    out = array("I")
    out.frombytes(raw)
    return out


def scan_code(data: bytes, start: int, end: int, num_imported: int, num_funcs: int,
              num_globals: int, path: str = "<wasm>") -> CodeScan:
    assert _scan is not None and array("I").itemsize == 4 and sys.byteorder in ("little", "big")
    res = _scan.scan(data, start, end, num_imported, num_funcs, num_globals, _TABLES)
    if res[0] == "error":
        _, offset, func, message = res
        raise DecodeError(path, offset, message, None if func < 0 else func)
    bodies, events, counts = res
    return CodeScan(_u32s(bodies), _u32s(events), _u32s(counts))
