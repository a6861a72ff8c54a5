"""Speed and memory of every asyncify-doctor command on big real binaries, each run side by side with
`wasm-tools validate --features all` on the same file (one streaming, parallel pass over the same
bytes: the speed floor). The machines are noisy and shared, so each command and validate run in turn
(A B A B ...), the ratio is taken pair by pair and its median is what is reported.

Inputs (downloaded or generated once into the cache, ~/.cache/asyncify-doctor):
- php-jspi, php-asyncify: PHP 8.3 from `@php-wasm/node-8-3@3.1.54` (23 MB each), imports from
  bench/php-async-imports.list;
- ruby: `ruby.debug+stdlib.wasm` from `@ruby/3.4-wasm-wasi@2.8.1` (50 MB: code, data and DWARF);
- emscripten-54mb: bench/extreme.emscripten_like(90000), a generated 54 MB Emscripten-shaped binary.

Targets (issue 17): `analyze` ≤ 1.5x validate, every other command ≤ 3x, peak RSS ≤ 2x the file.

    python bench/bench_analyze.py [--runs 9] [--inputs php-jspi,php-asyncify,ruby,emscripten-54mb]
                                  [--pure-python] [--wasm-opt]

The package is byte-compiled first (as an installed package is), so start-up is what users see.
"""
from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from php import php_wasm  # noqa: E402

CACHE = Path(os.environ.get("ASYNCIFY_DOCTOR_CACHE", Path.home() / ".cache" / "asyncify-doctor"))
RUBY = ("@ruby/3.4-wasm-wasi@2.8.1", "package/dist/ruby.debug+stdlib.wasm")


def ruby_wasm() -> Path:
    out = CACHE / "ruby-3.4-wasm-wasi-2.8.1" / "ruby.debug+stdlib.wasm"
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", RUBY[0], "--pack-destination", tmp, "--silent"], check=True,
                           stdout=subprocess.DEVNULL)
            with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
                src = tar.extractfile(RUBY[1])
                assert src is not None
                out.parent.mkdir(parents=True, exist_ok=True)
                part = out.with_suffix(".part")
                part.write_bytes(src.read())
                part.replace(out)
    return out


def emscripten_54mb() -> Path:
    import extreme
    out = CACHE / "generated" / "emscripten_like-90000.wasm"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_suffix(".part")
        part.write_bytes(extreme.emscripten_like(90_000))
        part.replace(out)
    return out


INPUTS = {  # name -> (path getter, --imports, asyncified build?)
    "php-jspi": (lambda: php_wasm("jspi"), f"@{HERE / 'php-async-imports.list'}", False),
    "php-asyncify": (lambda: php_wasm("asyncify"), f"@{HERE / 'php-async-imports.list'}", True),
    "ruby": (ruby_wasm, "wasi_snapshot_preview1.*", False),
    "emscripten-54mb": (emscripten_54mb, "env.imp1*", False),
}


@dataclass
class Run:
    wall: float
    rss: int


