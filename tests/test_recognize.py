"""audit reads Asyncify's contract from the binary itself: real builds by Binaryen 116 (libbinaryen)
and 132 (wasm-opt) at -O0/-O2/-O3, and 110 and 123 (npm) at -O0/-O3, in both styles (async imports; a C program that drives
asyncify.start_unwind/stop_unwind/start_rewind/stop_rewind itself), each also minified
(`--minify-imports-and-exports`) and with names stripped: the recognised instrumented set equals what
Binaryen instrumented, the inferred async imports equal what the pass was given, and `audit X.wasm`
with no flags reports nothing missing on a correct build and exactly the removed function on a build
with one removed — which really breaks on the host."""
from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import wasmtime

from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify, wasm_opt_path
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.decode import decode
from asyncify_doctor.analysis.recognize import recognize
from asyncify_doctor.runtime.toolchain import compile_c
from proof import ASYNC, EXPECTS, SRC, failure, parse_expect

RUNTIME = Path(__file__).parent / "fixtures" / "runtime" / "coroutines.c"
CO = parse_expect(RUNTIME)
NO_IMPORTS = ("env.__no_import_is_async__",)   # asyncify-ignore-imports, as CRuby builds
BUILDS = [(backend, level) for backend in ("libbinaryen", "wasm-opt") for level in (0, 2, 3)]
# older Binaryen from npm (package.json: binaryen-110, binaryen-123), at the levels builds ship with
BUILDS += [(f"wasm-opt@{v}", level) for v in (110, 123) for level in (0, 3)]
OUT = Path(__file__).parent / ".." / ".pytest_cache"


@lru_cache(maxsize=None)
def plain(name: str, tmp: str) -> Path:
    src = RUNTIME if name == "coroutines" else SRC / f"{name}.c"
    return compile_c(src, Path(tmp) / f"{name}.wasm")


def build(name: str, tmp: Path, backend: str, level: int, onlylist: tuple[str, ...] | None) -> bytes:
    imports = NO_IMPORTS if name == "coroutines" else ASYNC
    return asyncify(plain(name, str(tmp)).read_bytes(),
                    AsyncifyOptions(onlylist=onlylist, imports=imports, optimize_level=level), backend)


def minified(wasm: bytes, tmp: Path) -> bytes:
    """wasm-opt's --minify-imports-and-exports, written without -g: no name section either."""
    src, dst = tmp / "in.wasm", tmp / "min.wasm"
    src.write_bytes(wasm)
    subprocess.run([wasm_opt_path() or "wasm-opt", str(src), "--minify-imports-and-exports", "-o", str(dst)],
                   check=True, capture_output=True)
    return dst.read_bytes()


def audit_json(wasm: bytes, tmp: Path, *args: str) -> tuple[int, dict]:
    path = tmp / "audited.wasm"
    path.write_bytes(wasm)
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(path), "--format", "json", *args],
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def run_coroutines(wasm: bytes) -> tuple[int, list[int]] | str:
    """The runtime fixture on wasmtime: (result, prints), or what broke."""
    store = wasmtime.Store()
    prints: list[int] = []
    try:
        module = wasmtime.Module(store.engine, wasm)
        imports = [wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), prints.append)]
        return wasmtime.Instance(store, module, imports).exports(store)["run"](store), prints
    except wasmtime.Trap as trap:
        return f"trap: {trap.message}"


def host_breaks(name: str, wasm: bytes, tmp: Path) -> bool:
    if name == "coroutines":
        return run_coroutines(wasm) != (CO.exports["run"], CO.prints["run"])
    path = tmp / "run.wasm"
    path.write_bytes(wasm)
    return failure("wasmtime", path, EXPECTS[name]) is not None


def expect(name: str):  # noqa: ANN201 - proof.Expect
    return CO if name == "coroutines" else EXPECTS[name]


@pytest.mark.parametrize("backend, level", BUILDS)
@pytest.mark.parametrize("name", ["direct_chain", "table_types", "coroutines"])
def test_recognition_and_audit_with_no_flags(name: str, backend: str, level: int, tmp_path: Path) -> None:
    exp = expect(name)
    full = tuple(sorted(exp.instrument))
    named = build(name, tmp_path, backend, level, full)
    present = {f.name: f.index for f in decode(named).functions if not f.imported}
    want = {present[n] for n in full if n in present and n not in exp.runtime}
    for variant in (named, minified(named, tmp_path)):
        g = CallGraph(decode(variant))
        b = recognize(g)
        assert b.asyncified and not b.problems
        assert b.instrumented == want
        wanted_imports = set() if name == "coroutines" else {i for i, f in enumerate(decode(named).functions)
                                                              if f.import_key in ASYNC}
        assert set(b.async_imports(g.module)) == wanted_imports
        code, rep = audit_json(variant, tmp_path)
        assert code == 0 and rep["missing"] == rep["unchecked_calls"] == [] and rep["imports_from"] == "build", rep
    assert not host_breaks(name, named, tmp_path)


DROPS = {"direct_chain": "run", "table_types": "op_fetch", "coroutines": "ping"}


