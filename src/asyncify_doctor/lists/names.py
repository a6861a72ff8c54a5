"""Names as list files carry them: the plain C names every reader takes as written, and the
others — Emscripten's mangled spelling, emcc's `*` patterns, brackets and commas that a comma split
would cut — and whether a list entry selects a name (Binaryen's `*` wildcards, either spelling)."""
from __future__ import annotations

import re

from .. import accel
from .wildcard import matches as wildcard_matches


# Binaryen splits `@file` list contents on newlines as well as commas from this version on (earlier
# versions, e.g. Debian's 108, only on commas). Checked against Binaryen's history; see README.
NEWLINE_SPLIT_SINCE = 117


_MANGLE = str.maketrans({" ": ".", "&": "#", ",": "?"})


def emscripten_mangle(name: str) -> str:
    """What Emscripten passes to Binaryen for a name written in ASYNCIFY_ONLY."""
    return name.translate(_MANGLE)


def emcc_unmangle(name: str) -> str:
    """What emcc (since 2.0.17, tools/link.py unmangle_symbols_from_cmdline) makes of an entry."""
    return name.replace(".", " ").replace("#", "&").replace("?", ",")


def entry_matches(entry: str, name: str) -> bool:
    """Does a list entry (as the user wrote it, maybe with `*`) select the function `name`?"""
    return wildcard_matches(entry, name) or wildcard_matches(entry, emscripten_mangle(name))


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_$]+")   # a name every consumer reads as written


def odd_names_py(names: list[str]) -> list[str]:
    """The names that are not plain, in order: only these can be written wrongly or read otherwise, so
    the checks of a 90,000-name list of C names look at none (its C twin: 2 ms, not 30)."""
    return [n for n in names if not _PLAIN_NAME.fullmatch(n)]


odd_names = accel.twin("odd_names", odd_names_py, lambda names: accel.native.odd_names(names))


def _balanced(text: str) -> bool:
    return sum(text.count(c) for c in "(<[{") == sum(text.count(c) for c in ")>]}")


def _comma_safe(names: list[str]) -> bool:
    """Do these names survive being joined by commas and split again the way Binaryen splits?"""
    joined = ",".join(names)
    return not names or _balanced(joined) and [p.strip() for p in _split_commas(joined)] == names


def emcc_entry(name: str) -> str:
    """An ASYNCIFY_ONLY entry that selects `name` once emcc has read it: emcc turns `.`, `#` and `?`
    into other characters and joins entries with commas for Binaryen's comma split, so those three,
    and commas or brackets that would not survive the split, are written as Binaryen's `*` wildcard
    (a pattern matching the name, and perhaps a few more: instrumenting more is safe, fewer is not)."""
    entry = re.sub(r"[.#?]", "*", name)
    if not _comma_safe([entry]):
        entry = re.sub(r"[,()<>\[\]{}]", "*", entry)
    return entry


def _split_commas(line: str) -> list[str]:
    """Split on commas outside brackets, as Binaryen's handleBracketingOperators does:
    `f(int, char)` stays one name."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(line):
        if c in "(<[{":
            depth += 1
        elif c in ")>]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(line[start:i])
            start = i + 1
    parts.append(line[start:])
    return parts


_BRACKET, _OPENING, _CLOSING = re.compile(r"[(<\[{)>\]}]"), re.compile(r"[(<\[{]"), re.compile(r"[)>\]}]")
