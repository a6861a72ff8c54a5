"""Editing a list file in place: entries added or removed in the file's own layout (a bracketed list
inside a Makefile stays inside its brackets, quoted as its entries are; emcc's `a,b` form gets `,c`),
everything else — comments, order, line endings, a byte-order mark — kept. An edit that would not read
back as the old entries plus the new ones is refused (`ListFormatError`), the file left as it was."""
from __future__ import annotations

import json

from .embedded import ListFormatError, embed_entry, new_quote
from .layouts import ListFile, parse_list


def add_entries(lf: ListFile, names: list[str]) -> str:
    """The list's text with `names` appended in its own style (and line endings); everything else
    byte-for-byte kept. Names only: where the list's reader would take a comment for a name, a
    comment is worse than none (see `list_warnings`)."""
    have = set(lf.entries)
    new = [n for n in dict.fromkeys(names) if n not in have]
    if not new:
        return lf.text
    if lf.format == "reference":
        raise ListFormatError(lf.source, None, "the list is in the file its =@FILE names: edit that one (read_list follows it)")
    if lf.embedded is not None:
        return _add_embedded(lf, new)
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


def _add_embedded(lf: ListFile, names: list[str]) -> str:
    """New entries in a build file's setting, in its own syntax (see `embedded`), checked by reading
    the result back."""
    emb = lf.embedded
    assert emb is not None
    entries = []
    for name in names:
        entry = embed_entry(name, emb, lf.kind)
        if entry is None:
            raise ListFormatError(lf.source, None, f"cannot write {name!r} into {emb.setting} (line {emb.line}) safely for "
                                  "the shell, make and emcc; keep the list in its own file (=@FILE)")
        entries.append(entry)
    entries = [e for e in dict.fromkeys(entries) if e not in set(lf.entries)]
    if not entries:
        return lf.text
    text, quote = lf.text, new_quote(emb)
    written = [quote + e + quote for e in entries]
    if emb.form == "bracket" and not lf.entries_spans:
        close = emb.span[1] - 1
        new_text = text[:close] + ",".join(written) + text[close:]
    else:
        last = lf.entries_spans[-1]
        prev = lf.entries_spans[-2] if len(lf.entries_spans) > 1 else None
        sep = text[prev.end:last.start] if prev else ","
        if emb.form == "commas" and any(c.isspace() for c in sep) and not emb.context:
            sep = ","     # a space would end the shell word
        new_text = text[:last.end] + "".join(sep + w for w in written) + text[last.end:]
    back = parse_list(new_text, source=lf.source, kind=lf.kind)
    if back.entries != lf.entries + entries:
        raise ListFormatError(lf.source, None, f"adding to {emb.setting} (line {emb.line}) in place would not read back "
                              "as meant; the file is left as it was")
    return new_text
