"""jspi: the exports it says to wrap with WebAssembly.promising are exactly the ones that need it, on
node's real JSPI; leaving one out traps with SuspendError; a JS trampoline on the path is reported
beforehand and traps under JSPI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.runtime.host import AsyncifyRunError
from asyncify_doctor.runtime.host.node_host import run_jspi
from asyncify_doctor.runtime.toolchain import build_all, compile_c
from proof import ASYNC, EXPECTS, SRC

TRAMPOLINE = Path(__file__).parent / "fixtures" / "jspi" / "trampoline.c"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(SRC, tmp_path_factory.mktemp("jspi-fixtures"))


def jspi_cli(wasm: Path, *extra: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "jspi", str(wasm), "--imports", ",".join(ASYNC),
                           "--format", "json", *extra], capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout)


def without_async_when(args: list[str]) -> list[str]:
    """A fixture's analyze arguments that apply to JSPI (not --async-when: see below)."""
    out, skip = [], False
    for a in args:
        if not skip and a != "--async-when":
            out.append(a)
        skip = a == "--async-when"
    return out


@pytest.mark.parametrize("name", EXPECTS)
def test_wrapping_exactly_the_reported_exports_works(name: str, built: dict[str, Path]) -> None:
    """An export that calls a suspending import at all is wrapped: under JSPI every such call suspends
    (lock_ctl's open_only calls env.lock_ctl only with commands its hosts answer at once, and is
    wrapped: its `calls:`)."""
    exp = EXPECTS[name]
    code, rep = jspi_cli(built[name], *without_async_when(exp.analyze))
    assert code == 0 and rep["hazards"] == []
    assert rep["suspending_exports"] == sorted(e for e in exp.exports if exp.calls.get(e, exp.suspensions.get(e, 1)) > 0)
    for export, want in exp.exports.items():
        res = run_jspi(built[name], export, rep["suspending_exports"])
        assert (res.value, res.prints) == (want, exp.prints.get(export, [])), export


@pytest.mark.parametrize("name", ["direct_chain", "two_exports", "callbacks"])
def test_leaving_one_out_traps_with_suspend_error(name: str, built: dict[str, Path]) -> None:
    _, rep = jspi_cli(built[name])
    for export in rep["suspending_exports"]:
        with pytest.raises(AsyncifyRunError) as err:
            run_jspi(built[name], export, [e for e in rep["suspending_exports"] if e != export])
        assert err.value.kind == "suspend-error" and "without WebAssembly.promising" in err.value.message


def test_async_when_is_refused_because_every_suspending_call_suspends(built: dict[str, Path], tmp_path: Path) -> None:
    """JS-API (js-promise-integration index.bs, "create a suspending function"): the JS result is
    awaited whatever it is, and a call outside WebAssembly.promising throws SuspendError first. On
    node's JSPI: open_only's calls of env.lock_ctl get plain values back from the host, and still
    the unwrapped export traps, and wrapped, the wasm goes on only after the caller's turn ends."""
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "jspi", str(built["lock_ctl"]), "--imports",
                           ",".join(ASYNC), "--async-when", "env.lock_ctl:1=14"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "does not apply to JSPI" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(AsyncifyRunError) as err:
        run_jspi(built["lock_ctl"], "open_only", [])
    assert err.value.kind == "suspend-error"
    res = run_jspi(built["lock_ctl"], "open_only", ["open_only"])
    assert (res.value, res.prints) == (20, [3])
    wat = tmp_path / "plain.wat"
    wat.write_text('(module (import "env" "f" (func $f (param i32) (result i32))) (import "env" "log" (func $log (param i32)))'
                   ' (func (export "g") (param i32) (result i32) (local i32) (local.set 1 (call $f (local.get 0)))'
                   ' (call $log (local.get 1)) (local.get 1)))')
    script = tmp_path / "order.mjs"
    script.write_text(f"""import {{ readFileSync }} from "node:fs";
const m = new WebAssembly.Module(readFileSync({json.dumps(str(tmp_path / 'plain.wasm'))}));
const f = new WebAssembly.Suspending((x) => x + 1);   // a plain value, no promise
const order = [];
const e = new WebAssembly.Instance(m, {{ env: {{ f, log: (v) => order.push("wasm went on with " + v) }} }}).exports;
const r = WebAssembly.promising(e.g)(3);
order.push("promising returned");
order.push("result " + await r);
console.log(JSON.stringify(order));
""")
    import wasmtime
    (tmp_path / "plain.wasm").write_bytes(wasmtime.wat2wasm(wat.read_text()))
    from asyncify_doctor.runtime.host.node_host import find_node
    out = subprocess.run([find_node(), "--experimental-wasm-jspi", str(script)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["promising returned", "wasm went on with 4", "result 4"]


def test_js_trampoline_is_a_hazard_and_traps(tmp_path: Path) -> None:
    wasm = compile_c(TRAMPOLINE, tmp_path / "trampoline.wasm")
    code, rep = jspi_cli(wasm)
    assert code == 1
    assert rep["suspending_exports"] == ["direct"]
    assert [(h["caller_chain"], h["callee_chain"]) for h in rep["hazards"]] == [
        ("run → guarded → env.invoke_ii", "remote_double → env.fetch_value")]
    with pytest.raises(AsyncifyRunError) as err:
        run_jspi(wasm, "run", ["run", "direct"])
    assert err.value.kind == "suspend-error" and "JS frames" in err.value.message
    assert run_jspi(wasm, "direct", ["direct"]).value == 10
    assert run_jspi(wasm, "version", []).value == 7


def test_current_list_reports_missing_and_needless(built: dict[str, Path], tmp_path: Path) -> None:
    current = tmp_path / "jspi-exports.json"
    current.write_text('["get_user", "version"]\n')
    code, rep = jspi_cli(built["two_exports"], "--current", str(current))
    assert code == 1 and rep["missing_wraps"] == ["get_post"] and rep["needless_wraps"] == ["version"]


def test_migration_summary(built: dict[str, Path], tmp_path: Path) -> None:
    from proof import asyncified
    exp = EXPECTS["direct_chain"]
    async_build = asyncified(built["direct_chain"], tuple(sorted(exp.instrument)))
    _, rep = jspi_cli(built["direct_chain"], "--asyncify-build", str(async_build))
    mg = rep["migration"]
    assert mg["asyncified"] and mg["instrumented_functions"] == len(exp.instrument)
    assert mg["asyncify_code_bytes"] > mg["jspi_code_bytes"] > 0 and mg["instrumented_code_bytes"] > 0


@pytest.mark.parametrize("mode", ["typed", "all", "ignore"])
def test_successor_rows_are_successors_in_their_order(mode: str, tmp_path: Path, built: dict[str, Path],
                                                     features_wasm: Path) -> None:
    """jspi's one forward search walks `successor_rows` in C: each row must be `successors` of its
    node, in the same order (the order decides which path a hazard shows)."""
    from asyncify_doctor.analysis.pipeline import prepare
    wasms = [compile_c(TRAMPOLINE, tmp_path / "trampoline.wasm"), features_wasm, *built.values()]
    shapes = set()
    for wasm in wasms:
        for trampolines in ("typed", "async"):
            _, _, g = prepare(str(wasm), list(ASYNC), mode, trampolines=trampolines)
            nodes = range(g.n + len(g.sites))
            assert list(g.successor_rows(mode)) == [g.successors(v, mode) for v in nodes], (wasm.name, trampolines)
            shapes.add((bool(g.trampolines), bool(g.indirect_sites)))
    assert (False, True) in shapes and (mode == "all" or (True, False) in shapes)   # sites, trampolines walked
