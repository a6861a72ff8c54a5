"""Stacks files, as `trace` writes them (one recorded stack per distinct import, module and frames, with
counts and the runs that saw it): merged across processes, read back for `--observed` with every field
checked, and the run a stack was seen in, for `why`."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError
from ..schemas import document, kind_of, schema_id
from ..system.inputs import read_input, text_head



def stacks_document(run: dict, stacks: list[dict]) -> dict:
    """What `trace -o FILE` writes (schema `asyncify-doctor/stacks/1`): how the stacks were recorded
    (`run`: the command or the wasmtime exports, the imports watched, the exit status, the processes),
    then the stacks, each with its import, module, frames (innermost first), count and runs."""
    return document("stacks", {**run, "stacks": stacks})


def merge(parts: list[list[dict]]) -> list[dict]:
    """One entry per distinct (import, module, frames), counts summed and runs joined across processes."""
    out: dict[tuple, dict] = {}
    for stacks in parts:
        for s in stacks:
            key = (s["import"], s.get("module"), tuple(f["index"] for f in s["frames"]))
            if key not in out:
                out[key] = {**s, "count": 0, "runs": []}
            out[key]["count"] += s["count"]
            out[key]["runs"] += [r for r in s.get("runs", []) if r not in out[key]["runs"]]
    return sorted(out.values(), key=lambda s: (-s["count"], s["import"]))



def read_observed(path: str | os.PathLike[str]) -> list[dict]:
    """The stacks of a `trace` file, each marked with the file's name (`why` says where a hop was seen).

    Anything else (a missing file, a binary, JSON of another shape) is a one-line `InputError` that
    says what is wrong in words, so `--observed` never fails later on a half-understood file."""
    p = Path(path)
    hint = "not a stacks file written by `asyncify-doctor trace -o FILE`"
    try:
        data = json.loads(read_input(p, head=text_head).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(str(p), exc.start, f"{hint}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(p), None, f"{hint}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(data, dict) and "schema" in data and kind_of(data) != "stacks":
        raise InputError(str(p), None, f"{hint}: its schema is {data['schema']!r}, not {schema_id('stacks')!r}")
    stacks = data.get("stacks") if isinstance(data, dict) else None
    if not isinstance(stacks, list):
        raise InputError(str(p), None, f"{hint}: it has no \"stacks\" list")
    for n, st in enumerate(stacks, 1):
        problem = _stack_problem(st)
        if problem:
            raise InputError(str(p), None, f"{hint}: stack {n} of {len(stacks)} {problem}")
    return [{**s, "file": p.name} for s in stacks]



def _stack_problem(st: object) -> str | None:
    """What is wrong with one recorded stack, or None: the fields `analyze --observed` and `why` use."""
    if not isinstance(st, dict):
        return "is not an object"
    if not isinstance(st.get("import"), str):
        return "has no \"import\" name"
    frames = st.get("frames")
    if not isinstance(frames, list):
        return "has no \"frames\" list"
    for f in frames:
        if not isinstance(f, dict) or not isinstance(f.get("name"), (str, type(None))) \
                or not isinstance(f.get("index"), (int, type(None))) or isinstance(f.get("index"), bool):
            return "has a frame that is not {\"name\": string or null, \"index\": integer or null}"
    return None



def origin(stack: dict) -> str:
    """Where a stack was seen, for `why`: `stacks.json: node test.mjs …` (parts left out when unknown)."""
    runs = stack.get("runs") or []
    run = runs[0] + (f" (and {len(runs) - 1} more runs)" if len(runs) > 1 else "") if runs else ""
    return ": ".join(part for part in (stack.get("file"), run) if part)
