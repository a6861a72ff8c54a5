"""Which imports are async: `module.name` patterns with `*` wildcards, as Binaryen's
`asyncify-imports` takes them, from the command line or `@file`s in any list format."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .decode import Module


@lru_cache(maxsize=4096)
def wildcard(pattern: str) -> re.Pattern[str]:
    """Binaryen's wildcard: `*` matches any run of characters, nothing else is special."""
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)) + r"\Z", re.S)


def matches(pattern: str, name: str) -> bool:
    return wildcard(pattern).match(name) is not None


def import_matches(pattern: str, key: str) -> bool:
    """`module.name` patterns match the whole key. A pattern with no `.` is a bare import name, as
    Emscripten's ASYNCIFY_IMPORTS lists are written (emcc adds `env.`); it matches that name in any
    module, so WASI imports such as `fd_close` are covered too."""
    if "." in pattern:
        return matches(pattern, key)
    return matches(pattern, key.partition(".")[2])


def expand_args(args: list[str], base: Path | None = None) -> list[str]:
    """Turn repeated `--imports` values into patterns: `@file` is read as a list file (any format
    `lists.parse_list` knows), other values may be comma-separated."""
    out: list[str] = []
    for arg in args:
        if arg.startswith("@"):
            out.extend(read_pattern_file(Path(arg[1:]) if base is None else base / arg[1:]))
        else:
            out.extend(p.strip() for p in arg.split(",") if p.strip())
    return out


def read_pattern_file(path: Path) -> list[str]:
    from .lists import read_list  # lists knows every layout users keep names in

    return read_list(path).entries


@dataclass
class ImportSelection:
    """Async imports chosen by patterns, and the patterns that matched nothing (likely typos)."""

    functions: list[int]
    unmatched: list[str]
    all_by_default: bool


def select_imports(module: Module, patterns: list[str] | None) -> ImportSelection:
    """No patterns → every imported function is async (Binaryen's default without `asyncify-imports`)."""
    imported = [f for f in module.functions if f.imported]
    if not patterns:
        return ImportSelection([f.index for f in imported], [], True)
    chosen: set[int] = set()
    unmatched = []
    for pat in patterns:
        hits = [f.index for f in imported if import_matches(pat, f.import_key or "")]
        chosen.update(hits)
        if not hits:
            unmatched.append(pat)
    return ImportSelection(sorted(chosen), unmatched, False)
