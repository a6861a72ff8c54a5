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
from ..lists.files import ListFile, entry_matches, remove_entries
from ..render.report import format_chain


@dataclass
class Addition:
    function: int
    name: str
    chain: str


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
    out.add = [Addition(f, m.functions[f].name, format_chain(an, an.chain(f))) for f in an.listed if f not in covered]
    return out


def updated_text(lf: ListFile, diff: CurrentDiff) -> str:
    """The list with the additions appended and the entries that can go removed, in its own layout."""
    from ..lists.files import add_entries, parse_list

    text = remove_entries(lf, {r.entry for r in diff.can_go})
    return add_entries(parse_list(text, source=lf.source), [a.name for a in diff.add])


def diff_text(diff: CurrentDiff, an: Analysis, source: str) -> str:
    lines = [f"{source}: {diff.kept} entries needed, {len(diff.add)} to add, {len(diff.can_go)} can go "
             f"(--indirect {an.mode})"]
    if diff.add:
        lines.append(f"to add (can be on the stack at an async import, not in the list): {len(diff.add)}")
        lines += [f"  {a.name}\n      {a.chain}" for a in diff.add]
    if diff.can_go:
        total = sum(r.bytes for r in diff.can_go)
        lines.append(f"can go (never on the stack at an async import): {len(diff.can_go)}, {total} bytes of code "
                     "instrumented for nothing")
        lines += [f"  {r.entry} ({r.bytes} bytes{f', {r.functions} functions' if r.functions > 1 else ''})"
                  for r in sorted(diff.can_go, key=lambda r: (-r.bytes, r.entry))]
    if diff.unmatched:
        lines.append(f"entries matching no function of {an.module.path} (kept: typos, "
                     f"or meant for another build): {len(diff.unmatched)}")
        lines += [f"  {e}" for e in diff.unmatched]
    if diff.can_go and an.mode == "ignore":
        lines.append("note: under --indirect ignore \"can go\" assumes indirect calls never unwind; check with "
                     "--indirect typed before removing entries")
    if diff.in_sync:
        lines.append("the list is exactly what this binary needs")
    return "\n".join(lines) + "\n"
