"""The glue reader on small fixtures cut from real Emscripten glue (tests/fixtures/glue/README.md),
joined with real binaries: a C program built by clang and asyncified by Binaryen's real pass, and
small modules assembled from WAT by wasm-tools."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from independent import validate, wasm_tools

from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.decode import Module, decode
from asyncify_doctor.emscripten import GlueError, find_glue, read_glue
from asyncify_doctor.emscripten.join import Reason, compare_async, compare_wraps, join
from asyncify_doctor.runtime.host.node_host import find_node
from asyncify_doctor.analysis.jspi import jspi_report
from asyncify_doctor.analysis.recognize import recognize
from asyncify_doctor.runtime.toolchain import compile_c

FIX = Path(__file__).parent / "fixtures" / "glue"
# what emcc hands Binaryen for PHP's list (tools/link.py: a bare name is env.NAME; JS library
# functions marked __async as *.NAME since 3.1.46; __asyncjs__* always)
PHP_BINARYEN_IMPORTS = ("env.fd_close", "env.js_flock", "*.emscripten_sleep", "*.fd_sync", "env.__asyncjs__*")


def compare_build(facts, build):  # noqa: ANN001, ANN201 - what the glue and recognize say
    return compare_async(facts, build.checked, build.unchecked)


@pytest.fixture(scope="module")
def php_like(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = compile_c(FIX / "php_like.c", tmp_path_factory.mktemp("glue") / "php_like.wasm")
    return out.read_bytes()


def wat_bytes(tmp_path: Path, text: str) -> bytes:
    src, out = tmp_path / "m.wat", tmp_path / "m.wasm"
    src.write_text(text)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    assert validate(out) is None
    return out.read_bytes()


def wat_module(tmp_path: Path, text: str) -> Module:
    return decode(wat_bytes(tmp_path, text))


def imports_of(m: Module) -> dict[str, int]:
    return {f.import_key: f.index for f in m.functions[:m.num_imported_functions]}  # type: ignore[misc]


# --- reading ---------------------------------------------------------------------------------------

def test_php83_asyncify_glue() -> None:
    g = read_glue(FIX / "php83_asyncify.js")
    assert g.mode == "asyncify" and g.era == ("3.1.46", None) and not g.closure and g.unread == ()
    il = g.import_list
    assert il is not None and il.style == "regex"
    # the real PHP pattern: 79 alternatives, 70 distinct, the bare fd_close among them
    assert (len(il.entries), il.duplicates) == (70, 9)
    assert {"fd_close", "_asyncjs__fd_close", "zend_hash_str_find", "__asyncjs__.*"} <= set(il.entries)
    assert il.matching("fd_close") == ("fd_close",) and not il.matches("fd_closer")
    assert g.async_marker == "isAsync" and g.async_functions == ("_emscripten_sleep", "_fd_sync")
    assert "_emscripten_sleep" in g.suspending_functions
    assert g.import_modules == ("env", "wasi_snapshot_preview1")
    assert g.imports["fd_close"].js == "_fd_close" and g.imports["emscripten_sleep"].suspends
    assert g.exports["wasm_trace"].js_names == ("Module._wasm_trace", "_wasm_trace")
    assert g.exports["__errno_location"].name == "__errno_location"
    assert g.table.can_add_wasm_functions is True
    assert any("updateGOT" in e.text for e in g.table.evidence)
    assert g.export_list is None


def test_php83_jspi_glue() -> None:
    g = read_glue(FIX / "php83_jspi.js")
    assert g.mode == "jspi" and g.era == ("3.1.61", None)
    assert "WebAssembly.Suspending" in g.mode_evidence[0].text
    el = g.export_list
    assert el is not None and len(el.entries) == 25 and el.duplicates == 1   # wasm_read is listed twice
    assert {"__errno_location", "php_wasm_init", "main", "__main_argc_argv"} <= set(el.entries)
    assert "wasm_trace" not in el.entries
    assert g.import_list is not None and "js_flock" in g.import_list.entries and "fd_close" not in g.import_list.entries
    assert g.table.can_add_wasm_functions is True    # MAIN_MODULE: GOT.func


def test_closure_glue_names_what_survives() -> None:
    """@jitl/quickjs-wasmfile-release-asyncify@0.32.0: closure renamed Asyncify's methods, isAsync
    (`lb`) and every import; the list, the suspending imports and Module properties survive."""
    g = read_glue(FIX / "quickjs_release_asyncify.mjs")
    assert g.mode == "asyncify" and g.closure and g.async_marker == "lb"
    assert g.import_list is not None and g.import_list.entries == (
        "qts_host_call_function", "qts_host_load_module_source", "qts_host_normalize_module", "invoke_.*", "__asyncjs__.*")
    assert g.import_modules == ("a",) and g.minified_imports
    assert {k for k, v in g.imports.items() if v.suspends} == {"f", "g", "i"}
    assert all(v.inline for k, v in g.imports.items() if k in "fgi")
    assert g.exports["w"].name == "malloc" and g.exports["x"].name == "QTS_Throw"
    assert g.exports["Ma"].js_names == ()        # `Ka=b.Ma`: closure kept no name
    assert g.exports["_a"].name == "dynCall_iii"
    assert g.table.can_add_wasm_functions is None
    assert any("closure" in line and "table" in line for line in g.unread)


def test_closure_glue_without_a_list_says_so() -> None:
    """wa-sqlite@1.0.0: closure dropped instrumentWasmImports altogether; exports sit in lazy wrappers."""
    g = read_glue(FIX / "wa_sqlite_1.0.0_async.mjs")
    assert g.mode == "asyncify" and "invalid state" in g.mode_evidence[0].text
    assert g.import_list is None
    assert "the glue carries no ASYNCIFY_IMPORTS list: closure removed Asyncify.instrumentWasmImports" in g.unread
    assert g.exports["va"].name == "sqlite3_vfs_find" and g.import_modules == ("a",)


def test_emcc_minified_es6_glue() -> None:
    """@journeyapps/wa-sqlite@2.0.6: MODULARIZE + EXPORT_ES6, emcc's own minifier (no closure)."""
    g = read_glue(FIX / "wa_sqlite_ja_async.mjs")
    assert g.mode == "asyncify" and not g.closure and g.import_modules == ("a",)
    assert g.imports["t"].js == "_ipp_async" and g.imports["V"].js == "_fd_sync"
    assert set(g.async_functions) == {"_fd_sync", "_ipp_async", "_vppp_async"}
    assert g.exports["df"].name == "malloc" and g.exports["wf"].name == "asyncify_start_unwind"
    assert g.table.can_add_wasm_functions is True and "Module.addFunction" in g.table.evidence[0].text