@pytest.mark.parametrize("backend, level", BUILDS)
@pytest.mark.parametrize("name", ["direct_chain", "table_types", "coroutines"])
def test_one_removed_is_reported_and_breaks_the_host(name: str, backend: str, level: int, tmp_path: Path) -> None:
    exp = expect(name)
    dropped = DROPS[name]
    assert dropped in exp.instrument
    broken = build(name, tmp_path, backend, level, tuple(sorted(exp.instrument - {dropped})))
    index = next(f.index for f in decode(broken).functions if f.name == dropped)
    for variant in (broken, minified(broken, tmp_path)):
        code, rep = audit_json(variant, tmp_path)
        assert code == 1 and [m["index"] for m in rep["missing"]] == [index], rep["missing"]
    assert host_breaks(name, broken, tmp_path)


@pytest.mark.parametrize("backend, level", BUILDS)
def test_onlylist_without_the_top_most_runtime_is_an_unchecked_call(backend: str, level: int, tmp_path: Path) -> None:
    """Binaryen never instruments co_yield, but leaving it out of an onlylist removes the unwind check
    after the calls to it: step runs on while the stack unwinds. The function sets are identical;
    only the calls tell."""
    broken = build("coroutines", tmp_path, backend, level, tuple(sorted(CO.instrument - {"co_yield"})))
    code, rep = audit_json(broken, tmp_path)
    assert code == 1 and rep["missing"] == []
    calls = [(u["caller"], u["callee"]) for u in rep["unchecked_calls"]]
    # at -O2/-O3 co_yield is inlined into step: then the unchecked start is a call to the runtime
    # function, or the runtime function inlined too
    m = decode(broken)
    helper = next(m.functions[f].name for f, role in recognize(CallGraph(m)).helpers.items() if role == "start_unwind")
    starts = {"co_yield"} if level == 0 else {helper, "(inlined asyncify_start_unwind)"}
    assert len(calls) == 1 and calls[0][0] == "step" and calls[0][1] in starts, calls
    assert host_breaks("coroutines", broken, tmp_path)


def test_analyze_before_the_pass_gives_the_list_binaryen_needs(tmp_path: Path) -> None:
    """On the module before asyncify, code that calls the asyncify.* imports follows Binaryen's
    runtime rules: the list is exactly what makes the build work."""
    out = tmp_path / "only.txt"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(plain("coroutines", str(tmp_path))),
                    "--ignore-imports", "--format", "binaryen", "-o", str(out)], check=True, capture_output=True)
    listed = out.read_text().split()
    assert set(listed) == CO.instrument
    for backend, level in BUILDS:
        assert not host_breaks("coroutines", build("coroutines", tmp_path, backend, level, tuple(listed)), tmp_path)


def test_an_import_only_uninstrumented_code_calls_is_named_not_guessed(tmp_path: Path) -> None:
    """Drop read_value, the only caller of env.fetch_value: no instrumented code calls the import any
    more, so the binary cannot say it is async. audit says exactly that (and what is at stake);
    with --imports it reports read_value."""
    broken = build("direct_chain", tmp_path, "libbinaryen", 0, tuple(sorted(EXPECTS["direct_chain"].instrument - {"read_value"})))
    _, rep = audit_json(broken, tmp_path)
    assert rep["missing"] == [] and "env.fetch_value" in rep["unknown_imports"] and rep["unknown_would_add"] >= 1
    code, rep = audit_json(broken, tmp_path, "--imports", ",".join(ASYNC))
    assert code == 1 and [m["name"] for m in rep["missing"]] == ["read_value"]
    assert host_breaks("direct_chain", broken, tmp_path)


def test_why_and_audit_on_a_binary_without_names(tmp_path: Path) -> None:
    """No name section: `why` takes an export name or V8's `wasm-function[N]`, and audit says how
    to keep names."""
    src, dst = tmp_path / "named.wasm", tmp_path / "nameless.wasm"
    src.write_bytes(build("direct_chain", tmp_path, "wasm-opt", 0, tuple(sorted(EXPECTS["direct_chain"].instrument))))
    subprocess.run([wasm_opt_path() or "wasm-opt", str(src), "-o", str(dst)], check=True, capture_output=True)  # no -g
    m = decode(dst.read_bytes())
    run = next(e.index for e in m.exports if e.name == "run")
    assert not m.functions[run].has_name
    for spelling in ("run", f"wasm-function[{run}]"):
        proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "why", str(plain("direct_chain", str(tmp_path))),
                               spelling, "--imports", ",".join(ASYNC)], capture_output=True, text=True)
        assert proc.returncode == 0 and "must be instrumented" in proc.stdout, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "why", str(dst), "run", "--imports", ",".join(ASYNC)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "(exported as run) must be instrumented" in proc.stdout, proc.stdout + proc.stderr
    text = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(dst)], capture_output=True, text=True).stdout
    assert "have no name in the name section" in text and "--profiling-funcs" in text and "wasm-opt -g" in text


def test_fix_knows_a_minified_asyncified_binary_by_its_runtime(tmp_path: Path) -> None:
    """`fix --wasm` warns when given the binary after asyncify; a minified one (exports `a`, `b`, …,
    no names) is recognised by the runtime's bodies, as audit does."""
    from asyncify_doctor.runtime.fixloop import is_asyncified
    done = build("direct_chain", tmp_path, "wasm-opt", 2, None)
    small = minified(done, tmp_path)
    assert not any(e.name.startswith("asyncify_") for e in decode(small, "min.wasm").exports)
    assert is_asyncified(decode(small, "min.wasm")) and is_asyncified(decode(done, "x.wasm"))
    assert not is_asyncified(decode(plain("direct_chain", str(tmp_path)).read_bytes(), "plain.wasm"))
