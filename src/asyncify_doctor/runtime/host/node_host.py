"""Run an asyncified module under node with the JS host (`node/asyncify_host.mjs`): the same
protocol and failure kinds as the wasmtime host, so every proof also holds on V8."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from .common import STANDARD_ASYNC, AsyncifyRunError, RunResult
from ...errors import DoctorError

HOST = Path(__file__).parent / "node" / "asyncify_host.mjs"
MIN_NODE = 22


class NodeUnavailable(DoctorError):
    def __str__(self) -> str:
        return (f"node >= {MIN_NODE} not found: `npm install` in this repo (it installs node 24), "
                "or set ASYNCIFY_DOCTOR_NODE to a node binary")


def find_node() -> str:
    """ASYNCIFY_DOCTOR_NODE, then node_modules/.bin/node of the repo or cwd, then PATH."""
    cands = [os.environ.get("ASYNCIFY_DOCTOR_NODE")]
    for base in (Path.cwd(), Path(__file__).resolve().parents[4]):
        cands.append(str(base / "node_modules" / ".bin" / "node"))
    cands.append(shutil.which("node"))
    for cand in cands:
        if cand and Path(cand).exists() and node_major(cand) >= MIN_NODE:
            return cand
    raise NodeUnavailable()


def node_major(node: str) -> int:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = re.match(r"v(\d+)", out.strip())
    return int(m.group(1)) if m else 0


def _run_node(args: list[str], timeout: float) -> dict:
    """Run a host script under node; its last stdout line is the JSON result."""
    proc = subprocess.run([find_node(), *args], capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise AsyncifyRunError("host-error", f"node printed nothing (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(lines[-1])


def run(wasm: Path, export: str = "run", *args: int, data_size: int = 1 << 20,
        async_imports: tuple[str, ...] = STANDARD_ASYNC, timeout: float = 120) -> RunResult:
    res = _run_node([str(HOST), str(wasm), export, *map(str, args), "--async", ",".join(async_imports),
                     "--data-size", str(data_size)], timeout)
    if res["ok"]:
        return RunResult(res["value"], res["suspensions"], res["prints"])
    raise AsyncifyRunError(res["kind"], res["message"], res.get("frames"), res.get("suspensions", 0), res.get("stack", ""))


JSPI_HOST = Path(__file__).parent / "node" / "jspi_host.mjs"


def run_jspi(wasm: Path, export: str, wrap: list[str], suspending: tuple[str, ...] = STANDARD_ASYNC,
             timeout: float = 120) -> RunResult:
    """Run an un-asyncified module under node's JSPI, wrapping exactly the exports in `wrap`."""
    res = _run_node(["--experimental-wasm-jspi", str(JSPI_HOST), str(wasm), export, "--wrap", ",".join(wrap),
                     "--suspending", ",".join(suspending)], timeout)
    if res["ok"]:
        return RunResult(res["value"], 0, res["prints"])
    raise AsyncifyRunError(res["kind"], res["message"])