def test_glue_before_3_1_31_keeps_module_names_and_matches_exactly() -> None:
    """quickjs-emscripten@0.21.2 (Emscripten 3.1.2–3.1.30): `["env.x", …].map((x) => x.split('.')[1])`,
    `indexOf(x)`, and the hard-coded `__asyncjs__` prefix."""
    g = read_glue(FIX / "quickjs_0.21.2_debug_asyncify.js")
    il = g.import_list
    assert g.era == ("2.0.0", "3.1.30") and il is not None and il.style == "exact"
    assert "wasi_snapshot_preview1.fd_sync" in il.qualified and "fd_sync" in il.entries
    assert il.prefixes == ("__asyncjs__",)
    assert not il.matches("invoke_vi")          # `invoke_*` is a literal there (emscripten #19280)
    assert il.matching("__asyncjs__foo") == ("__asyncjs__*",)
    assert g.async_marker is None and g.import_modules == ("env", "wasi_snapshot_preview1")
    assert g.exports["malloc"].js_names == ("Module._malloc", "_malloc")


def test_glue_3_1_35_with_a_nul_byte() -> None:
    """quickjs-emscripten@0.23.0: split list + `original.isAsync ||` (3.1.35–3.1.37); its real file
    has a NUL byte in a comment, where tree-sitter's grammar would stop."""
    data = (FIX / "quickjs_0.23.0_debug_asyncify.js").read_bytes()
    assert b"\0" in data
    g = read_glue(FIX / "quickjs_0.23.0_debug_asyncify.js")
    assert g.unread == () and g.era == ("3.1.35", "3.1.37") and g.async_marker == "isAsync"
    # emcc split the names itself (3.1.31+) and appended the `__async` library functions it linked
    # as env.NAME (emcc.py 3.1.35: ASYNCIFY_IMPORTS += ['env.' + x for x in js_info['asyncFuncs']])
    assert g.import_list is not None and g.import_list.qualified == ()
    assert g.import_list.entries[-2:] == ("emscripten_sleep", "_load_secondary_module")
    assert g.exports["QTS_Throw"].name == "QTS_Throw"
    # the exports this era's glue reads through createExportWrapper("NAME"), each under its own name
    assert {"__wasm_call_ctors", "malloc", "QTS_Throw"} <= set(g.exports)
    assert g.exports["malloc"].js_names == ("Module._malloc", "_malloc")


