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
- `embedded`: a list inside a Makefile, Dockerfile, CMake file or shell script, found by its setting's
  name (`-sASYNCIFY_ONLY=[...]`, `=a,b`, `=$(VAR)`, wasm-opt's `asyncify-onlylist@a,b`: `embedded`), or a
  bracketed list of quoted names in a file that names no setting; only the list's own span is ever edited;
- `reference`: `-sASYNCIFY_ONLY=@FILE` (or `asyncify-onlylist@@FILE`): `read_list` reads FILE instead.

A build file (one that names an Asyncify setting, or is called Makefile, Dockerfile, CMakeLists.txt,
*.mk, *.cmake, *.sh) without a list of the wanted kind, or with one we cannot read exactly, is refused
(`ListFormatError`), never read line by line as names. As people write list files: a UTF-8 byte-order
mark is skipped (and kept on rewrite), and a `#` after a space or tab ends a name (an inline comment),
in the `list` and `binaryen` layouts; `readers.list_warnings` says that wasm-opt and emcc read both as
part of a name.

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
from itertools import accumulate
from pathlib import Path

from ..schemas import kind_of
from ..system.inputs import read_input, text_head
from .embedded import SETTINGS, Embedded, Entry, ListFormatError, find_lists, mentioned_settings
from .names import _balanced, _split_commas

BOM = "\ufeff"
_BUILD_FILE = re.compile(r"(?:^|[/\\])(?:GNUmakefile|[Mm]akefile|Dockerfile[^/\\]*|[^/\\]*\.dockerfile|CMakeLists\.txt|"
                         r"[^/\\]*\.(?:mk|make|cmake|sh|bash|zsh))$")


@dataclass
class ListFile:
    source: str
    text: str
    format: str                         # list | json | binaryen | embedded | reference | report
    entries_spans: list[Entry] = field(default_factory=list)
    span: tuple[int, int] | None = None  # the bracketed region, for json/embedded
    kind: str = "onlylist"              # which list: onlylist | removelist | addlist | imports | jspi_exports
    bom: bool = False                   # the text starts with a UTF-8 byte-order mark (kept in `text`)
    embedded: Embedded | None = None    # the setting it sits in, in a build file
    via: str | None = None              # the build file whose `=@FILE` led here (`read_list`)

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


def parse_list(text: str, *, source: str = "<list>", kind: str = "onlylist") -> ListFile:
    """Read any supported layout. Raises `ListFormatError` with the byte offset of the problem.
    `kind` says which list a build file's settings must hold (see `embedded.SETTINGS`)."""
    if text.startswith(BOM):   # parsed as a space (same length: every span stays right), kept in `text`
        try:
            lf = _parse(" " + text[1:], source, kind)
        except ListFormatError as exc:
            raise ListFormatError(exc.path, exc.offset + 2 if exc.offset else exc.offset, exc.message) from None
        lf.text, lf.bom = text, True
        return lf
    return _parse(text, source, kind)


def _parse(text: str, source: str, kind: str) -> ListFile:
    if kind not in SETTINGS:
        raise ValueError(f"unknown kind of list {kind!r}")
    named = mentioned_settings(text) if ("ASYNCIFY_" in text or "JSPI_" in text or "asyncify-" in text) else {}
    if named or _BUILD_FILE.search(source):
        found = find_lists(text, kind, source)
        if len(found) > 1:
            lines = ", ".join(str(e.line) for e in found)
            raise _error(source, text, found[1].span[0], f"{len(found)} {found[0].setting} lists (lines {lines}): pass "
                         "the file that holds only the one your build uses, or keep the list in its own file (=@FILE)")
        if found:
            emb = found[0]
            fmt = "reference" if emb.form == "reference" else "embedded"
            return ListFile(source, text, fmt, list(emb.entries), emb.span, kind, embedded=emb)
        if named or not _looks_like_a_list(text):
            want = " or ".join(SETTINGS[kind][0][:1] + SETTINGS[kind][1][:1])
            has = f" (it names {', '.join(list(named)[:4])})" if named else ""
            raise _error(source, text, min(named.values(), default=0),
                         f"a build file with no {want} list{has}; nothing is read from it as names")
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if not _looks_json(stripped):
                return _parse_plain(text, source, kind)  # a plain list whose first name starts with `[` or `{`
            raise _error(source, text, exc.pos, f"bad JSON list: {exc.msg}") from None
        if isinstance(data, dict):
            return _parse_report(text, data, source)
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise _error(source, text, len(text) - len(stripped), "a JSON list must be an array of strings")
        span = _find_bracket(text) or (0, len(text))
        lf = ListFile(source, text, "json", span=span, kind=kind)
        lf.entries_spans = _parse_bracket(source, text, *span) if span[1] > 0 else []
        return lf
    if "[" in text and '"' in text and _is_embedded(text):
        bracket = _find_bracket(text)
        assert bracket is not None
        if bracket[1] < 0:
            raise _error(source, text, bracket[0], "unbalanced brackets: `[` is never closed")
        return ListFile(source, text, "embedded", _parse_bracket(source, text, *bracket), bracket, kind)
    return _parse_plain(text, source, kind)


def _looks_like_a_list(text: str) -> bool:
    """A file named like a build file may still be a list (a `.sh`-named list is unlikely, but a file
    `Makefile.list` is not matched): it is one when every line is blank, a comment, or one word."""
    return all(len(line.split()) <= 1 or line.lstrip().startswith("#") for line in text.splitlines())


def _parse_report(text: str, data: dict, source: str) -> ListFile:
    """The list of an `analyze --format json` document (schema `asyncify-doctor/analyze/1`, or the
    unversioned report of earlier releases); any other JSON object is not a list (a graph or an audit
    would read as a few stray names)."""
    kind = kind_of(data)
    legacy = "schema" not in data and data.get("tool") == "asyncify-doctor"
    if not (kind == "analyze" or legacy) or not isinstance(data.get("functions"), list):
        what = f"an asyncify-doctor {kind} document" if kind else (
            f"a document of schema {data['schema']!r}" if isinstance(data.get("schema"), str) else "a JSON object")
        raise _error(source, text, 0, f"{what}, not a list: give a list file, or the output of "
                                      "`asyncify-doctor analyze --format json`")
    names = [f["name"] for f in data["functions"] if isinstance(f, dict) and isinstance(f.get("name"), str)]
    if len(names) != len(data["functions"]):
        raise _error(source, text, 0, "a JSON report's functions must each have a string name")
    return ListFile(source, text, "report", [Entry(n, 0, 0) for n in names])


def _is_embedded(text: str) -> bool:
    span = _find_bracket(text)
    return span is not None and any(not line.lstrip().startswith("#") for line in text[:span[0]].splitlines() or [""])


_INLINE_COMMENT = re.compile(r"[ \t]#")


def _uncomment(line: str) -> str:
    """The line without an inline comment: a `#` after a space or tab ends the name (Emscripten's
    mangled names hold `#`, but never a space before it: a space is written `.`)."""
    m = _INLINE_COMMENT.search(line) if "#" in line else None
    return line[:m.start()] if m else line


def _parse_plain(text: str, source: str, kind: str = "onlylist") -> ListFile:
    """Binaryen's rule: several lines → one name per line; one line → commas outside brackets.
    Our leniencies, for hand-kept files: `#` comment lines, inline `# comments`, blank lines, and quotes
    or a trailing comma around a name are skipped."""
    lines = text.split("\n")          # Binaryen splits on "\n" only (not on \v, \f, \u2028…)
    starts = [0, *accumulate(len(ln) + 1 for ln in lines)]
    content = [(i, s) for i, ln in enumerate(lines) if (s := (_uncomment(ln) if "#" in ln else ln).strip()) and s[0] != "#"]
    if len(content) != 1:   # one name per line: no splitting, so one pass (lists of 90,000 names)
        found = [Entry(s, starts[i], starts[i] + len(s)) if len(s) == len(lines[i]) and s[-1] != "," and s[0] != '"'
                 else _plain_entry(_uncomment(lines[i].rstrip("\r")), starts[i], many=True) for i, s in content]
        return ListFile(source, text, "list", [e for e in found if e], kind=kind)
    i = content[0][0]
    body = _uncomment(lines[i].rstrip("\r"))
    if not _balanced(body):
        raise _error(source, text, starts[i], "unbalanced brackets in a comma-separated list")
    entries, off = [], starts[i]
    for part in _split_commas(body):
        entry = _plain_entry(part, off, many=False)
        if entry:
            entries.append(entry)
        off += len(part) + 1
    return ListFile(source, text, "binaryen" if len(entries) > 1 else "list", entries, kind=kind)


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


def read_list(path: str | os.PathLike[str], *, kind: str = "onlylist", follow: bool = True) -> ListFile:
    """Read a list file. A build file whose setting says `=@FILE` is followed (`follow`): the list
    read is FILE's (relative to the build file's folder, where make and a Dockerfile's build run), with
    `via` naming the build file."""
    p = Path(path)
    lf = parse_list(_read_text(p), source=str(p), kind=kind)
    if follow and lf.format == "reference" and lf.embedded and lf.embedded.reference:
        target = p.parent / lf.embedded.reference
        if not target.is_file():
            raise _error(str(p), lf.text, lf.embedded.span[0], f"{lf.embedded.setting}=@{lf.embedded.reference} "
                         f"(line {lf.embedded.line}): no such file {target}")
        inner = parse_list(_read_text(target), source=str(target), kind=kind)
        if inner.format == "reference" and inner.embedded:
            raise _error(str(target), inner.text, inner.embedded.span[0], "a list file that refers to another one is not followed")
        inner.via = str(p)
        return inner
    return lf


def _read_text(p: Path) -> str:
    raw = read_input(p, lambda path, why: ListFormatError(path, None, why), head=text_head)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ListFormatError(str(p), exc.start, "not valid UTF-8") from None
