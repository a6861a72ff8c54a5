"""Every JSON document the tool writes says what it is: a top-level `"schema"` naming the command and the
version of its shape (`asyncify-doctor/audit/1`), and the tool that wrote it. The JSON Schemas are in
`docs/schemas/` (one file per id, `audit-1.schema.json`), and the tests hold every output to them.

A consumer checks `schema` first. Within a version, keys are only ever added; a key renamed or
removed, or a meaning changed, is a new version. Documents are built field by field (never from a
dataclass's `__dict__`), so renaming a field in the code cannot change a document silently.
"""
from __future__ import annotations

import json
from typing import Any

from .version import __version__

# the version of each document's shape
VERSIONS = {
    "analyze": 1,       # analyze --format json: the list, each entry's chain, stats
    "why": 1,           # why --format json
    "graph": 1,         # graph --format json
    "audit": 1,         # audit --format json
    "jspi": 1,          # jspi --format json
    "parse-trace": 1,   # parse-trace --format json
    "stacks": 1,        # trace -o FILE: the recorded stacks (read back by --observed)
}


def schema_id(kind: str) -> str:
    return f"asyncify-doctor/{kind}/{VERSIONS[kind]}"


def kind_of(data: object) -> str | None:
    """The kind of one of our documents (`analyze`, …), or None for anything else. A document of a
    newer version than this tool knows is not ours to read: None."""
    if not isinstance(data, dict) or not isinstance(data.get("schema"), str):
        return None
    parts = data["schema"].split("/")
    if len(parts) != 3 or parts[0] != "asyncify-doctor" or parts[1] not in VERSIONS:
        return None
    return parts[1] if parts[2] == str(VERSIONS[parts[1]]) else None


def header(kind: str) -> dict[str, Any]:
    """The keys every document starts with."""
    return {"schema": schema_id(kind), "tool": {"name": "asyncify-doctor", "version": __version__}}


def document(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {**header(kind), **body}


def dumps(doc: dict[str, Any]) -> str:
    """The text of a document as the commands write it: indented, UTF-8 names kept, one final newline."""
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