# --- joined with a binary ----------------------------------------------------------------------------

def test_fd_close_mismatch_and_its_fix_on_a_real_asyncified_binary(php_like: bytes) -> None:
    """The PHP case, small: the glue's list names `fd_close`; emcc gave Binaryen env.fd_close; the
    program imports wasi_snapshot_preview1.fd_close, so its instrumented caller never checks after
    it. The fix the comparison gives, rerun through Binaryen, makes the binary agree."""
    glue = read_glue(FIX / "php83_asyncify.js")
    built = decode(asyncify(php_like, AsyncifyOptions(imports=PHP_BINARYEN_IMPORTS)))
    cmp = compare_build(join(glue, built), recognize(CallGraph(built)))
    assert [(m.key, m.reasons, m.fix) for m in cmp.glue_only] == [
        ("wasi_snapshot_preview1.fd_close", (Reason("pattern", "fd_close"),), "wasi_snapshot_preview1.fd_close")]
    names = {built.functions[f].import_key for f in cmp.agreed}
    assert names == {"env.emscripten_sleep", "env.js_flock", "wasi_snapshot_preview1.fd_sync"}
    assert cmp.binary_only == () and cmp.glue_states

    fixed = decode(asyncify(php_like, AsyncifyOptions(imports=PHP_BINARYEN_IMPORTS + (cmp.glue_only[0].fix,))))
    again = compare_build(join(glue, fixed), recognize(CallGraph(fixed)))
    assert again.glue_only == () and "wasi_snapshot_preview1.fd_close" in {fixed.functions[f].import_key for f in again.agreed}


def test_join_reasons_and_unmatched_entries(php_like: bytes) -> None:
    facts = join(read_glue(FIX / "php83_asyncify.js"), decode(php_like))
    why = {f.key: f.reasons for f in facts.imports}
    assert why["env.emscripten_sleep"] == (Reason("isAsync", "_emscripten_sleep"),)
    assert why["wasi_snapshot_preview1.fd_sync"] == (Reason("isAsync", "_fd_sync"),)
    assert why["env.js_flock"] == (Reason("pattern", "js_flock"),)
    assert set(facts.import_patterns) == set(why) and len(facts.async_imports) == 4
    assert "_asyncjs__fd_close" in facts.unmatched_entries and "fd_close" not in facts.unmatched_entries
    assert len(facts.unmatched_entries) == 70 - 2   # only fd_close and js_flock name an import of this program
    assert facts.wrapped_exports == ()              # Asyncify: nothing wrapped


