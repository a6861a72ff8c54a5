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


def emscripten_like(n: int, body_bytes: int = 560, seed: int = 54) -> bytes:
    """A big module shaped like an Emscripten build (PHP's proportions: ~600-byte bodies calling ~4
    functions and making an indirect call every third function, a third of the functions in one
    exported table, eight signatures, 200 imports, names for all): n functions of random direct calls,
    `call_indirect`s and arithmetic. Deterministic for a seed.
    n = 90,000 gives a 54 MB binary, the size the speed benchmark needs."""
    import random
    rng = random.Random(seed)
    ntypes, nimports = 8, 200
    types = [b"\x60" + uleb(k + 1) + b"\x7f" * (k + 1) + b"\x01\x7f" for k in range(ntypes)]   # (i32 × k+1) -> i32
    ftype = [rng.randrange(ntypes) for _ in range(nimports + n)]
    imports = [name("env") + name(f"imp{i}") + b"\x00" + uleb(ftype[i]) for i in range(nimports)]
    total = nimports + n
    in_table = list(range(nimports, total, 3))
    arg = b"\x20\x00"                                    # local.get 0
    filler = b"\x20\x00\x41\xb9\xe0\x00\x6a\x21\x00"     # local.get 0; i32.const 12345; i32.add; local.set 0

    def body(f: int) -> bytes:
        params = ftype[f] + 1
        out = bytearray(b"\x01\x01\x7f")                   # one extra i32 local
        while len(out) < body_bytes:
            r = rng.random()
            if r < 0.07:                                   # a direct call (sometimes an import)
                callee = rng.randrange(nimports) if rng.random() < 0.05 else rng.randrange(nimports, total)
                out += arg * (ftype[callee] + 1) + b"\x10" + uleb(callee) + b"\x21" + uleb(params)
            elif r < 0.075:                                # an indirect call through the table
                t = rng.randrange(ntypes)
                out += arg * (t + 1) + b"\x41" + uleb(rng.randrange(len(in_table))) + b"\x11" + uleb(t) + b"\x00" \
                    + b"\x21" + uleb(params)
            else:
                out += filler
        out += b"\x20\x00\x0b"
        return uleb(len(out)) + bytes(out)

    data = b"\0asm\x01\0\0\0" + section(1, vec(types)) + section(2, vec(imports))
    data += section(3, vec([uleb(ftype[f]) for f in range(nimports, total)]))
    data += section(4, vec([b"\x70\x00" + uleb(len(in_table))]))
    data += section(7, vec([name("__indirect_function_table") + b"\x01\x00"]
                           + [name(f"e{f}") + b"\x00" + uleb(f) for f in range(nimports, total, 20)]))
    data += section(9, vec([b"\x00\x41\x00\x0b" + vec([uleb(f) for f in in_table])]))
    data += section(10, vec([body(f) for f in range(nimports, total)]))
    names = vec([uleb(f) + name(f"php_like_function_{f}_{'x' * (f % 17)}") for f in range(nimports, total)])
    return data + section(0, name("name") + b"\x01" + uleb(len(names)) + names)


SHAPES = {
    "functions": (many_functions, [10_000, 30_000, 100_000]),
    "instructions": (huge_function, [100_000, 300_000, 1_000_000]),
    "nesting": (deep_nesting, [1_000, 10_000, 100_000]),
    "cycle": (recursion_cycles, [10_000, 30_000, 100_000]),
    "table": (huge_table, [100_000, 300_000, 1_000_000]),
}


def measure(path: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS of one `analyze`, started with posix_spawn so that the peak is the
    command's own, not a copy of this process's pages (a fork would inherit them)."""
    cmd = [sys.executable, "-m", "asyncify_doctor", "analyze", str(path), "--imports", "env.sleep_ms", "-o", os.devnull]
    err = path.with_suffix(".err")
    actions = [(os.POSIX_SPAWN_OPEN, 2, str(err), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    start = time.perf_counter()
    pid = os.posix_spawn(sys.executable, cmd, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"analyze failed on {path}: {err.read_text()}")
    return time.perf_counter() - start, usage.ru_maxrss * 1024


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--make":   # a child: write one binary and exit
        shape, n, out = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        out.write_bytes(SHAPES[shape][0](n))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (0.1 for a quick look)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    print(f"{'shape':14s} {'size':>10s} {'file MB':>8s} {'seconds':>8s} {'peak RSS MB':>12s} {'µs / unit':>10s}")
    for shape, (_, sizes) in SHAPES.items():
        for size in sizes:
            n = max(2, int(size * args.scale))
            path = tmp / f"{shape}-{n}.wasm"
            # made in a child process: a spawned command's peak RSS counts this process's pages at the
            # spawn (the kernel keeps the larger), so this one must stay small
            subprocess.run([sys.executable, __file__, "--make", shape, str(n), str(path)], check=True)
            secs, rss = measure(path)
            print(f"{shape:14s} {n:10d} {path.stat().st_size / 1e6:8.2f} {secs:8.3f} {rss / 1e6:12.1f} {1e6 * secs / n:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
