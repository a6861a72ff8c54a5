"""`analyze --current`'s answer (`analysis.current.CurrentDiff`) in words: what to add, with a chain each,
and what can go, with the bytes of code it costs."""
from __future__ import annotations

from ..analysis.closure import Analysis
from ..analysis.current import CurrentDiff
from .report import format_chain


def diff_text(diff: CurrentDiff, an: Analysis, source: str) -> str:
    lines = [f"{source}: {diff.kept} entries needed, {len(diff.add)} to add, {len(diff.can_go)} can go "
             f"(--indirect {an.mode})"]
    if diff.add:
        lines.append(f"to add (can be on the stack at an async import, not in the list): {len(diff.add)}")
        lines += [f"  {a.name}\n      {format_chain(an, an.chain(a.function))}" for a in diff.add]
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
