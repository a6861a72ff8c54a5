"""`parse-trace`'s answer: each crash found in a log with its frames named in the binary (or why not), as
text and as a document (schema `asyncify-doctor/parse-trace/1`)."""
from __future__ import annotations

from typing import Any

from ..schemas import document
from ..traces import Crash, FrameMapper


def crash_records(crashes: list[Crash], mapper: FrameMapper) -> list[dict[str, Any]]:
    """One record per crash: its message, line, kind, frames (innermost first, named where they can be)
    and the frames that could not be named, with the reason."""
    out = []
    for c in crashes:
        mp = mapper.map(c)
        out.append({"message": c.message, "line": c.line, "kind": c.kind, "asyncify_like": c.looks_like_asyncify,
                    "frames": [name or label for label, name in mp.frames],
                    "unresolved": [{"frame": label, "reason": why} for label, why in mp.unresolved],
                    "invented": [{"frame": label, "name": name} for label, name in mp.frames if name in mp.invented]})
    return out


def crashes_json(records: list[dict[str, Any]], source: str) -> dict[str, Any]:
    return document("parse-trace", {"log": source, "crashes": records})


def crashes_text(records: list[dict[str, Any]]) -> str:
    lines = []
    for c in records:
        lines.append(f"line {c['line']}: {c['message']}" + ("" if c["asyncify_like"] else f"  ({c['kind']}: does not look like Asyncify)"))
        invented = {i["name"]: i["frame"] for i in c["invented"]}
        lines += [f"    {n}" + (f"  ({invented[n]}: Binaryen's name for it, no name in either binary)" if n in invented else "")
                  for n in c["frames"]]
        if c["unresolved"]:
            lines.append(f"    ({len(c['unresolved'])} frame(s) not named: {c['unresolved'][0]['reason']})")
    return "".join(line + "\n" for line in lines)
