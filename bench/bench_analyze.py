"""Speed and memory of `asyncify-doctor analyze` on the real 23 MB PHP JSPI build, against the
reference tools measured in the same run (the machines are noisy; ratios are what we track):

- `wasm-tools validate` (one streaming, parallel pass over the same bytes: the speed floor),
- `wasm-opt --asyncify` with the same async imports (what users run today to learn the list).

Targets (issue 3): our time ≤ 3× `wasm-tools validate`; our peak RSS ≤ 4× the file size.

    python bench/bench_analyze.py [--runs 5] [--skip-wasm-opt]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from php import php_wasm  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent
IMPORTS = HERE / "php-async-imports.list"


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one run of `cmd`, from the kernel's own accounting."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss * 1024


def best_of(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[float, float, int]:
    results = [measure(cmd, env) for _ in range(runs)]
    times = [t for t, _ in results]
    return min(times), statistics.median(times), max(r for _, r in results)


def wasm_opt() -> list[str] | None:
    local = ROOT / "node_modules" / ".bin" / "wasm-opt"
    if local.exists():
        return [str(local)]
    exe = shutil.which("wasm-opt")
    return [exe] if exe else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-wasm-opt", action="store_true", help="wasm-opt takes minutes; skip it")
    ap.add_argument("--pure-python", action="store_true", help="also time the pure-Python scanner")
    args = ap.parse_args()
    wasm = php_wasm("jspi")
    size = wasm.stat().st_size
    out = Path(tempfile.mkdtemp()) / "asyncify-only.list"
    ours = [sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", f"@{IMPORTS}", "-o", str(out)]
    rows: list[tuple[str, float, float, int]] = []
    rows.append(("asyncify-doctor analyze", *best_of(ours, args.runs)))
    if args.pure_python:
        env = {**os.environ, "ASYNCIFY_DOCTOR_PURE_PYTHON": "1"}
        rows.append(("asyncify-doctor analyze (pure Python)", *best_of(ours, 1, env)))
    validate = [shutil.which("wasm-tools") or "wasm-tools", "validate", "--features", "all,legacy-exceptions", str(wasm)]
    rows.append(("wasm-tools validate", *best_of(validate, args.runs)))
    opt = wasm_opt()
    if opt and not args.skip_wasm_opt:
        patterns = [line.strip() for line in IMPORTS.read_text().splitlines() if line.strip() and not line.startswith("#")]
        cmd = opt + [str(wasm), "--enable-exception-handling", "--enable-bulk-memory", "--enable-nontrapping-float-to-int",
                     "--enable-sign-ext", "--enable-mutable-globals", "--asyncify",
                     f"--pass-arg=asyncify-imports@{','.join(patterns)}", "-o", os.devnull]
        rows.append((f"wasm-opt --asyncify ({Path(opt[0]).name})", *best_of(cmd, 1)))
    base = rows[0]
    print(f"file: {wasm} ({size / 1e6:.1f} MB), list: {len(out.read_text().splitlines()) - 1} functions, runs: {args.runs}")
    print(f"{'command':45s} {'best s':>8s} {'median s':>9s} {'peak RSS MB':>12s} {'time / ours':>12s}")
    for name, best, med, rss in rows:
        print(f"{name:45s} {best:8.3f} {med:9.3f} {rss / 1e6:12.1f} {best / base[1]:12.2f}x")
    validate_best = next(r[1] for r in rows if r[0] == "wasm-tools validate")
    print(f"target time  ≤ 3.00x validate: {base[1] / validate_best:.2f}x  {'OK' if base[1] <= 3 * validate_best else 'MISSED'}")
    print(f"target RSS   ≤ 4.00x file:     {base[3] / size:.2f}x  {'OK' if base[3] <= 4 * size else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
