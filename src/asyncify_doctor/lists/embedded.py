"""Lists inside build files: the value of `-sASYNCIFY_ONLY=` (and of emcc's other Asyncify list settings,
and of wasm-opt's `--pass-arg=asyncify-onlylist@`) in a Makefile, Dockerfile, CMake file or shell script —
found by the setting's name, read as the build hands it on, and edited in place in its own syntax.

Forms read, on any line that is not a `#` comment:
- `-sASYNCIFY_ONLY=[...]` (or `-s ASYNCIFY_ONLY=`): a bracketed list, entries quoted with `"` or `'`, or
  bare; the argument may sit in shell quotes (`'…'`, `"…"`, `$'…'`) and span lines with `\\` continuations
  (WordPress Playground's Dockerfile);
- `-sASYNCIFY_ONLY=a,b`: emcc's comma form (tools/cmdline.py `parse_string_list`);
- `-sASYNCIFY_ONLY=@FILE`, `asyncify-onlylist@@FILE`: a reference: FILE holds the list (`read_list` follows it);
- `-sASYNCIFY_ONLY=$(VAR)` or `${VAR}`: a make or shell variable defined once in the same file;
- `--pass-arg=asyncify-onlylist@a,b`: wasm-opt's comma form (names as Binaryen reads them: no unmangling).

Anything else around a setting — two lists for one setting, a variable defined twice or appended to,
escaped quotes — is refused with `ListFormatError`, never guessed, so an edit never breaks a build.
New entries are written the way the existing ones are (quote character and separator), as a `*`
pattern where a character would be changed by emcc, cut by a comma split or taken by the shell or make
(`$`, `#`, spaces outside quotes, quotes, backslashes): a pattern selects the name and perhaps a few more,
and instrumenting more is safe, fewer is not.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import InputError
from .names import _comma_safe, emcc_entry


class Entry(NamedTuple):
    """One name of a list file, where it stands in the text."""

    name: str
    start: int          # span of the entry's text (including quotes), for in-place edits
    end: int


EMCC, BINARYEN = "emcc", "wasm-opt"

# per kind of list: emcc's setting names (current, legacy), wasm-opt's pass argument names
SETTINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "onlylist": (("ASYNCIFY_ONLY", "ASYNCIFY_WHITELIST"), ("asyncify-onlylist", "asyncify-whitelist")),
    "removelist": (("ASYNCIFY_REMOVE", "ASYNCIFY_BLACKLIST"), ("asyncify-removelist", "asyncify-blacklist")),
    "addlist": (("ASYNCIFY_ADD",), ("asyncify-addlist",)),
    "imports": (("ASYNCIFY_IMPORTS", "JSPI_IMPORTS"), ("asyncify-imports",)),
    "jspi_exports": (("JSPI_EXPORTS", "ASYNCIFY_EXPORTS"), ()),
}
UNMANGLED = ("onlylist", "removelist", "addlist")   # emcc unmangles these entries (tools/link.py), not imports

_ANY_SETTING = re.compile(r"(?:(?<=-s)|(?<![A-Za-z0-9_]))(ASYNCIFY_[A-Z_]+|JSPI_[A-Z_]+)=|(?<![A-Za-z0-9_-])asyncify-[a-z-]+@")


def _setting_re(kind: str) -> re.Pattern[str]:
    emcc, wasm_opt = SETTINGS[kind]
    alts = [rf"(?:(?<=-s)|(?<![A-Za-z0-9_]))(?P<e{i}>{n})=" for i, n in enumerate(emcc)]
    alts += [rf"(?<![A-Za-z0-9_-])(?P<w{i}>{n})@" for i, n in enumerate(wasm_opt)]
    return re.compile("|".join(alts))


class ListFormatError(InputError):
    """A list file we cannot read: unbalanced brackets, bad JSON, non-string entries."""


@dataclass
class Embedded:
    """One list inside a build file: the setting, its form, and where its entries stand."""

    setting: str                 # as written: ASYNCIFY_ONLY, asyncify-onlylist…
    consumer: str                # emcc or wasm-opt: who parses the value
    form: str                    # bracket | commas | reference
    span: tuple[int, int]        # the bracket (both brackets included), or the run of the comma form
    line: int                    # 1-based line of the setting
    context: str = ""            # the shell quote the value sits in: ', ", $' or "" (none)
    entries: list[Entry] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)   # per entry: ", ' or "" (bare)
    reference: str | None = None


def _error(source: str, text: str, index: int, message: str) -> ListFormatError:
    return ListFormatError(source, len(text[:index].encode("utf-8")), message)


def _is_comment_line(text: str, index: int) -> bool:
    start = text.rfind("\n", 0, index) + 1
    return text[start:index].lstrip().startswith("#")


def mentioned_settings(text: str) -> dict[str, int]:
    """Every Asyncify/JSPI setting or pass argument named on a line that is not a comment, with the
    index of its first mention."""
    out: dict[str, int] = {}
    for m in _ANY_SETTING.finditer(text):
        if not _is_comment_line(text, m.start()):
            out.setdefault(m.group(0).rstrip("=@"), m.start())
    return out


def _line_start(text: str, index: int) -> int:
    """Start of the logical line holding `index` (lines ending in a `\\` continue)."""
    start = text.rfind("\n", 0, index) + 1
    while start >= 2 and text[start - 2] == "\\":
        start = text.rfind("\n", 0, start - 1) + 1
    return start


def _shell_context(text: str, start: int, index: int) -> str:
    """The shell quote open at `index`, scanning its logical line: ', ", $' or ""."""
    ctx, i = "", start
    while i < index:
        c = text[i]
        if ctx == "'":
            ctx = "" if c == "'" else ctx
        elif ctx in ('"', "$'"):
            if c == "\\":
                i += 1
            elif c == ('"' if ctx == '"' else "'"):
                ctx = ""
        elif c == "\\":
            i += 1
        elif c == "$" and text.startswith("$'", i):
            ctx, i = "$'", i + 1
        elif c in "'\"":
            ctx = c
        i += 1
    return ctx


def find_lists(text: str, kind: str, source: str) -> list[Embedded]:
    """The lists of `kind` in a build file's text, one per distinct value (a variable's definition
    counts once however often it is used)."""
    found: dict[int, Embedded] = {}
    for m in _setting_re(kind).finditer(text):
        if _is_comment_line(text, m.start()):
            continue
        name = next(v for v in m.groupdict().values() if v)
        consumer = EMCC if any(k.startswith("e") and v for k, v in m.groupdict().items()) else BINARYEN
        emb = _value(text, m.end(), name, consumer, source)
        found.setdefault(emb.span[0], emb)
    return list(found.values())


_VAR_REF = re.compile(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]")


def _value(text: str, i: int, setting: str, consumer: str, source: str, depth: int = 0) -> Embedded:
    line = text.count("\n", 0, i) + 1
    ctx = _shell_context(text, _line_start(text, i), i)
    if text.startswith("$'", i):
        ctx, i = "$'", i + 2
    elif text[i:i + 1] in ("'", '"') and not ctx:
        ctx, i = text[i], i + 1
    emb = Embedded(setting, consumer, "commas", (i, i), line, ctx)
    ref = _VAR_REF.match(text, i)
    if ref:
        if depth:
            raise _error(source, text, i, f"{setting}: a variable defined by another variable is not followed")
        return _variable(text, ref, setting, consumer, source)
    if text.startswith("@", i):
        end = i + 1
        while end < len(text) and not text[end].isspace() and text[end] not in "'\"":
            end += 1
        if end == i + 1:
            raise _error(source, text, i, f"{setting}=@ names no file")
        emb.form, emb.span, emb.reference = "reference", (i, end), text[i + 1:end]
        return emb
    if text.startswith("[", i):
        emb.form = "bracket"
        _bracket(text, i, emb, source)
        return emb
    _commas(text, i, emb, source)
    return emb


def _variable(text: str, ref: re.Match[str], setting: str, consumer: str, source: str) -> Embedded:
    """`$(VAR)`: the one definition of VAR in this file (`VAR = …`, `:=`, `::=`, `?=`; `export` allowed)."""
    var = ref.group(1)
    defs = list(re.finditer(rf"^[ \t]*(?:export[ \t]+)?{var}[ \t]*(\+?|:{{0,2}}|\?)=[ \t]*", text, re.M))
    defs = [d for d in defs if not _is_comment_line(text, d.start())]
    if len(defs) != 1 or defs[0].group(1) == "+":
        what = "is not defined in this file" if not defs else "is appended to (+=)" if any(
            d.group(1) == "+" for d in defs) else f"is defined {len(defs)} times"
        raise _error(source, text, ref.start(), f"{setting}={ref.group(0)}: {var} {what}; give the file that holds "
                     "the list, or write the list in the setting itself")
    emb = _value(text, defs[0].end(), setting, consumer, source, depth=1)
    return emb


def _bracket(text: str, i: int, emb: Embedded, source: str) -> None:
    """`[ … ]`: entries quoted with " (JSON escapes) or ', or bare; separators are commas, spaces and
    `\\` line continuations."""
    j = i + 1
    while True:
        while j < len(text) and (text[j].isspace() or text[j] in ",\\"):
            if text[j] == "\\" and text[j + 1:j + 2] not in ("\n", "\r"):
                raise _error(source, text, j, f"{emb.setting}: escaped quotes or backslashes in the list are not read; "
                             "keep the list in a file (-sASYNCIFY_ONLY=@file) or write it without them")
            j += 1
        if j >= len(text):
            raise _error(source, text, i, "unbalanced brackets: `[` is never closed")
        c = text[j]
        if c == "]":
            emb.span = (i, j + 1)
            return
        if c in "'\"":
            end = text.find(c, j + 1) if c == "'" else _json_string_end(text, j)
            if end < 0:
                raise _error(source, text, j, f"{emb.setting}: a quoted name is never closed")
            raw = text[j:end + 1]
            try:
                name = json.loads(raw) if c == '"' else raw[1:-1]
            except json.JSONDecodeError as exc:
                raise _error(source, text, j + exc.pos, f"bad string: {exc.msg}") from None
            emb.entries.append(Entry(name, j, end + 1))
            emb.quotes.append(c)
            j = end + 1
        elif c == "[":
            raise _error(source, text, j, f"{emb.setting}: a `[` inside the list")
        else:
            end = j
            while end < len(text) and not text[end].isspace() and text[end] not in ",]'\"\\":
                end += 1
            emb.entries.append(Entry(text[j:end], j, end))
            emb.quotes.append("")
            j = end


def _json_string_end(text: str, j: int) -> int:
    k = j + 1
    while k < len(text):
        if text[k] == "\\":
            k += 2
            continue
        if text[k] == '"':
            return k
        if text[k] == "\n":
            return -1
        k += 1
    return -1


def _commas(text: str, i: int, emb: Embedded, source: str) -> None:
    """`a,b,c`: up to the end of the shell word or of the quotes it sits in; whitespace after a comma
    does not end it inside quotes (`'a, b'` is one argument, and emcc strips each member)."""
    stop = {"'": "'", "$'": "'", '"': '"'}.get(emb.context, "")
    end = i
    while end < len(text) and text[end] != "\n" and text[end] not in "'\"":
        if text[end].isspace() and not (stop and text[i:end].rstrip().endswith(",")):
            break
        end += 1
    run = text[i:end]
    if not run.strip():
        raise _error(source, text, i, f"{emb.setting}= has an empty value")
    emb.span = (i, end)
    off = i
    for part in run.split(","):
        name = part.strip()
        if name:
            lead = len(part) - len(part.lstrip())
            emb.entries.append(Entry(name, off + lead, off + lead + len(name)))
            emb.quotes.append("")
        off += len(part) + 1


# --- writing new entries ------------------------------------------------------------------------

_SAFE = r"A-Za-z0-9_*.:+~=%/@\-"            # nothing the shell or make would take, in any context
_SAFE_QUOTED = _SAFE + r" ()<>&|;,"         # inside '…' or $'…', as a JSON string (make still takes `$`, `#`)


def embed_entry(name: str, emb: Embedded, kind: str) -> str | None:
    """The entry to write for `name` in this list: emcc's spelling (`names.emcc_entry`) for the lists
    emcc unmangles, Binaryen's comma-safe one for wasm-opt; any character the shell or make would take
    written as `*`. None when too little of the name would be left to select it (fewer than 3
    characters besides `*`)."""
    entry = emcc_entry(name) if emb.consumer == EMCC and kind in UNMANGLED else name
    if not _comma_safe([entry]):
        entry = re.sub(r"[,()<>\[\]{}]", "*", entry)
    json_string = emb.context in ("'", "$'") and emb.form == "bracket" and new_quote(emb) == '"'
    safe = _SAFE_QUOTED if json_string else _SAFE
    entry = re.sub(r"\*+", "*", re.sub(rf"[^{safe}]", "*", entry))
    return entry if len(entry.replace("*", "")) >= 3 else None


def new_quote(emb: Embedded) -> str:
    """The quote character new entries get: the last entry's; in an empty bracket, `"` (or `'` inside
    a double-quoted argument)."""
    if emb.form != "bracket":
        return ""
    if emb.quotes:
        return emb.quotes[-1]
    return "'" if emb.context == '"' else '"'


def shell_split(emb: Embedded, text: str) -> bool:
    """Does the shell split this bracketed value into several words (spaces outside any quotes)? make
    joins `\\` continuation lines with a space, so a continuation counts too."""
    if emb.context or emb.form != "bracket":
        return False
    last = emb.span[0]
    for e in emb.entries:
        if any(c.isspace() for c in text[last:e.start]):
            return True
        last = e.end
    return any(c.isspace() for c in text[last:emb.span[1]])
