"""List files: every layout users keep function names (or import patterns) in, one reader for all,
writers for each build's format, and atomic in-place writes that keep everything else as it was.

Layouts read by `parse_list` (auto-detected):
- `list`: one name per line; a line whose first non-blank character is `#` is a comment
  (only there: Emscripten-mangled names contain `#`);
- `json`: a JSON array of strings (Emscripten's `-sASYNCIFY_ONLY=@file`), or the report that
  `analyze --format json` writes (its function names);
- `binaryen`: what `wasm-opt --pass-arg=asyncify-onlylist@@file` reads. Binaryen's rule (its
  `String::Split::NewLineOr`, since version 117): a file with more than one line has one name per
  line; a single line is split on commas, except commas inside brackets `()<>[]{}` (so
  `f(int, char)` stays whole). Binaryen < 117 always splits on commas, even across lines;
- `embedded`: a bracketed list inside a Makefile, Dockerfile or shell script, e.g.
  `-sASYNCIFY_ONLY=[...]` or WordPress Playground's `"name",\\` continuation lines; only the
  bracket's span is ever edited.

Names are kept exactly as written. Binaryen compares entries with the name-section names as they are
(escaping both sides the same way before version 131, neither since). emcc (since 2.0.17) unmangles
every ASYNCIFY_ONLY entry (`.` → space, `#` → `&`, `?` → `,`; tools/link.py) and joins them with
commas; so projects may write names mangled (space → `.`, `&` → `#`, `,` → `?`), `entry_matches`
accepts entries written either way, with `*` wildcards, `--emscripten-mangle` writes that form, and
`emcc_entry` writes a name emcc would change as a `*` pattern that selects it.

Our reader is lenient (comments, blank lines, quotes); the consumers are not. What each really reads,
from their sources, is in `binaryen_reads` and `emcc_reads`, and `list_warnings` says where a file
means something else to them (an empty file, `#` lines, stray spaces). So the writers put nothing in
a list but names: no `#` header, no provenance comments (Binaryen has no comment syntax at all).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from itertools import accumulate, islice
from pathlib import Path
from typing import NamedTuple

from ..decode.accel import active as _accel
from ..errors import InputError
from .wildcard import matches as wildcard_matches
from ..system.outputs import write_atomic  # noqa: F401 - the safe writer lives in outputs; kept importable here

FORMATS = ("list", "emscripten", "binaryen")
# Binaryen splits `@file` list contents on newlines as well as commas from this version on (earlier
# versions, e.g. Debian's 108, only on commas). Checked against Binaryen's history; see README.
NEWLINE_SPLIT_SINCE = 117
_MANGLE = str.maketrans({" ": ".", "&": "#", ",": "?"})


class ListFormatError(InputError):
    """A list file we cannot read: unbalanced brackets, bad JSON, non-string entries."""


class UnrepresentableName(InputError):
    """A name that the requested format cannot carry (a comma in an old-Binaryen list)."""


def emscripten_mangle(name: str) -> str:
    """What Emscripten passes to Binaryen for a name written in ASYNCIFY_ONLY."""
    return name.translate(_MANGLE)


def entry_matches(entry: str, name: str) -> bool:
    """Does a list entry (as the user wrote it, maybe with `*`) select the function `name`?"""
    return wildcard_matches(entry, name) or wildcard_matches(entry, emscripten_mangle(name))


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_$]+")   # a name every consumer reads as written


def odd_names(names: list[str]) -> list[str]:
    """The names that are not plain, in order: only these can be written wrongly or read otherwise, so
    the checks of a 90,000-name list of C names look at none (in C when built: 2 ms, not 30)."""
    fast = _accel()
    return fast.odd_names(names) if fast else odd_names_py(names)


def odd_names_py(names: list[str]) -> list[str]:
    return [n for n in names if not _PLAIN_NAME.fullmatch(n)]


class Entry(NamedTuple):
    """One name of a list file, where it stands in the text."""

    name: str
    start: int          # span of the entry's text (including quotes), for in-place edits
    end: int


@dataclass
class ListFile:
    source: str
    text: str
    format: str                         # list | json | binaryen | embedded
    entries_spans: list[Entry] = field(default_factory=list)
    span: tuple[int, int] | None = None  # the bracketed region, for json/embedded

    @property
    def entries(self) -> list[str]:
        return [e.name for e in self.entries_spans]


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _error(source: str, text: str, index: int, message: str) -> ListFormatError:
    return ListFormatError(source, _byte_offset(text, index), message)


def _find_bracket(text: str) -> tuple[int, int] | None:
    """The span of the first `[ ... ]` that holds quoted strings, honouring quotes and escapes."""
    start = text.find("[")
    while start >= 0:
        rest = text[start + 1:].lstrip(" \t\r\n\\$'")
        if rest.startswith(('"', "]")):
            break
        start = text.find("[", start + 1)
    if start < 0:
        return None
    depth, i, quote = 0, start, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c == '"':
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return start, i + 1
        i += 1
    return (start, -1)


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _parse_bracket(source: str, text: str, start: int, end: int) -> list[Entry]:
    """Quoted strings inside the bracket; anything else but separators and line continuations is an error."""
    entries = []
    i = start + 1
    body_end = end - 1
    for m in _STRING.finditer(text, i, body_end):
        between = text[i:m.start()]
        if between.strip(" \t\r\n,\\'$"):
            raise _error(source, text, i + len(between) - len(between.lstrip(" \t\r\n,\\'$")), "expected a quoted name")
        try:
            name = json.loads(m.group(0))
        except json.JSONDecodeError as exc:
            raise _error(source, text, m.start() + exc.pos, f"bad string: {exc.msg}") from None
        entries.append(Entry(name, m.start(), m.end()))
        i = m.end()
    if text[i:body_end].strip(" \t\r\n,\\'$"):
        raise _error(source, text, i, "expected a quoted name or `]`")
    return entries


def _looks_json(stripped: str) -> bool:
    return re.match(r'(\[\s*("|\])|\{\s*("|\}))', stripped) is not None


def _balanced(text: str) -> bool:
    return sum(text.count(c) for c in "(<[{") == sum(text.count(c) for c in ")>]}")


def _comma_safe(names: list[str]) -> bool:
    """Do these names survive being joined by commas and split again the way Binaryen splits?"""
    joined = ",".join(names)
    return not names or _balanced(joined) and [p.strip() for p in _split_commas(joined)] == names


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


def parse_list(text: str, *, source: str = "<list>") -> ListFile:
    """Read any supported layout. Raises `ListFormatError` with the byte offset of the problem."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if not _looks_json(stripped):
                return _parse_plain(text, source)  # a plain list whose first name starts with `[` or `{`
            raise _error(source, text, exc.pos, f"bad JSON list: {exc.msg}") from None
        if isinstance(data, dict) and isinstance(data.get("functions"), list):  # `analyze --format json`
            return _parse_report(text, data, source)
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise _error(source, text, len(text) - len(stripped), "a JSON list must be an array of strings")
        span = _find_bracket(text) or (0, len(text))
        lf = ListFile(source, text, "json", span=span)
        lf.entries_spans = _parse_bracket(source, text, *span) if span[1] > 0 else []
        return lf
    if "[" in text and '"' in text and _is_embedded(text):
        span = _find_bracket(text)
        assert span is not None
        if span[1] < 0:
            raise _error(source, text, span[0], "unbalanced brackets: `[` is never closed")
        return ListFile(source, text, "embedded", _parse_bracket(source, text, *span), span)
    return _parse_plain(text, source)


