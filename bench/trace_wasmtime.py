"""What `trace --wasmtime` costs: the shadow stack (each function pushes its index on entry, pops on
return) against the same program run plainly on wasmtime, and against node's trace of the same
program (the preload, V8's own stack traces), all in one run. With `--php`, the rewrite of the real
23 MB PHP builds against `wasm-tools validate` of the same bytes, and the rewritten binary validated.

    python bench/trace_wasmtime.py [--runs 5] [--php]
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import wasmtime

from asyncify_doctor.decode import read_module
from asyncify_doctor.runtime.host.node_host import JSPI_HOST, find_node
from asyncify_doctor.runtime.host.shadow_stack import instrument
from asyncify_doctor.runtime.host.wasmtime_trace import WasmtimeTracer
from asyncify_doctor.runtime.toolchain import compile_c

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from independent import validate  # noqa: E402


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fetch_value(key: int) -> int:
    """The workload's one import, the same on every side: the fixtures' `key * 2 + 1`."""
    return key * 2 + 1


def plain_run(engine: wasmtime.Engine, module: wasmtime.Module) -> int:
    store = wasmtime.Store(engine)
    fetch = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()]), fetch_value)
    return wasmtime.Instance(store, module, [fetch]).exports(store)["run"](store)


def node_trace(wasm: Path, tmp: Path) -> dict:
    out = tmp / "node.json"
    cmd = f"{shlex.quote(find_node())} --experimental-wasm-jspi {shlex.quote(str(JSPI_HOST))} {shlex.quote(str(wasm))} run --wrap run"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "trace", "--imports", "env.fetch_value", "-o", str(out),
                    "--", "sh", "-c", cmd], check=True, capture_output=True)
    return json.loads(out.read_text())


def workload(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wasm = compile_c(HERE / "trace_wasmtime" / "workload.c", tmp / "workload.wasm")
        engine = wasmtime.Engine()
        module = wasmtime.Module(engine, wasm.read_bytes())
        expected = plain_run(engine, module)
        tracer = WasmtimeTracer(wasm, {"env.fetch_value": fetch_value}, ["env.fetch_value"])
        assert tracer.run("run") == expected
        stacks = tracer.stacks
        node = node_trace(wasm, tmp)
        same = sorted((s["import"], [f["name"] for f in s["frames"]], s["count"]) for s in stacks) == \
            sorted((s["import"], [f["name"] for f in s["frames"]], s["count"]) for s in node["stacks"])
        plain = best(lambda: plain_run(engine, module), runs)
        shadowed = wasmtime.Module(engine, instrument(wasm.read_bytes()).wasm)
        unrecorded = best(lambda: plain_run(engine, shadowed), runs)
        traced = best(lambda: tracer.run("run"), runs)
        setup = best(lambda: WasmtimeTracer(wasm, {"env.fetch_value": fetch_value}, ["env.fetch_value"]), runs)
        compile_plain = best(lambda: wasmtime.Module(engine, wasm.read_bytes()), runs)
        node_s = best(lambda: node_trace(wasm, tmp), runs)
        deepest = max(len(s["frames"]) for s in stacks)
        print(f"workload: 200 async calls at depths 2..{deepest}, ~{200 * 3193:,} plain calls (fib(16) each time)")
        print(f"stacks equal to node's (names, order, counts): {same}")
        print(f"{'what':44s} {'best s':>9s} {'ratio':>8s}")
        print(f"{'wasmtime, plain run (reference)':44s} {plain:9.4f} {1:7.2f}x")
        print(f"{'wasmtime, shadow stack, nothing recorded':44s} {unrecorded:9.4f} {unrecorded / plain:7.2f}x")
        print(f"{'wasmtime, traced run (shadow stack + record)':44s} {traced:9.4f} {traced / plain:7.2f}x")
        print(f"{'set-up: decode + rewrite + compile':44s} {setup:9.4f} {setup / compile_plain:7.2f}x  (vs compiling the plain binary)")
        print(f"{'node trace (preload, whole command)':44s} {node_s:9.4f} {node_s / (setup + traced):7.2f}x  (vs set-up + traced run)")


def php(runs: int) -> None:
    from php import php_wasm
    for flavour in ("asyncify", "jspi"):
        path = php_wasm(flavour)
        data = path.read_bytes()
        module = read_module(path)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "shadowed.wasm"
            rewrite = best(lambda out=out, data=data, module=module: out.write_bytes(instrument(data, module).wasm), runs)
            whole = best(lambda data=data: instrument(data), runs)
            reference = best(lambda path=path: validate(path), runs)
            ok = validate(out) is None
            print(f"PHP {flavour:8s} {len(data) / 1e6:.1f} MB, {len(module.functions):,} functions: rewrite {rewrite:.3f} s, "
                  f"decode + rewrite {whole:.3f} s = {whole / reference:.2f}x wasm-tools validate ({reference:.3f} s); "
                  f"rewritten binary valid: {ok}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--php", action="store_true", help="also rewrite the real PHP builds (downloaded into the cache)")
    args = ap.parse_args()
    workload(args.runs)
    if args.php:
        php(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
