"""What the readers of a list file really take from it — Binaryen's wasm-opt and emcc, read in their
sources, by version — and one-line warnings wherever that differs from what the list means to us."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import islice

from .embedded import UNMANGLED, shell_split
from .formats import format_names
from .layouts import ListFile, parse_list
from .names import _BRACKET, _CLOSING, _OPENING, NEWLINE_SPLIT_SINCE, emcc_entry, emcc_unmangle, odd_names


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


def emcc_setting_reads(value: str, unmangle: bool = True) -> ConsumerRead:
    """What `-sASYNCIFY_ONLY=VALUE` on emcc's command line (after the shell and make are done with
    it) hands Binaryen: tools/cmdline.py `apply_user_settings` doubles every backslash, then
    `parse_value` tries JSON and else its own list syntax (`[a, 'b c']` or `a,b`: members split on
    commas, left-stripped, quoted ones rejoined; an empty member is an error); same code 3.1.0–6.0.8
    (emcc.py before 3.1.60). `unmangle`: as for `emcc_reads`."""
    value = value.replace("\\", "\\\\")
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if data is None or not isinstance(data, (str, list)):
        entries = _emcc_string_list(value)
        if isinstance(entries, str):
            return ConsumerRead(EMCC, None, entries)
    elif isinstance(data, str):
        entries = [data]
    elif not all(isinstance(x, str) for x in data):
        return ConsumerRead(EMCC, None, "list members in settings must be strings")
    else:
        entries = data
    if not entries:
        return ConsumerRead(EMCC, None)
    names, fatal = _binaryen_commas(",".join(emcc_unmangle(e) if unmangle else e for e in entries))
    return ConsumerRead(EMCC, names, fatal)


def _emcc_string_list(text: str) -> list[str] | str:
    """tools/cmdline.py `parse_string_list` (6.0.8 lines 647–689): the entries, or emcc's error."""
    text = text.rstrip()
    if text and text[0] == "[":
        if text[-1] != "]":
            return 'unterminated string list. expected final character to be "]"'
        text = text[1:-1]
    if not text.strip():
        return []
    values, result, index = text.split(","), [], 0
    while True:
        current = values[index].lstrip()
        if not current:
            return "empty value in string list"
        first = current[0]
        if first not in ("'", '"'):
            result.append(current.rstrip())
        else:
            start = index
            while True:
                if index >= len(values):
                    return f"unclosed quoted string. expected final character to be '{first}' in '{values[start]}'"
                new = values[index].rstrip()
                if new and new[-1] == first:
                    result.append(current.rstrip()[1:-1] if start == index else (current + "," + new)[1:-1])
                    break
                current += "," + values[index]
                index += 1
        index += 1
        if index >= len(values):
            return result


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


def list_warnings(lf: ListFile, consumer: str | None = None, *, kind: str | None = None,
                  binaryen_version: int | None = None, limit: int = 4) -> list[str]:
    """One-line warnings about what `consumer` (`wasm-opt`, `emcc`, or None for both) will make of
    this list where it differs from what the list means to us: an empty list (no list at all to
    Binaryen), lines it reads as names (`#` comments, blank lines, names with spaces, quotes or a
    "\\r" around them), entries it splits, unmangles or cannot parse. `kind`: `onlylist` or `imports`."""
    if lf.format in ("report", "reference"):
        return []
    consumers = [consumer] if consumer else list(CONSUMERS)
    if lf.embedded is not None:      # a setting in a build file: read by the tool it is passed to
        consumers = [lf.embedded.consumer]
    elif lf.format in ("json", "embedded"):
        consumers = [c for c in consumers if c == EMCC] or consumers
    kind = kind or lf.kind
    out: list[str] = _build_file_warnings(lf)
    for c in consumers:
        out += _warnings_for(lf, c, kind, binaryen_version, limit)
    return list(dict.fromkeys(out))


def _build_file_warnings(lf: ListFile) -> list[str]:
    """What the shell or make does to a list in a build file before its consumer sees it."""
    emb = lf.embedded
    if emb is None or not shell_split(emb, lf.text):
        return []
    return [f"{lf.source}: line {emb.line}: the shell splits {emb.setting}=[…] at its spaces (it is not in quotes; make "
            "joins `\\` continuation lines with a space): emcc gets only its first word and stops; quote the "
            "argument ('…') or write the list without spaces"]


def _warnings_for(lf: ListFile, consumer: str, kind: str, version: int | None, limit: int) -> list[str]:
    src, ours = lf.source, lf.entries
    if not ours:
        return [_empty_warning(src, kind)]
    if lf.format in ("json", "embedded") and lf.embedded is None and consumer == BINARYEN:
        return [f"{src}: wasm-opt does not read JSON or a Makefile: give it one name per line "
                "(asyncify-doctor analyze --format binaryen)"]
    out: list[str] = []
    text = lf.text
    if lf.bom and lf.embedded is None:
        out.append(_bom_warning(lf, consumer, version, kind))
        text = text[1:]     # what else it misreads, as if saved without the mark
    if lf.format == "embedded" and consumer == EMCC:   # emcc parses the setting: entries, then unmangled
        read = ConsumerRead(EMCC, [emcc_unmangle(e) if kind in UNMANGLED else e for e in ours])
    elif lf.format == "embedded":                      # wasm-opt's pass argument: Binaryen's comma split
        names, fatal = _binaryen_commas(",".join(ours))
        read = ConsumerRead(BINARYEN, names or None, fatal)
    else:
        read = consumer_reads(text, consumer, version, kind)
    if read.fatal:
        return out + [f"{src}: {consumer} stops on this file: {read.fatal}"]
    if read.names is None:
        return out + [_empty_warning(src, kind)]
    theirs = read.names
    what = "an import pattern" if kind == "imports" else "a function name"
    if consumer == BINARYEN and len(theirs) < len(ours) and any("\n" in n for n in theirs):
        return out + [f"{src}: Binaryen {version} splits list files on commas only: it reads this one-name-per-line "
                      "file as one name that matches nothing (write it with --format binaryen --binaryen-version)"]
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
    wrapped = {_core(t, consumer) for t in extra}   # `_same_but_wrapped` for every pair at once
    extra_set = set(extra)
    lost = [o for o in ours if o not in theirs_set and o not in wrapped
            and not (consumer == EMCC and emcc_unmangle(o) in extra_set)]
    if lost:
        out.append(f"{src}: {consumer} never sees {', '.join(map(repr, lost[:limit]))}"
                   f"{' …' if len(lost) > limit else ''} as written (split on commas, or merged with a neighbour)")
    return out