def _parse_report(text: str, data: dict, source: str) -> ListFile:
    names = [f.get("name") for f in data["functions"] if isinstance(f, dict)]
    if not all(isinstance(n, str) for n in names) or len(names) != len(data["functions"]):
        raise _error(source, text, 0, "a JSON report's functions must each have a string name")
    return ListFile(source, text, "report", [Entry(n, 0, 0) for n in names])


def _is_embedded(text: str) -> bool:
    span = _find_bracket(text)
    return span is not None and any(not line.lstrip().startswith("#") for line in text[:span[0]].splitlines() or [""])


def _parse_plain(text: str, source: str) -> ListFile:
    """Binaryen's rule: several lines → one name per line; one line → commas outside brackets.
    Our leniencies, for hand-kept files: `#` comment lines, blank lines, and quotes or a trailing
    comma around a name are skipped."""
    lines = text.split("\n")          # Binaryen splits on "\n" only (not on \v, \f, \u2028…)
    starts = [0, *accumulate(len(ln) + 1 for ln in lines)]
    content = [(i, s) for i, ln in enumerate(lines) if (s := ln.strip()) and s[0] != "#"]
    if len(content) != 1:   # one name per line: no splitting, so one pass (lists of 90,000 names)
        found = [Entry(s, starts[i], starts[i] + len(s)) if len(s) == len(lines[i]) and s[-1] != "," and s[0] != '"'
                 else _plain_entry(lines[i].rstrip("\r"), starts[i], many=True) for i, s in content]
        return ListFile(source, text, "list", [e for e in found if e])
    i = content[0][0]
    body = lines[i].rstrip("\r")
    if not _balanced(body):
        raise _error(source, text, starts[i], "unbalanced brackets in a comma-separated list")
    entries, off = [], starts[i]
    for part in _split_commas(body):
        entry = _plain_entry(part, off, many=False)
        if entry:
            entries.append(entry)
        off += len(part) + 1
    return ListFile(source, text, "binaryen" if len(entries) > 1 else "list", entries)


