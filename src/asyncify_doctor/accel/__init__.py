"""The accelerator seam: the one place that decides whether a kernel runs in C or in Python.

Every long loop of the pipeline exists twice, with identical results: a pure-Python original, kept
next to the code that uses it, and a C twin in the optional extension `asyncify_doctor.accel._native`
(sources in `accel/native/`, one file per stage: `decode.c`, `graph.c`, `lists.c`). A stage registers
each pair here and calls what `twin` returns:

    csr = accel.twin("csr", csr_py, _csr_native)

`_csr_native` calls `accel.native.csr` and converts what it returns (the generic conversions, `u32s`
and `i32s`, are here). Which twin runs is decided here alone, at each call:

- the C one when the extension was built at install time (it is optional: without a C compiler the
  install still succeeds, and everything runs in Python) and the switch is on;
- the Python one when `ASYNCIFY_DOCTOR_PURE_PYTHON` is set (to anything), or inside
  `with accel.pure_python():` (tests, benchmarks, and anyone who wants the reference results).

`TWINS` lists every registered pair; tests/test_accel.py runs both sides of each on generated inputs
and requires the same results (and refuses a twin it has no inputs for).
"""
from __future__ import annotations

import os
import sys
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

SWITCH = "ASYNCIFY_DOCTOR_PURE_PYTHON"   # set (to anything): every kernel runs in Python

native: Any   # the extension module, or None when it was not built
try:
    from . import _native as native  # type: ignore[attr-defined, no-redef]
except ImportError:  # pragma: no cover - depends on the install
    native = None

_forced = 0   # how many `pure_python()` blocks are open (process-wide, like the variable)


def available() -> bool:
    """Was the C extension built at install time?"""
    return native is not None


def enabled() -> bool:
    """Do the C twins run now: built, and switched off neither by the environment nor `pure_python`."""
    return native is not None and not _forced and not os.environ.get(SWITCH)


@contextmanager
def pure_python() -> Iterator[None]:
    """Every kernel in Python inside the block (for the whole process: the switch is one, like the
    environment variable)."""
    global _forced
    _forced += 1
    try:
        yield
    finally:
        _forced -= 1


@dataclass(frozen=True)
class Twin:
    """A registered pair: what it is called, its Python original and its C side, and the stage module
    that registered it."""

    name: str
    python: Callable[..., Any]
    native: Callable[..., Any]
    stage: str


TWINS: dict[str, Twin] = {}
F = TypeVar("F", bound=Callable[..., Any])


def twin(name: str, python: F, native_side: Callable[..., Any]) -> F:
    """Register a pair and return its dispatcher: a function with the Python twin's signature that
    calls the C side when `enabled()`, else the Python one. One name, one pair (a stage module that
    is loaded again replaces its own)."""
    old = TWINS.get(name)
    if old is not None and old.stage != python.__module__:
        raise ValueError(f"accelerator kernel {name!r} registered twice ({old.stage}, {python.__module__})")
    TWINS[name] = Twin(name, python, native_side, python.__module__)

    @wraps(python)
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        return (native_side if enabled() else python)(*args, **kwargs)
    return cast(F, dispatch)


def u32s(raw: bytes) -> array:
    """Native-endian u32s as the C side returns them (bytes), as an array."""
    out = array("I")
    out.frombytes(raw)
    return out


def i32s(raw: bytes) -> array:
    out = array("i")
    out.frombytes(raw)
    return out


assert array("I").itemsize == 4 and array("i").itemsize == 4 and sys.byteorder in ("little", "big")

__all__ = ["SWITCH", "TWINS", "Twin", "available", "enabled", "i32s", "native", "pure_python", "twin", "u32s"]
