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

Names are kept exactly as written. Current toolchains match real names: emcc passes ASYNCIFY_ONLY
entries to Binaryen verbatim (tools/link.py joins them with commas), and Binaryen compares them with
the name-section names as they are (escaping both sides the same way before version 131, neither
since). Some older projects write names in a mangled form (space → `.`, `&` → `#`, `,` → `?`);
`entry_matches` accepts entries written either way, with `*` wildcards, and `--emscripten-mangle`
writes that form for builds that still expect it.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .outputs import write_atomic  # noqa: F401 - the safe writer lives in outputs; kept importable here
from .patterns import matches as wildcard_matches

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


@dataclass
class Entry:
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
    lines = [ln for ln in text.splitlines(keepends=True)]
    content = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    entries: list[Entry] = []
    pos = 0
    single = len(content) == 1
    for line in lines:
        body = line.rstrip("\r\n")
        if body.strip() and not body.lstrip().startswith("#"):
            parts = _split_commas(body) if single else [body]
            if single and not _balanced(body):
                raise _error(source, text, pos, "unbalanced brackets in a comma-separated list")
            off = pos
            for part in parts:
                entry = _plain_entry(part, off, many=not single)
                if entry:
                    entries.append(entry)
                off += len(part) + 1
        pos += len(line)
    return ListFile(source, text, "binaryen" if single and len(entries) > 1 else "list", entries)


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
                 header: str | None = None, mangle: bool = False) -> str:
    """Write names for a build: `list`, `emscripten` (JSON array; `mangle` for the legacy mangled
    form) or `binaryen`."""
    if fmt == "list":
        bad = [n for n in names if "\n" in n or n.lstrip().startswith(("#", "[", "{", '"')) or n != n.strip()
               or n.endswith(",")]
        if len(names) == 1 and not _comma_safe(names):
            bad = names
        if bad:
            raise UnrepresentableName("<output>", None, f"{bad[0]!r} cannot be written one-per-line; use --format emscripten or json")
        head = "".join(f"# {line}\n" for line in (header or "").splitlines())
        return head + "".join(n + "\n" for n in names)
    if fmt == "emscripten":
        body = ",\n".join("  " + json.dumps(emscripten_mangle(n) if mangle else n, ensure_ascii=False) for n in names)
        return "[\n" + body + ("\n" if names else "") + "]\n"
    if fmt == "binaryen":
        return _binaryen(names, binaryen_version)
    raise ValueError(f"unknown list format {fmt!r}")


def _binaryen(names: list[str], version: int | None) -> str:
    """Binaryen reads names raw (no quoting, no comments). Newer versions take one name per line;
    a single line, and every file for versions < 117, is split on commas outside brackets — so a name
    with a comma outside brackets cannot be expressed there. Refuse instead of silently breaking it."""
    for n in names:
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
    return "".join(n + "\n" for n in names)


def add_entries(lf: ListFile, names: list[str], comment: str | None = None) -> str:
    """The list's text with `names` appended in its own style; everything else byte-for-byte kept."""
    have = set(lf.entries)
    new = [n for n in dict.fromkeys(names) if n not in have]
    if not new:
        return lf.text
    if lf.format in ("json", "embedded") and lf.span:
        return _add_bracketed(lf, new)
    if lf.format == "binaryen":
        base = lf.text.rstrip("\n")
        return base + ("," if base else "") + ",".join(new) + "\n"
    text = lf.text if lf.text.endswith("\n") or not lf.text else lf.text + "\n"
    head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    return text + head + "".join(n + "\n" for n in new)


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
