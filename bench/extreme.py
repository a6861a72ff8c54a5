"""Valid but extreme binaries, written directly in the binary format, for the scaling curve and the
robustness tests: many functions, one huge function, deep block nesting, a long call chain, big
recursion cycles, a huge table, 64 KiB names, duplicate and missing names.

    python bench/extreme.py [--scale 1.0]     # time and peak memory of `analyze` per shape and size
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asyncify_doctor.decode.writer import name, section, uleb, vec


def module(bodies: list[bytes], *, names: dict[int, str] | None = None, table: list[int] | None = None,
           exports: int = 1) -> bytes:
    """Functions of type () -> () after one import `env.sleep_ms` (index 0); bodies without locals."""
    n = len(bodies)
    out = b"\0asm\x01\0\0\0"
    out += section(1, vec([b"\x60\x00\x00"]))
    out += section(2, vec([name("env") + name("sleep_ms") + b"\x00\x00"]))
    out += section(3, vec([b"\x00"] * n))
    if table is not None:
        out += section(4, vec([b"\x70\x00" + uleb(len(table))]))
    out += section(7, vec([name(f"e{i}") + b"\x00" + uleb(1 + i) for i in range(min(exports, n))]))
    if table is not None:
        out += section(9, vec([b"\x00\x41\x00\x0b" + vec([uleb(f) for f in table])]))
    out += section(10, vec([uleb(len(b) + 1) + b"\x00" + b for b in bodies]))
    if names is not None:
        fn = vec([uleb(i) + name(s) for i, s in sorted(names.items())])
        out += section(0, name("name") + b"\x01" + uleb(len(fn)) + fn)
    return out


def call(f: int) -> bytes:
    return b"\x10" + uleb(f)


def many_functions(n: int) -> bytes:
    """n functions, each calling the next; the last calls the async import."""
    bodies = [call(i + 2) + b"\x0b" for i in range(n - 1)] + [call(0) + b"\x0b"]
    return module(bodies, names={i + 1: f"f{i}" for i in range(n)})


def huge_function(instructions: int) -> bytes:
    body = b"\x01" * (instructions - 2) + call(0) + b"\x0b"          # nops, then the import
    return module([body])


def deep_nesting(depth: int) -> bytes:
    body = b"\x02\x40" * depth + call(0) + b"\x0b" * depth + b"\x0b"
    return module([body])


def recursion_cycles(n: int) -> bytes:
    """n functions in one big cycle, one of which also calls the import."""
    bodies = [call(1 + (i + 1) % n) + (call(0) if i == 0 else b"") + b"\x0b" for i in range(n)]
    return module(bodies, names={i + 1: f"c{i}" for i in range(n)})


def huge_table(entries: int) -> bytes:
    """A table of `entries` slots (all the same 2 functions), one call_indirect site."""
    bodies = [call(0) + b"\x0b", b"\x0b", b"\x41\x00\x11\x00\x00\x0b"]
    return module(bodies, table=[1 + (i % 2) for i in range(entries)])


def long_names(length: int, n: int = 8) -> bytes:
    bodies = [call(i + 2) + b"\x0b" for i in range(n - 1)] + [call(0) + b"\x0b"]
    return module(bodies, names={i + 1: ("x" * length)[:-3] + f"{i:03d}" for i in range(n)})


def duplicate_and_missing_names(n: int) -> bytes:
    bodies = [call(i + 2) + b"\x0b" for i in range(n - 1)] + [call(0) + b"\x0b"]
    return module(bodies, names={i + 1: "same" for i in range(0, n, 2)})   # odd ones unnamed, even ones clash


SHAPES = {
    "functions": (many_functions, [10_000, 30_000, 100_000]),
    "instructions": (huge_function, [100_000, 300_000, 1_000_000]),
    "nesting": (deep_nesting, [1_000, 10_000, 100_000]),
    "cycle": (recursion_cycles, [10_000, 30_000, 100_000]),
    "table": (huge_table, [100_000, 300_000, 1_000_000]),
}


def measure(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "asyncify_doctor", "analyze", str(path), "--imports", "env.sleep_ms",
                             "-o", os.devnull], stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"analyze failed on {path}: {proc.stderr.read().decode() if proc.stderr else ''}")
    return time.perf_counter() - start, usage.ru_maxrss * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (0.1 for a quick look)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    print(f"{'shape':14s} {'size':>10s} {'file MB':>8s} {'seconds':>8s} {'peak RSS MB':>12s} {'µs / unit':>10s}")
    for shape, (make, sizes) in SHAPES.items():
        for size in sizes:
            n = max(2, int(size * args.scale))
            path = tmp / f"{shape}-{n}.wasm"
            path.write_bytes(make(n))
            secs, rss = measure(path)
            print(f"{shape:14s} {n:10d} {path.stat().st_size / 1e6:8.2f} {secs:8.3f} {rss / 1e6:12.1f} {1e6 * secs / n:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