def run(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> Run:
    """Wall seconds and peak RSS (bytes, the kernel's own accounting) of one run; stdout to `out`.
    Started with posix_spawn, so the child's peak is its own, not a copy of this process's pages."""
    err = out.with_suffix(".err")
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(out), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
               (os.POSIX_SPAWN_OPEN, 2, str(err), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    exe = cmd[0] if os.sep in cmd[0] else (shutil.which(cmd[0]) or cmd[0])
    start = time.perf_counter()
    pid = os.posix_spawn(exe, cmd, env if env is not None else os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: a finding (audit/jspi/why), not a failure
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}\n{err.read_text(errors='replace')}")
    return Run(wall, usage.ru_maxrss * 1024)


def prepare(name: str) -> Path:
    """The input's path, made (downloaded or generated) in a child process so that this one stays small."""
    out = subprocess.run([sys.executable, __file__, "--prepare", name], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def paired(ours: list[str], ref: list[str], runs: int, out: Path, env: dict[str, str] | None = None) -> dict:
    run(ours, out, env), run(ref, out)  # warm-up: page cache, bytecode
    a, b = [], []
    for _ in range(runs):
        a.append(run(ours, out, env))
        b.append(run(ref, out))
    return {"ours": statistics.median(r.wall for r in a), "ref": statistics.median(r.wall for r in b),
            "ratio": statistics.median(x.wall / y.wall for x, y in zip(a, b)), "rss": max(r.rss for r in a)}


def commands(name: str, wasm: Path, imports: str, asyncified: bool, work: Path) -> dict[str, list[str]]:
    exe = str(Path(sys.executable).parent / "asyncify-doctor")
    exe_cmd = [exe] if Path(exe).exists() else [sys.executable, "-m", "asyncify_doctor"]
    listed = work / "list.txt"
    subprocess.run(exe_cmd + ["analyze", str(wasm), "--imports", imports, "-o", str(listed)], check=True,
                   capture_output=True)
    members = [line for line in listed.read_text().splitlines() if line and not line.startswith("#")]
    who = members[len(members) // 2] if members else "0"
    cmds = {
        "analyze": ["analyze", str(wasm), "--imports", imports, "-o", str(work / "only.list")],
        "analyze --stats": ["analyze", str(wasm), "--imports", imports, "--stats", "-o", str(work / "only.list")],
        "why": ["why", str(wasm), who, "--imports", imports],
        "graph --format json": ["graph", str(wasm), "--format", "json"],
        "graph --format dot": ["graph", str(wasm), "--format", "dot"],
        "jspi": ["jspi", str(wasm), "--imports", imports],
    }
    if asyncified:
        cmds["audit"] = ["audit", str(wasm), "--imports", imports]
    return {label: exe_cmd + args for label, args in cmds.items()}


def wasm_opt() -> list[str] | None:
    local = ROOT / "node_modules" / ".bin" / "wasm-opt"
    exe = str(local) if local.exists() else shutil.which("wasm-opt")
    return [exe] if exe else None


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--prepare":
        print(INPUTS[sys.argv[2]][0]())
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated: " + ", ".join(INPUTS))
    ap.add_argument("--commands", default="", help="only these commands (comma-separated labels, e.g. analyze,why)")
    ap.add_argument("--pure-python", action="store_true", help="also time analyze without the C accelerator (once)")
    ap.add_argument("--wasm-opt", action="store_true", help="also time wasm-opt --asyncify on php-jspi (minutes)")
    args = ap.parse_args()
    import asyncify_doctor
    compileall.compile_dir(str(Path(asyncify_doctor.__file__).parent), quiet=1)
    validate_exe = shutil.which("wasm-tools") or str(Path(sys.executable).parent / "wasm-tools")
    work = Path(tempfile.mkdtemp())
    out = work / "stdout"
    wanted = [c for c in args.commands.split(",") if c]
    import resource
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"runs: {args.runs} pairs per command (median of per-pair ratios); reference: wasm-tools validate --features all")
    print(f"(a spawned command's peak RSS reads at least this process's own, {floor:.0f} MB)")
    print(f"{'input':16s} {'MB':>5s}  {'command':20s} {'ours s':>7s} {'validate s':>10s} {'ratio':>7s} {'target':>7s}"
          f" {'peak MB':>8s} {'RSS/file':>8s}")
    missed = 0
    for name in args.inputs.split(","):
        _, imports, asyncified = INPUTS[name]
        wasm = prepare(name)
        size = wasm.stat().st_size
        validate = [validate_exe, "validate", "--features", "all", str(wasm)]
        for label, cmd in commands(name, wasm, imports, asyncified, work).items():
            if wanted and label not in wanted:
                continue
            r = paired(cmd, validate, args.runs, out)
            target = 1.5 if label == "analyze" else 3.0
            ok = r["ratio"] <= target and r["rss"] <= 2 * size
            missed += not ok
            print(f"{name:16s} {size / 1e6:5.1f}  {label:20s} {r['ours']:7.3f} {r['ref']:10.3f} {r['ratio']:6.2f}x"
                  f" {'≤' + format(target, '.1f') + 'x':>7s} {r['rss'] / 1e6:8.1f} {r['rss'] / size:7.2f}x"
                  f"{'' if ok else '  MISSED'}")
        if args.pure_python and (not wanted or "analyze" in wanted):
            env = {**os.environ, "ASYNCIFY_DOCTOR_PURE_PYTHON": "1"}
            cmd = commands(name, wasm, imports, asyncified, work)["analyze"]
            r = run(cmd, out, env)
            print(f"{name:16s} {size / 1e6:5.1f}  {'analyze (pure Python)':20s} {r.wall:7.3f}  (one run; correct, not fast)")
    if args.wasm_opt and (opt := wasm_opt()):
        wasm = prepare("php-jspi")
        patterns = [line.strip() for line in (HERE / "php-async-imports.list").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
        cmd = opt + [str(wasm), "--enable-exception-handling", "--enable-bulk-memory", "--enable-nontrapping-float-to-int",
                     "--enable-sign-ext", "--enable-mutable-globals", "--asyncify",
                     f"--pass-arg=asyncify-imports@{','.join(patterns)}", "-o", os.devnull]
        r = run(cmd, out)
        print(f"{'php-jspi':16s} {wasm.stat().st_size / 1e6:5.1f}  {'wasm-opt --asyncify':20s} {r.wall:7.3f}  (one run)")
    print("all targets met" if not missed else f"{missed} target(s) missed")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
