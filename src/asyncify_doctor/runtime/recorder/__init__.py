"""`trace`: record every real wasm stack at an async import, from one run of the user's own tests,
before any asyncify — then `analyze --observed` makes every observed frame a list member and every
observed caller→callee pair an edge, so static propagation covers what the run did not hit.

Node: `preload.cjs` goes in through NODE_OPTIONS (`--require`), so the user's command runs unchanged,
child processes inherit it and worker threads get it through their execArgv; each process and thread
writes its own file, merged here. Wasmtime: `host.wasmtime_trace` records the same shape of stacks from
a shadow stack written into a copy of the binary (wasmtime gives a host call no backtrace).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...traces.stacks import merge
from ...system.process import run_command

PRELOAD = Path(__file__).parent / "preload.cjs"


@dataclass
class TraceRun:
    returncode: int | None
    stacks: list[dict]
    files: int


def run_trace(command: list[str], imports: list[str], timeout: float | None = None) -> TraceRun:
    """Run `command` with the preload and return the merged stacks."""
    import shlex

    with tempfile.TemporaryDirectory(prefix="asyncify-doctor-trace-") as tmp:
        env_opts = os.environ.get("NODE_OPTIONS", "")
        os.environ["NODE_OPTIONS"] = f"{env_opts} --require {shlex.quote(str(PRELOAD))}".strip()
        os.environ["ASYNCIFY_DOCTOR_TRACE_DIR"] = tmp
        os.environ["ASYNCIFY_DOCTOR_TRACE_IMPORTS"] = ",".join(imports)
        try:
            res = run_command(shlex.join(command), timeout if timeout else 10**9)
        finally:
            os.environ["NODE_OPTIONS"] = env_opts
            if not env_opts:
                del os.environ["NODE_OPTIONS"]
            del os.environ["ASYNCIFY_DOCTOR_TRACE_DIR"], os.environ["ASYNCIFY_DOCTOR_TRACE_IMPORTS"]
        files = [json.loads(f.read_text()) for f in sorted(Path(tmp).glob("*.json"))]
        parts = [[{**s, "runs": [run_label(doc.get("argv", []))]} for s in doc["stacks"]] for doc in files]
        return TraceRun(res.returncode, merge(parts), len(files))


def run_label(argv: list[str]) -> str:
    """A process's command line as `why` shows it: paths cut to their file names."""
    return " ".join(Path(a).name if "/" in a and not a.startswith("-") else a for a in argv)
