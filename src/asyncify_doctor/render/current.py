"""`analyze --current`'s answer (`analysis.current.CurrentDiff`) in words: what to add, with a chain each,
and what can go, with the bytes of code it costs."""
from __future__ import annotations

from ..analysis.closure import Analysis
from ..analysis.current import CurrentDiff
from ..decode import display_name
from ..schemas import document
from .report import chain_names, format_chain


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


def diff_json(diff: CurrentDiff, an: Analysis, source: str) -> dict:
    """`analyze --list LIST --format json` (schema `asyncify-doctor/analyze/1`, with a `current` part)."""
    m = an.module
    return document("analyze", {
        "wasm": m.path, "mode": an.mode, "async_imports": [display_name(m, i) for i in an.async_imports],
        "current": {"list": source, "in_sync": diff.in_sync, "kept": diff.kept,
                    "add": [{"name": a.name, "index": a.function, "chain": chain_names(an, a.function)} for a in diff.add],
                    "can_go": [{"entry": r.entry, "bytes": r.bytes, "functions": r.functions} for r in diff.can_go],
                    "unmatched": list(diff.unmatched)}})
