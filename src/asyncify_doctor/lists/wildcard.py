"""Binaryen's `String::wildcardMatch` (src/support/string.cpp): `*` matches any run of characters,
including none; nothing else is special; the whole name must match, case-sensitively. Same rule from
104 (a recursive form) to 132 (a backtracking one), for import patterns and function lists alike —
except that up to 124 the recursive form throws (wasm-opt aborts) on a pattern with an inner `*` when
a name equals the pattern's part before it (docs/reference-semantics.md, B1)."""
from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)) + r"\Z", re.S)


def matches(pattern: str, name: str) -> bool:
    return wildcard(pattern).match(name) is not None
