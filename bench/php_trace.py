"""The real-PHP trace experiment (issue 6): run PHP scripts that do network I/O the ways PHP code
does (bench/php_trace/run_php.mjs) on the JSPI build of `@php-wasm/node@3.1.54` under node 24 with
`asyncify-doctor trace`, then compare the recorded stacks with what the shipped Asyncify build of the
same package instruments, and with the static closure; finally run the same scripts on the Asyncify
build (node without JSPI) to see the crashes that follow.

    python bench/php_trace.py [IMPORTS.list]    # default: bench/php_trace/imports.list
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from php import CACHE as PHP_CACHE, php_wasm  # noqa: E402

NODE_DIR = PHP_CACHE.parent / "php-wasm-node-3.1.54"
RUNNER = HERE / "php_trace" / "run_php.mjs"


def node() -> str:
    local = HERE.parent / "node_modules" / ".bin" / "node"
    return str(local) if local.exists() else "node"


def install() -> None:
    if (NODE_DIR / "node_modules" / "@php-wasm" / "node").exists():
        return
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    (NODE_DIR / "package.json").write_text('{"private": true}\n')
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "@php-wasm/node@3.1.54"], cwd=NODE_DIR, check=True)


def analysis(imports: str) -> dict:
    from asyncify_doctor.analysis.pipeline import load_module, run_analysis
    from asyncify_doctor.analysis.audit import recognize
    from asyncify_doctor.graph.callgraph import CallGraph

    stacks_file = NODE_DIR / "stacks.json"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "trace", "--imports", f"@{imports}", "--imports", "__asyncjs__*",
                    "-o", str(stacks_file), "--", node(), "--experimental-wasm-jspi", str(RUNNER)], cwd=NODE_DIR, check=True)
    stacks = json.loads(stacks_file.read_text())["stacks"]
    observed = {f["name"] for s in stacks for f in s["frames"]}
    am = load_module(php_wasm("asyncify"))
    instrumented = {am.functions[f].name for f in recognize(CallGraph(am)).instrumented}
    present = {f.name for f in am.functions}
    out = {"stacks": len(stacks), "calls": sum(s["count"] for s in stacks), "functions": len(observed),
           "not_instrumented_in_asyncify_build": sorted(n for n in observed if n in present and n not in instrumented),
           "absent_from_asyncify_build": sorted(observed - present)}
    for mode in ("ignore", "typed"):
        names = set(run_analysis(php_wasm("jspi"), [f"@{imports}", "__asyncjs__*"], mode).analysis.names())  # type: ignore[arg-type]
        out[f"static_{mode}"] = {"closure": len(names), "covers_observed": len(observed & names)}
    return out


def asyncify_runs() -> str:
    """The same scripts, one process each, on the Asyncify build (no JSPI flag)."""
    lines = []
    scripts = ["file_get_contents", "fopen_stream", "curl", "stream_socket_client", "call_user_func", "array_map",
               "destructor", "generator", "magic_get", "array_access", "reflection", "include"]
    for name in scripts:
        proc = subprocess.run([node(), str(RUNNER), name], cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
        first = next((ln for ln in (proc.stdout + proc.stderr).splitlines() if "Error" in ln or ln.startswith(name)), "")
        frame = next((ln.strip() for ln in proc.stderr.splitlines() if "wasm-function" in ln), "")
        lines.append(f"{name:22s} exit {proc.returncode}: {first.strip()[:90]} {frame[:110]}")
    return "\n".join(lines)


def main() -> int:
    imports = sys.argv[1] if len(sys.argv) > 1 else str(HERE / "php_trace" / "imports.list")
    install()
    print(json.dumps(analysis(os.path.abspath(imports)), indent=1))
    print(asyncify_runs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
