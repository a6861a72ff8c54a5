"""Writing names for a build: one per line (`list`), a JSON array for emcc's `-sASYNCIFY_ONLY=@file`
(`emscripten`), or what `wasm-opt --pass-arg=asyncify-onlylist@@file` reads (`binaryen`, by version).
Names only: a list's readers take every line as a name, so nothing else is ever written."""
from __future__ import annotations

import json

from ..errors import InputError
from .names import NEWLINE_SPLIT_SINCE, _comma_safe, emcc_entry, emscripten_mangle, odd_names


FORMATS = ("list", "emscripten", "binaryen")


class UnrepresentableName(InputError):
    """A name that the requested format cannot carry (a comma in an old-Binaryen list)."""


def format_names(names: list[str], fmt: str, *, binaryen_version: int | None = None,
                 mangle: bool = False) -> str:
    """Write names for a build: `list`, `emscripten` (JSON array; `mangle` for the legacy mangled
    form) or `binaryen`. Names only: `list` (one per line) is read as meant by wasm-opt >= 117 and by
    emcc >= 2.0.21, which a `#` header would not be (wasm-opt reads it as a function name)."""
    if fmt == "list":
        bad = [n for n in odd_names(names) if not n or "\n" in n or n.lstrip().startswith(("#", "[", "{", '"'))
               or n != n.strip() or n.endswith(",")]
        if len(names) == 1 and not _comma_safe(names):
            bad = names
        if bad:
            raise UnrepresentableName("<output>", None, f"{bad[0]!r} cannot be written one-per-line; use --format emscripten or json")
        return "\n".join(names) + "\n" if names else ""
    if fmt == "emscripten":
        entries = [emcc_entry(n) for n in names]
        body = ",\n".join("  " + json.dumps(emscripten_mangle(e) if mangle else e, ensure_ascii=False) for e in entries)
        return "[\n" + body + ("\n" if names else "") + "]\n"
    if fmt == "binaryen":
        return _binaryen(names, binaryen_version)
    raise ValueError(f"unknown list format {fmt!r}")


def _binaryen(names: list[str], version: int | None) -> str:
    """Binaryen reads names raw (no quoting, no comments). Newer versions take one name per line;
    a single line, and every file for versions < 117, is split on commas outside brackets — so a name
    with a comma outside brackets cannot be expressed there. Refuse instead of silently breaking it."""
    for n in odd_names(names):
        if "\n" in n or n != n.strip() or not n or n.startswith("#"):
            raise UnrepresentableName("<output>", None, f"function name {n!r} cannot be written in a Binaryen list file")
    old = version is not None and version < NEWLINE_SPLIT_SINCE
    if (old or len(names) == 1) and not _comma_safe(names):
        raise UnrepresentableName(
            "<output>", None, "a name has a comma outside brackets, or unbalanced brackets, which Binaryen "
            f"{'< ' + str(NEWLINE_SPLIT_SINCE) if old else 'splits single-line lists on'} cannot keep whole; "
            "use --format emscripten (a JSON array keeps any name whole) or a wildcard entry")
    if old:
        return ",".join(names) + "\n"
    return "\n".join(names) + "\n" if names else ""
