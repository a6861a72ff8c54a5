"""Editing a list file in place: entries added or removed in the file's own layout (a bracketed list
inside a Makefile stays inside its brackets), everything else — comments, order, line endings — kept."""
from __future__ import annotations

import json

from .layouts import ListFile


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
