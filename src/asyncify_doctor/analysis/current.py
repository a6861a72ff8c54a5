"""Analysis + the user's own list → what to add (with a chain each) and what can go (with the bytes
of code it costs): the maintainer's update loop, for lists of 1,000+ hand-kept names.

Entries are matched as Binaryen matches them (exact names, `*` wildcards, and the Emscripten
spelling `lists.entry_matches` knows). An entry can go when no function it selects can be on the
stack at an async import; an entry that selects no function at all is reported apart and kept
(it may be meant for another build).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .closure import Analysis
from ..lists import ListFile, entry_matches, remove_entries


@dataclass
class Addition:
    function: int
    name: str


@dataclass
class Removal:
    entry: str
    bytes: int           # body bytes of what it selects: the code instrumented for nothing
    functions: int


@dataclass
class CurrentDiff:
    add: list[Addition] = field(default_factory=list)
    can_go: list[Removal] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    kept: int = 0

    @property
    def in_sync(self) -> bool:
        return not self.add and not self.can_go


def diff_current(an: Analysis, lf: ListFile) -> CurrentDiff:
    m = an.module
    by_name: dict[str, list[int]] = {}
    for f in m.functions:
        if not f.imported:
            by_name.setdefault(f.name, []).append(f.index)
    needed = set(an.listed)
    covered: set[int] = set()
    out = CurrentDiff()
    for entry in dict.fromkeys(lf.entries):
        hits = by_name.get(entry) or ([f.index for f in m.functions if not f.imported and entry_matches(entry, f.name)]
                                      if "*" in entry or entry not in by_name else [])
        if not hits:
            out.unmatched.append(entry)
        elif any(h in needed for h in hits):
            covered.update(hits)
            out.kept += 1
        else:
            out.can_go.append(Removal(entry, sum(m.body_size(h) for h in hits), len(hits)))
    out.add = [Addition(f, m.functions[f].name) for f in an.listed if f not in covered]
    return out


def updated_text(lf: ListFile, diff: CurrentDiff) -> str:
    """The list with the additions appended and the entries that can go removed, in its own layout."""
    from ..lists import add_entries, parse_list

    text = remove_entries(lf, {r.entry for r in diff.can_go})
    return add_entries(parse_list(text, source=lf.source, kind=lf.kind), [a.name for a in diff.add])