def _plain_entry(part: str, off: int, many: bool) -> Entry | None:
    name = part.strip()
    if many and name.endswith(",") and not name.endswith(",,"):
        name = name[:-1].rstrip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    if not name:
        return None
    lead = len(part) - len(part.lstrip())
    return Entry(name, off + lead, off + lead + len(part.strip()))


def read_list(path: str | os.PathLike[str]) -> ListFile:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ListFormatError(str(p), None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ListFormatError(str(p), exc.start, "not valid UTF-8") from None
    return parse_list(text, source=str(p))


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


# --- what the consumers of a list file really read ------------------------------------------------
#
# Binaryen (`wasm-opt --pass-arg=asyncify-onlylist@@FILE`, the same for asyncify-imports/-addlist/
# -removelist; src/passes/Asyncify.cpp, src/support/{file,string}.cpp):
#   read_possible_response_file → the file's bytes; String::trim drops trailing whitespace and NULs
#   only; String::Split(…, NewLineOr(",")) (since 117): if a newline is left, split on "\n" and keep
#   every line verbatim (leading spaces, a "\r", a `#`, an empty line: all part of a name); else split
#   on "," and handleBracketingOperators glues parts back while brackets are open, drops empty parts,
#   and stops Binaryen ("Asyncify: failed to parse lists") on unbalanced brackets. Before 117 the
#   "," rule is used for every file. An empty result means no list at all: for the onlylist, every
#   function that can reach an import is instrumented; for asyncify-imports, every import is async.
# emcc (`-sASYNCIFY_ONLY=@FILE`; tools/cmdline.py, tools/link.py): the file is read and .strip()ped;
#   unless it starts with `[` it is one name per line, each line .strip()ped, lines starting with `#`
#   in column 0 skipped (since 3.1.54; before, read as names); a `[` file is JSON. An empty file makes
#   its parser fail (it reads the first character). Every entry is then unmangled (since 2.0.17:
#   `.` → space, `#` → `&`, `?` → `,`), joined with "," and handed to Binaryen on the command line.

_CXX_SPACE = " \t\n\v\f\r\0"
BINARYEN = "wasm-opt"
EMCC = "emcc"
CONSUMERS = (BINARYEN, EMCC)


@dataclass
class ConsumerRead:
    """The names a consumer takes from a list file; None when it reads no list at all."""

    consumer: str
    names: list[str] | None
    fatal: str | None = None        # the consumer stops with this error


def _cxx_split(text: str, delim: str) -> list[str]:
    """Binaryen's String::Split::split: no empty part after a trailing delimiter."""
    parts = text.split(delim)
    if parts[-1] == "":
        parts.pop()
    return parts


_BRACKET, _OPENING, _CLOSING = re.compile(r"[(<\[{)>\]}]"), re.compile(r"[(<\[{]"), re.compile(r"[)>\]}]")


def _binaryen_commas(text: str) -> tuple[list[str], str | None]:
    """Split on commas, then handleBracketingOperators: empty parts dropped, parts rejoined while a
    bracket is open; unbalanced brackets are fatal."""
    parts = _cxx_split(text, ",")
    if not _BRACKET.search(text):   # C names: nothing to rejoin (a 16,000-name list in 2 ms, not 60)
        return [p for p in parts if p], None
    out: list[str] = []
    last, nesting = "", 0
    for part in parts:
        if not part:
            continue
        if _BRACKET.search(part):
            nesting += len(_OPENING.findall(part)) - len(_CLOSING.findall(part))
        last = part if not last else last + "," + part
        if nesting == 0:
            out.append(last)
            last = ""
    return out, ("Asyncify: failed to parse lists (unbalanced brackets)" if nesting else None)


def binaryen_reads(text: str, version: int | None = None) -> ConsumerRead:
    """What `--pass-arg=asyncify-onlylist@@FILE` gives the pass (`version`: Binaryen's, None = current)."""
    body = text.rstrip(_CXX_SPACE)
    if not body:
        return ConsumerRead(BINARYEN, None)
    if (version is None or version >= NEWLINE_SPLIT_SINCE) and "\n" in body:
        return ConsumerRead(BINARYEN, body.split("\n"))
    names, fatal = _binaryen_commas(body)
    return ConsumerRead(BINARYEN, names or None, fatal)


def emcc_entry(name: str) -> str:
    """An ASYNCIFY_ONLY entry that selects `name` once emcc has read it: emcc turns `.`, `#` and `?`
    into other characters and joins entries with commas for Binaryen's comma split, so those three,
    and commas or brackets that would not survive the split, are written as Binaryen's `*` wildcard
    (a pattern matching the name, and perhaps a few more: instrumenting more is safe, fewer is not)."""
    entry = re.sub(r"[.#?]", "*", name)
    if not _comma_safe([entry]):
        entry = re.sub(r"[,()<>\[\]{}]", "*", entry)
    return entry


def emcc_unmangle(name: str) -> str:
    """What emcc (since 2.0.17, tools/link.py unmangle_symbols_from_cmdline) makes of an entry."""
    return name.replace(".", " ").replace("#", "&").replace("?", ",")


def emcc_reads(text: str, unmangle: bool = True) -> ConsumerRead:
    """What `-sASYNCIFY_ONLY=@FILE` hands Binaryen (emcc 3.1.54 and later). `unmangle`: emcc unmangles
    ASYNCIFY_ONLY/ADD/REMOVE entries, not ASYNCIFY_IMPORTS."""
    value = text.strip()
    if not value:
        return ConsumerRead(EMCC, None, "emcc fails on an empty @file (its settings parser reads the first character)")
    if value[0] != "[":
        entries = [line.strip() for line in value.splitlines() if not line.startswith("#")]
    else:
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            return ConsumerRead(EMCC, None, "emcc cannot parse this file as a JSON list")
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            return ConsumerRead(EMCC, None, "emcc needs a JSON list of strings")
        entries = data
    joined = ",".join(emcc_unmangle(e) if unmangle else e for e in entries)
    if not entries:
        return ConsumerRead(EMCC, None)
    names, fatal = _binaryen_commas(joined)
    return ConsumerRead(EMCC, names, fatal)


def consumer_reads(text: str, consumer: str, binaryen_version: int | None = None, kind: str = "onlylist") -> ConsumerRead:
    return emcc_reads(text, kind != "imports") if consumer == EMCC else binaryen_reads(text, binaryen_version)


def warning_sample(names: list[str]) -> list[str]:
    """The names of a list that some consumer could read otherwise (anything but letters, digits, `_`
    and `$`) and the plain names one of those could be split into, in order, with the first two other
    plain names and the last name kept: `list_warnings` on the sample finds what it finds on the whole
    list (empty, single-line, version and trailing-line warnings included), but a 90,000-name list of
    C names costs nothing to check. A consumer's comma split (Binaryen's bracket nesting, one count
    for all kinds) merges neighbours only after a name whose brackets do not balance: with one such
    name, the sample is the whole list."""
    odd = odd_names(names)
    if any(len(_OPENING.findall(n)) != len(_CLOSING.findall(n)) for n in odd if _BRACKET.search(n)):
        return list(names)
    keep = set(odd) | {p for n in odd for p in re.split(r"[^A-Za-z0-9_$]+", n)}   # and what a split makes
    keep.update(islice((n for n in names if n not in keep), 2))
    return [n for n in names[:-1] if n in keep] + names[-1:]


def list_warnings(lf: ListFile, consumer: str | None = None, *, kind: str = "onlylist",
                  binaryen_version: int | None = None, limit: int = 4) -> list[str]:
    """One-line warnings about what `consumer` (`wasm-opt`, `emcc`, or None for both) will make of
    this list where it differs from what the list means to us: an empty list (no list at all to
    Binaryen), lines it reads as names (`#` comments, blank lines, names with spaces, quotes or a
    "\\r" around them), entries it splits, unmangles or cannot parse. `kind`: `onlylist` or `imports`."""
    if lf.format == "report":
        return []
    consumers = [consumer] if consumer else list(CONSUMERS)
    if lf.format in ("json", "embedded"):
        consumers = [c for c in consumers if c == EMCC] or consumers
    out: list[str] = []
    for c in consumers:
        out += _warnings_for(lf, c, kind, binaryen_version, limit)
    return list(dict.fromkeys(out))


def _warnings_for(lf: ListFile, consumer: str, kind: str, version: int | None, limit: int) -> list[str]:
    src, ours = lf.source, lf.entries
    if not ours:
        return [_empty_warning(src, kind)]
    if lf.format in ("json", "embedded") and consumer == BINARYEN:
        return [f"{src}: wasm-opt does not read JSON or a Makefile: give it one name per line "
                "(asyncify-doctor analyze --format binaryen)"]
    if lf.format == "embedded":   # emcc parses the bracket on its command line: entries, then unmangled
        read = ConsumerRead(EMCC, [emcc_unmangle(e) if kind != "imports" else e for e in ours])
    else:
        read = consumer_reads(lf.text, consumer, version, kind)
    if read.fatal:
        return [f"{src}: {consumer} stops on this file: {read.fatal}"]
    if read.names is None:
        return [_empty_warning(src, kind)]
    theirs = read.names
    what = "a function name" if kind == "onlylist" else "an import pattern"
    if consumer == BINARYEN and len(theirs) < len(ours) and any("\n" in n for n in theirs):
        return [f"{src}: Binaryen {version} splits list files on commas only: it reads this one-name-per-line "
                "file as one name that matches nothing (write it with --format binaryen --binaryen-version)"]
    out: list[str] = []
    ours_set, theirs_set = set(ours), set(theirs)   # lists of 10,000+ names: no quadratic scans
    extra = [n for n in dict.fromkeys(theirs) if n not in ours_set]
    blank = [n for n in extra if not n.strip()]
    for name in [n for n in extra if n.strip()][:limit]:
        changed = next((o for o in ours if o not in theirs_set and _same_but_wrapped(o, name, consumer)), None)
        if changed is not None:
            out.append(f"{src}: {consumer} reads {changed!r} as {name!r}: " + _why_changed(changed, name, consumer))
        elif name.lstrip().startswith("#"):
            out.append(f"{src}: {consumer} reads the comment {name!r} as {what} (Binaryen has no comment "
                       "syntax; only emcc 3.1.54 and later skip `#` lines, and only in column 0)")
        else:
            out.append(f"{src}: {consumer} reads {name!r} as {what}")
    if len(extra) - len(blank) > limit:
        out.append(f"{src}: … and {len(extra) - len(blank) - limit} more {consumer} reads differently")
    if blank:
        out.append(f"{src}: {consumer} reads each blank line as {what}, an empty one (harmless, but it warns)")
    wrapped = {_core(t) for t in extra}   # `_same_but_wrapped` for every pair at once
    extra_set = set(extra)
    lost = [o for o in ours if o not in theirs_set and o not in wrapped
            and not (consumer == EMCC and emcc_unmangle(o) in extra_set)]
    if lost:
        out.append(f"{src}: {consumer} never sees {', '.join(map(repr, lost[:limit]))}"
                   f"{' …' if len(lost) > limit else ''} as written (split on commas, or merged with a neighbour)")
    return out


def _core(theirs: str) -> str:
    """A name as read, without the spaces, trailing comma and quotes a consumer kept around it."""
    return theirs.strip(_CXX_SPACE).rstrip(",").strip().strip('"')


def _same_but_wrapped(ours: str, theirs: str, consumer: str) -> bool:
    return _core(theirs) == ours or (consumer == EMCC and theirs == emcc_unmangle(ours))


def _why_changed(ours: str, theirs: str, consumer: str) -> str:
    if consumer == EMCC and theirs == emcc_unmangle(ours):
        return ("emcc (since 2.0.17) turns `.` into a space, `#` into `&` and `?` into `,`; "
                "write the name with `*` for those characters")
    if theirs.endswith("\r"):
        return "Windows line endings: the \\r is part of the name to Binaryen"
    return "Binaryen keeps spaces, quotes and commas around a name on its line"


def _empty_warning(src: str, kind: str) -> str:
    if kind == "imports":
        return (f"{src}: the list is empty: Binaryen reads an empty asyncify-imports as no list, i.e. "
                "every import may suspend")
    return (f"{src}: the list is empty: Binaryen reads an empty onlylist as no list at all and instruments "
            "every function that can reach an async import (emcc stops on an empty @file); to "
            "instrument nothing, pass --pass-arg=asyncify-removelist@* instead")


def add_entries(lf: ListFile, names: list[str]) -> str:
    """The list's text with `names` appended in its own style (and line endings); everything else
    byte-for-byte kept. Names only: where the list's reader would take a comment for a name, a
    comment is worse than none (see `list_warnings`)."""
    have = set(lf.entries)
    new = [n for n in dict.fromkeys(names) if n not in have]
    if not new:
        return lf.text
    if lf.format in ("json", "embedded") and lf.span:
        return _add_bracketed(lf, new)
    eol = "\r\n" if "\r\n" in lf.text else "\n"
    if lf.format == "binaryen":
        base = lf.text.rstrip("\r\n")
        return base + ("," if base else "") + ",".join(new) + eol
    text = lf.text if lf.text.endswith("\n") or not lf.text else lf.text + eol
    return text + "".join(n + eol for n in new)


def remove_entries(lf: ListFile, names: set[str]) -> str:
    """The list's text without the entries named in `names`; everything else (comments, order,
    layout) byte-for-byte kept. One-per-line layouts lose the entry's whole line; bracketed and
    comma layouts lose the entry and one separator next to it."""
    drop = [e for e in lf.entries_spans if e.name in names]
    if not drop:
        return lf.text
    text = lf.text
    if lf.format == "list":
        for e in sorted(drop, key=lambda e: -e.start):
            start = text.rfind("\n", 0, e.start) + 1
            end = text.find("\n", e.end)
            text = text[:start] + text[len(text) if end < 0 else end + 1:]
        return text
    spans, cuts = lf.entries_spans, []
    i = 0
    while i < len(spans):                    # each run of dropped entries, cut with one separator
        if spans[i].name not in names:
            i += 1
            continue
        j = i
        while j + 1 < len(spans) and spans[j + 1].name in names:
            j += 1
        if j + 1 < len(spans):
            cuts.append((spans[i].start, spans[j + 1].start))
        elif i > 0:
            cuts.append((spans[i - 1].end, spans[j].end))
        else:
            cuts.append((spans[i].start, spans[j].end))
        i = j + 1
    for start, end in reversed(cuts):
        text = text[:start] + text[end:]
    return text


def _add_bracketed(lf: ListFile, new: list[str]) -> str:
    text = lf.text
    assert lf.span
    if not lf.entries_spans:
        close = lf.span[1] - 1
        return text[:close] + ", ".join(json.dumps(n, ensure_ascii=False) for n in new) + text[close:]
    last = lf.entries_spans[-1]
    prev = lf.entries_spans[-2] if len(lf.entries_spans) > 1 else None
    sep = text[prev.end:last.start] if prev else ", "
    insert = "".join(sep + json.dumps(n, ensure_ascii=False) for n in new)
    return text[:last.end] + insert + text[last.end:]