def test_jspi_wraps_missing_and_needless(php_like: bytes) -> None:
    """PHP 8.3's JSPI glue on the small program: it wraps __errno_location (cannot suspend: a needless
    wrap) and not wasm_trace, which JS reads by name and which reaches emscripten_sleep."""
    module = decode(php_like)
    facts = join(read_glue(FIX / "php83_jspi.js"), module)
    assert facts.wrapped_exports == ("__errno_location", "wasm_sleep", "php_wasm_init", "fflush")
    wrapped = {module.functions[f].import_key for f in facts.wrapped_imports}
    assert wrapped == {"env.emscripten_sleep", "env.js_flock", "wasi_snapshot_preview1.fd_sync"}
    rep = jspi_report(CallGraph(module), list(facts.async_imports))
    cmp = compare_wraps(facts, rep.suspending_exports)
    assert cmp.missing == ("wasm_trace",) and cmp.needless == ("__errno_location",) and cmp.not_from_js == ()


def run_under_jspi(wasm: Path, export: str, wrap: tuple[str, ...], suspending: list[str]) -> dict:
    proc = subprocess.run([find_node(), "--experimental-wasm-jspi", str(FIX / "jspi_run.mjs"), str(wasm), export,
                           "--wrap", ",".join(wrap), "--suspending", ",".join(suspending)],
                          check=True, capture_output=True, text=True, timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_missing_wrap_traps_on_v8_and_the_wrapped_ones_suspend(php_like: bytes, tmp_path: Path) -> None:
    """The glue's wraps applied as the glue applies them, on node's real JSPI: the export the
    comparison calls missing traps with SuspendError; wrapped with the rest, it suspends and returns."""
    wasm = tmp_path / "php_like.wasm"
    wasm.write_bytes(php_like)
    module = decode(php_like)
    facts = join(read_glue(FIX / "php83_jspi.js"), module)
    suspending = [module.functions[f].import_key or "" for f in facts.wrapped_imports]
    missing = compare_wraps(facts, jspi_report(CallGraph(module), list(facts.async_imports)).suspending_exports).missing
    assert missing == ("wasm_trace",)
    assert run_under_jspi(wasm, "wasm_trace", facts.wrapped_exports, suspending)["kind"] == "suspend-error"
    assert run_under_jspi(wasm, "wasm_trace", facts.wrapped_exports + missing, suspending) == {"ok": True, "value": 0, "slept": 1}
    for export in ("wasm_sleep", "php_wasm_init"):
        assert run_under_jspi(wasm, export, facts.wrapped_exports, suspending)["slept"] == 1


def test_minified_names_mapped_back(tmp_path: Path) -> None:
    m = wat_module(tmp_path, """(module
      (import "a" "t" (func (param i32) (result i32)))
      (import "a" "s" (func (param i32) (result i32)))
      (import "a" "V" (func (param i32) (result i32)))
      (import "a" "b" (func (param i32 i32 i32) (result i32)))
      (func (export "df") (param i32) (result i32) local.get 0)
      (func (export "hb") (param i32) (result i32) local.get 0))""")
    facts = join(read_glue(FIX / "wa_sqlite_ja_async.mjs"), m)
    by_key = {f.key: f for f in facts.imports}
    assert by_key["a.t"].name == "env.ipp_async"
    assert by_key["a.t"].reasons == (Reason("pattern", "ipp_async"), Reason("isAsync", "_ipp_async"))
    assert by_key["a.s"].reasons == (Reason("pattern", "ipp"),)
    assert by_key["a.V"].name == "wasi_snapshot_preview1.fd_sync" and by_key["a.V"].reasons == (Reason("isAsync", "_fd_sync"),)
    assert by_key["a.b"].name == "env.__syscall_fcntl64" and by_key["a.b"].reasons == ()
    assert dict(facts.export_names) == {"df": "malloc", "hb": "sqlite3_step"}


def test_closure_names_lost_are_unknown_not_sync(tmp_path: Path) -> None:
    """A real asyncified binary with quickjs' minified imports: the binary checks after a.f; the
    closure glue keeps no name for a.f, so the comparison says it cannot tell, never `not async`."""
    wasm = wat_bytes(tmp_path, """(module
      (import "a" "f" (func $f (result i32)))
      (import "a" "b" (func $b))
      (memory 1)
      (func $run (export "w") (result i32) call $b call $f))""")
    built = decode(asyncify(wasm, AsyncifyOptions(imports=("a.f",))))
    facts = join(read_glue(FIX / "quickjs_release_asyncify.mjs"), built)
    assert not any(f.name_known for f in facts.imports) and facts.async_imports == ()
    assert {f.key for f in facts.imports if f.suspends} == {"a.f"}
    cmp = compare_build(facts, recognize(CallGraph(built)))
    assert [u.key for u in cmp.unknown] == ["a.f"] and cmp.binary_only == () and cmp.glue_only == ()
    assert facts.unmatched_entries == () and any("minified import" in line for line in facts.unresolved)


def test_old_glue_reasons_from_emcc_defaults(tmp_path: Path) -> None:
    m = wat_module(tmp_path, """(module
      (import "env" "qts_host_call_function" (func))
      (import "env" "emscripten_sleep" (func))
      (import "env" "invoke_vi" (func (param i32 i32)))
      (import "env" "__asyncjs__fetch" (func)))""")
    facts = join(read_glue(FIX / "quickjs_0.21.2_debug_asyncify.js"), m)
    why = {f.key: f.reasons for f in facts.imports}
    assert why["env.qts_host_call_function"] == (Reason("pattern", "qts_host_call_function"),)
    assert why["env.emscripten_sleep"] == (Reason("emcc", "emscripten_sleep"),)   # DEFAULT_ASYNCIFY_IMPORTS then
    assert why["env.invoke_vi"] == ()                                            # literal `invoke_*` in JS
    assert why["env.__asyncjs__fetch"] == (Reason("emcc", "__asyncjs__*"),)
    assert "invoke_*" in facts.unmatched_entries


# --- bad input and where the glue is ------------------------------------------------------------------

def test_unreadable_glue_is_one_line(tmp_path: Path, php_like: bytes) -> None:
    wasm = tmp_path / "x.wasm"
    wasm.write_bytes(php_like)
    for path, words in ((tmp_path / "missing.js", "cannot read"), (tmp_path, "directory"), (wasm, "wasm binary")):
        with pytest.raises(GlueError) as e:
            read_glue(path)
        assert words in str(e.value) and "\n" not in str(e.value)


def test_not_glue_and_broken_js_say_so(tmp_path: Path) -> None:
    plain = tmp_path / "plain.js"
    plain.write_text("console.log('hello');\n")
    g = read_glue(plain)
    assert g.mode == "none" and g.unread == ("not Emscripten glue: no import object, no wasm exports and no Asyncify code found",)
    broken = tmp_path / "broken.js"
    broken.write_text((FIX / "php83_jspi.js").read_text() + "\nvar = = ;\n")
    g = read_glue(broken)
    assert g.mode == "jspi" and g.export_list is not None
    assert any(line.startswith("the JS does not parse cleanly") for line in g.unread)


def test_find_glue_beside_and_one_level_up(tmp_path: Path) -> None:
    (tmp_path / "app.wasm").write_bytes(b"\0asm\1\0\0\0")
    assert find_glue(tmp_path / "app.wasm") is None
    (tmp_path / "app.mjs").write_text("export default 1;\n")
    assert find_glue(tmp_path / "app.wasm") == tmp_path / "app.mjs"
    nested = tmp_path / "jspi" / "8_3_33"
    nested.mkdir(parents=True)
    (nested / "php_8_3.wasm").write_bytes(b"\0asm\1\0\0\0")
    (tmp_path / "jspi" / "php_8_3.js").write_text("const f = path.join(dir, '8_3_33', 'php_8_3.wasm');\n")
    assert find_glue(nested / "php_8_3.wasm") == tmp_path / "jspi" / "php_8_3.js"
    (tmp_path / "jspi" / "php_8_3.js").write_text("// some other program\n")
    assert find_glue(nested / "php_8_3.wasm") is None


def test_fixture_reads_fast() -> None:
    start = time.perf_counter()
    for f in FIX.glob("*.*js"):
        read_glue(f)
    assert time.perf_counter() - start < 2.0