_INLINE = {BINARYEN: re.compile(r"[ \t]#"), EMCC: re.compile(r"[ \t]&")}   # emcc has made the `#` an `&`


def _core(theirs: str, consumer: str = BINARYEN) -> str:
    """A name as read, without the spaces, trailing comma, quotes and inline comment a consumer kept."""
    m = _INLINE[consumer].search(theirs)
    return (theirs[:m.start()] if m else theirs).strip(_CXX_SPACE).rstrip(",").strip().strip('"')


def _same_but_wrapped(ours: str, theirs: str, consumer: str) -> bool:
    return _core(theirs, consumer) == ours or (consumer == EMCC and theirs == emcc_unmangle(ours))


def _why_changed(ours: str, theirs: str, consumer: str) -> str:
    if consumer == EMCC and theirs == emcc_unmangle(ours):
        return ("emcc (since 2.0.17) turns `.` into a space, `#` into `&` and `?` into `,`; "
                "write the name with `*` for those characters")
    if _INLINE[consumer].search(theirs):
        return (f"an inline comment is part of the name to {consumer} (Binaryen has no comments; emcc skips only "
                "lines that start with `#`): put the comment on a line of its own for emcc, or drop it")
    if theirs.endswith("\r"):
        return "Windows line endings: the \\r is part of the name to Binaryen"
    return "Binaryen keeps spaces, quotes and commas around a name on its line"


def _bom_warning(lf: ListFile, consumer: str, version: int | None, kind: str) -> str:
    """A UTF-8 byte-order mark: Binaryen (`read_file`, support/file.cpp) and emcc (`read_file` opens the
    file as 'utf-8', not 'utf-8-sig', and `str.strip` keeps U+FEFF) both keep it: it starts the first
    name, and it hides a JSON file's `[` from emcc, which then reads the file one name per line."""
    read = consumer_reads(lf.text, consumer, version, kind)
    first = (read.names or [""])[0]
    if consumer == EMCC and lf.format == "json":
        return (f"{lf.source}: starts with a UTF-8 byte-order mark, which hides the `[` from emcc: it reads this JSON "
                f"file as one name per line ({first!r} …); save it as UTF-8 without a BOM")
    return (f"{lf.source}: starts with a UTF-8 byte-order mark, which {consumer} reads as part of the first name "
            f"({first!r}, matching nothing); save the file as UTF-8 without a BOM")


def _empty_warning(src: str, kind: str) -> str:
    if kind == "imports":
        return (f"{src}: the list is empty: Binaryen reads an empty asyncify-imports as no list, i.e. "
                "every import may suspend")
    return (f"{src}: the list is empty: Binaryen reads an empty onlylist as no list at all and instruments "
            "every function that can reach an async import (emcc stops on an empty @file); to "
            "instrument nothing, pass --pass-arg=asyncify-removelist@* instead")


def written_list_notes(names: list[str], fmt: str, *, binaryen_version: int | None = None, mangle: bool = False,
                       source: str = "the list", every_name: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """What a list written by `format_names` will mean to its reader where that is not plain: names
    written as `*` patterns for emcc (and the old Binaryen versions that abort on such a pattern when a
    function is named exactly its part before the `*`, `every_name` holding the binary's names), and
    `list_warnings` on the names a reader could misread (`warning_sample`). Each starts with `note:`
    or `warning:`."""
    out = []
    if fmt == "emscripten":
        patterned = [n for n in names if emcc_entry(n) != n]
        if patterned:
            out.append(f"note: {len(patterned)} name(s) are written as `*` patterns that select them, since emcc "
                       "turns `.`, `#`, `?` into other characters and splits entries on commas: e.g. "
                       f"{patterned[0]} → {emcc_entry(patterned[0])}")
            risky = [e for e in map(emcc_entry, patterned) if "*" in e.strip("*") and e.split("*")[0] in every_name]
            if risky:
                out.append(f"warning: Binaryen 124 and older abort on a pattern with an inner `*` when a function is "
                           f"named exactly its part before the `*` (String::wildcardMatch): {', '.join(risky[:3])}; "
                           "use Binaryen 125+ or pass the list with --pass-arg")
    consumer = {"binaryen": BINARYEN, "emscripten": EMCC}.get(fmt)
    written = parse_list(format_names(warning_sample(names), fmt, binaryen_version=binaryen_version, mangle=mangle),
                         source=source)
    return out + [f"warning: {w}" for w in list_warnings(written, consumer, binaryen_version=binaryen_version)]
