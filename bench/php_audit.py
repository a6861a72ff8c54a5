"""Audit the real shipped PHP asyncify build (`@php-wasm/node-8-3@3.1.54`) against the lists its
builders keep in WordPress Playground (`packages/php-wasm/compile/php/asyncify-imports.list` and
`asyncify-only.list`; pass their paths — they are not part of this repository), and time `audit`
against `analyze` in the same run.

    python bench/php_audit.py IMPORTS.list ONLY.list
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from php import php_wasm  # noqa: E402

# Emscripten adds EM_ASYNC_JS functions (`__asyncjs__*`) to the async imports by itself.
EXTRA = ["--imports", "__asyncjs__*"]


def run(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", *args], capture_output=True, text=True)
    return time.perf_counter() - start, proc.stdout


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    imports, only = sys.argv[1:]
    wasm = str(php_wasm("asyncify"))
    for mode in ("ignore", "typed"):
        t_audit, out = run(["audit", wasm, "--imports", f"@{imports}", *EXTRA, "--list", only, "--indirect", mode,
                            "--format", "json"])
        t_an, _ = run(["analyze", wasm, "--imports", f"@{imports}", *EXTRA, "--indirect", mode, "-o", "/dev/null"])
        r = json.loads(out)
        print(f"--indirect {mode}: instrumented {r['instrumented']}, can be on an async stack {r['needed']}, "
              f"missing {len(r['missing'])}, unneeded {len(r['unneeded'])} ({r['unneeded_bytes']} bytes), "
              f"list entries not in the binary {len(r['list_not_in_binary'])} {r['list_not_in_binary']}, "
              f"list entries not instrumented {len(r['list_not_instrumented'])}")
        for m in r["missing"][:3]:
            print(f"    {m['chain']}")
        print(f"    audit {t_audit:.2f} s, analyze {t_an:.2f} s: {t_audit / t_an:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
