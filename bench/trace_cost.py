"""What `trace` adds to the user's own command, on the real-PHP trace experiment (bench/php_trace.py:
twelve PHP scripts doing network I/O on the JSPI build of `@php-wasm/node@3.1.54` under node 24).
The same command is run, in turn, three ways:

- plain: `node --experimental-wasm-jspi run_php.mjs`, nothing added;
- preload: the same with the preload put in as `trace` puts it (NODE_OPTIONS=--require preload.cjs
  and its two environment variables): what tracing costs the traced process itself;
- trace: the whole `asyncify-doctor trace --imports ... -o stacks.json -- node ...` (Python start-up,
  the process group, merging the per-process files and writing the result included).

Each round runs the three in turn (so a drift of the machine's speed hits all three alike); the
ratios to the plain run are taken per round and their medians reported. Goal (issue 17): ≤ 1.2x.

The same three ways are then timed on bench/trace_wasmtime's workload under node (the fixtures' JSPI
host): 200 suspending calls at depths 2..997 between ~640,000 ordinary calls, the preload's worst
case (each call records a stack of up to a thousand frames).

    python bench/trace_cost.py [--runs 7]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from php_trace import NODE_DIR, RUNNER, install, node  # noqa: E402

IMPORTS = HERE / "php_trace" / "imports.list"


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall


def rounds(ways: dict[str, tuple[list[str], dict[str, str]]], runs: int, cwd: Path) -> dict[str, list[float]]:
    for cmd, env in ways.values():   # warm-up: page cache, V8's code cache, bytecode
        timed(cmd, env, cwd)
    walls: dict[str, list[float]] = {w: [] for w in ways}
    for _ in range(runs):
        for way, (cmd, env) in ways.items():
            walls[way].append(timed(cmd, env, cwd))
    return walls


def table(walls: dict[str, list[float]]) -> None:
    print(f"{'what':24s} {'median s':>9s} {'min s':>7s} {'ratio to plain (median of rounds)':>35s}")
    plain = walls["plain run"]
    for way, ws in walls.items():
        ratio = statistics.median(w / p for w, p in zip(ws, plain))
        print(f"{way:24s} {statistics.median(ws):9.3f} {min(ws):7.3f} {ratio:34.2f}x")


def three_ways(user: list[str], patterns: list[str], imports_args: list[str], tmp: Path) -> dict:
    from asyncify_doctor.runtime.recorder import PRELOAD
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCIFY_DOCTOR_TRACE")}
    preload_env = {**plain_env, "NODE_OPTIONS": f"{plain_env.get('NODE_OPTIONS', '')} --require {PRELOAD}".strip(),
                   "ASYNCIFY_DOCTOR_TRACE_DIR": str(tmp), "ASYNCIFY_DOCTOR_TRACE_IMPORTS": ",".join(patterns)}
    exe = Path(sys.executable).parent / "asyncify-doctor"
    doctor = [str(exe)] if exe.exists() else [sys.executable, "-m", "asyncify_doctor"]
    trace = doctor + ["trace", *imports_args, "-o", str(tmp / "stacks.json"), "--"] + user
    return {"plain run": (user, plain_env), "with the preload": (user, preload_env), "asyncify-doctor trace": (trace, plain_env)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    install()
    from asyncify_doctor.analysis.selection import expand_args
    tmp = Path(tempfile.mkdtemp())
    user = [node(), "--experimental-wasm-jspi", str(RUNNER)]
    ways = three_ways(user, expand_args([f"@{IMPORTS}", "__asyncjs__*"]), ["--imports", f"@{IMPORTS}", "--imports", "__asyncjs__*"], tmp)
    walls = rounds(ways, args.runs, NODE_DIR)
    stacks = json.loads((tmp / "stacks.json").read_text())["stacks"]
    print(f"PHP trace experiment (12 scripts, JSPI build, node 24), {args.runs} rounds; {len(stacks)} distinct stacks, "
          f"{sum(s['count'] for s in stacks)} calls recorded")
    table(walls)

    from asyncify_doctor.runtime.host.node_host import JSPI_HOST
    from asyncify_doctor.runtime.toolchain import compile_c
    wasm = compile_c(HERE / "trace_wasmtime" / "workload.c", tmp / "workload.wasm")
    user = [node(), "--experimental-wasm-jspi", str(JSPI_HOST), str(wasm), "run", "--wrap", "run"]
    walls = rounds(three_ways(user, ["env.fetch_value"], ["--imports", "env.fetch_value"], tmp), args.runs, tmp)
    stacks = json.loads((tmp / "stacks.json").read_text())["stacks"]
    print(f"\nbench/trace_wasmtime's workload under node: {len(stacks)} stacks of up to "
          f"{max(len(s['frames']) for s in stacks)} frames recorded")
    table(walls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
