"""Opt-in (ASYNCIFY_DOCTOR_SLOW=1): the glue reader on whole real glue files from npm packages,
joined with their real binaries, against facts established without the reader: the lists pulled
out of the text with a plain regular expression, imports and exports read by bench's own section
reader (bench/real_binaries.py `module_facts`), and bench's ground truth for each build."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncify_doctor.analysis.pipeline import load_module, prepare
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.emscripten import read_glue
from asyncify_doctor.emscripten.join import (
    GlueFacts,
    Reason,
    compare_async,
    compare_wraps,
    join,
)
from asyncify_doctor.analysis.jspi import jspi_report
from asyncify_doctor.analysis.recognize import recognize

pytestmark = pytest.mark.skipif(not os.environ.get("ASYNCIFY_DOCTOR_SLOW"), reason="set ASYNCIFY_DOCTOR_SLOW=1")

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
import real_binaries as rb  # noqa: E402

PHP = {("8.3", "asyncify"): ("@php-wasm/node-8-3@3.1.54", "package/asyncify/php_8_3.js", "package/asyncify/8_3_33/php_8_3.wasm"),
       ("8.3", "jspi"): ("@php-wasm/node-8-3@3.1.54", "package/jspi/php_8_3.js", "package/jspi/8_3_33/php_8_3.wasm"),
       ("8.4", "asyncify"): ("@php-wasm/node-8-4@3.1.54", "package/asyncify/php_8_4.js", "package/asyncify/8_4_25/php_8_4.wasm"),
       ("8.4", "jspi"): ("@php-wasm/node-8-4@3.1.54", "package/jspi/php_8_4.js", "package/jspi/8_4_25/php_8_4.wasm")}


def compare_build(facts, build):  # noqa: ANN001, ANN201 - what the glue and recognize say
    return compare_async(facts, build.checked, build.unchecked)


def files(package: str, glue: str, wasm: str) -> tuple[Path, Path]:
    return rb.package_file(package, glue), rb.package_file(package, wasm)


def plain_alternatives(text: str, var: str) -> list[str]:
    """`var NAME = /^(a|b|…)$/` pulled out of the text by a regular expression, deduplicated."""
    m = re.search(var + r"\s*=\s*/\^\((.*?)\)\$/\s*;", text, re.DOTALL)
    assert m is not None, var
    return list(dict.fromkeys(m.group(1).split("|")))


def joined(glue: Path, wasm: Path) -> tuple[GlueFacts, rb.ModuleFacts]:
    return join(read_glue(glue), load_module(wasm)), rb.module_facts(wasm.read_bytes())


@pytest.mark.parametrize("version", ["8.3", "8.4"])
def test_php_asyncify_glue_names_fd_close_the_binary_does_not(version: str) -> None:
    glue, wasm = files(*PHP[version, "asyncify"])
    start = time.perf_counter()
    g = read_glue(glue)
    seconds = time.perf_counter() - start
    assert seconds < 3.0, seconds           # about 0.5 s for 370 KB on a 2-core machine
    text = glue.read_text()
    assert g.mode == "asyncify" and g.unread == () and g.import_list is not None
    assert list(g.import_list.entries) == plain_alternatives(text, "importPattern")
    assert (len(g.import_list.entries), g.import_list.duplicates) == (70, 9)
    assert g.async_functions == ("_emscripten_sleep", "_fd_sync")

    module = load_module(wasm)
    facts = join(g, module)
    mf = rb.module_facts(wasm.read_bytes())
    fields = {imp.split(".", 1)[1] for imp in mf.func_imports if imp.split(".", 1)[0] in ("env", "wasi_snapshot_preview1")}
    unmatched = [e for e in g.import_list.entries if not any(re.fullmatch(e, f) for f in fields)]
    assert list(facts.unmatched_entries) == unmatched and len(unmatched) == 31
    assert {"_asyncjs__fd_close", "zend_hash_str_find", "_fd_close"} <= set(unmatched)

    cmp = compare_build(facts, recognize(CallGraph(module)))
    assert [(m.key, m.reasons, m.fix) for m in cmp.glue_only] == [
        ("wasi_snapshot_preview1.fd_close", (Reason("pattern", "fd_close"),), "wasi_snapshot_preview1.fd_close")]
    assert cmp.glue_only[0].callers == 3
    assert cmp.binary_only == ()
    assert g.table.can_add_wasm_functions is True


@pytest.mark.parametrize("version", ["8.3", "8.4"])
def test_php_jspi_glue_wraps_and_the_needless_errno_location(version: str) -> None:
    glue, wasm = files(*PHP[version, "jspi"])
    g = read_glue(glue)
    text = glue.read_text()
    assert g.mode == "jspi" and g.unread == () and g.export_list is not None and g.import_list is not None
    assert list(g.export_list.entries) == plain_alternatives(text, "exportPattern")
    assert list(g.import_list.entries) == plain_alternatives(text, "importPattern")
    assert len(g.export_list.entries) == 25

    facts, mf = joined(glue, wasm)
    func_exports = [name for name, (kind, _) in mf.exports.items() if kind == "func"]
    wrapped = [e for e in func_exports if any(re.fullmatch(p, e) for p in g.export_list.entries)]
    assert sorted(facts.wrapped_exports) == sorted(wrapped) and len(wrapped) == 15
    assert "__errno_location" in facts.wrapped_exports and "main" not in facts.wrapped_exports
    assert {"main", "__main_argc_argv", "wasm_connect"} <= set(facts.unmatched_export_entries)

    # what JSPI wraps in Suspending: the field matches the pattern, or its JS function is isAsync
    marked = {f.split(".")[0][1:] for f in re.findall(r"(_[\w$]+)\.isAsync\s*=\s*true", text)}
    expect = {i for i, imp in enumerate(mf.func_imports) if imp.split(".", 1)[0] in ("env", "wasi_snapshot_preview1")
              and (imp.split(".", 1)[1] in marked or any(re.fullmatch(p, imp.split(".", 1)[1]) for p in g.import_list.entries))}
    assert set(facts.wrapped_imports) == expect and len(expect) == 15

    module = load_module(wasm)
    _, selection, graph = prepare(module, list(facts.import_patterns), "typed", emscripten=False)
    assert sorted(selection.functions) == sorted(facts.async_imports)   # --imports of the glue's async imports
    rep = jspi_report(graph, list(facts.async_imports), "typed")
    cmp = compare_wraps(facts, rep.suspending_exports)
    assert "__errno_location" in cmp.needless


def test_quickjs_release_closure_glue() -> None:
    build = rb.BY_KEY["quickjs-release"]
    glue, wasm = files(build.package, "package/dist/emscripten-module.mjs", build.member)
    facts, mf = joined(glue, wasm)
    assert facts.glue.closure and facts.glue.import_modules == ("a",)
    # bench's ground truth (read by hand: a.i = callFunction, a.g = loadModuleSource, a.f = normalizeModule)
    assert {f.key for f in facts.imports if f.suspends} == set(build.async_imports or ())
    assert facts.export_names["w"] == "malloc" and all(e in mf.exports for e in facts.export_names)
    assert facts.async_imports == () and any("minified import" in u for u in facts.unresolved)
    module = load_module(wasm)
    cmp = compare_build(facts, recognize(CallGraph(module)))
    assert {u.key for u in cmp.unknown} >= set(build.async_imports or ()) and cmp.binary_only == ()


def test_quickjs_debug_glue() -> None:
    build = rb.BY_KEY["quickjs-debug"]
    glue, wasm = files(build.package, "package/dist/emscripten-module.mjs", build.member)
    facts, _ = joined(glue, wasm)
    assert set(facts.import_patterns) == set(build.async_imports or ())
    module = load_module(wasm)
    cmp = compare_build(facts, recognize(CallGraph(module)))
    assert cmp.glue_only == () and cmp.binary_only == ()
    assert {module.functions[f].import_key for f in cmp.agreed} == set(build.async_imports or ())


def test_wa_sqlite_1_closure_glue_has_no_list() -> None:
    build = rb.BY_KEY["wa-sqlite-1.0.0"]
    glue, wasm = files(build.package, "package/dist/wa-sqlite-async.mjs", build.member)
    facts, _mf = joined(glue, wasm)
    g = facts.glue
    assert g.mode == "asyncify" and g.closure and g.import_list is None
    assert "the glue carries no ASYNCIFY_IMPORTS list: closure removed Asyncify.instrumentWasmImports" in g.unread
    wrappers = set(re.findall(r"f\.(_[\w$]+)=\(?[\w,]*\)?=>\(f\.\1=Y\.([\w$]+)\)", glue.read_text()))
    assert len(wrappers) >= 50
    assert {(f"_{facts.export_names[e]}", e) for _, e in wrappers} == wrappers
    cmp = compare_build(facts, recognize(CallGraph(load_module(wasm))))
    assert not cmp.glue_states and cmp.binary_only == () and cmp.glue_only == ()


def test_journeyapps_wa_sqlite_jspi_and_minified_asyncify() -> None:
    package = "@journeyapps/wa-sqlite@2.0.6"
    glue, wasm = files(package, "package/dist/wa-sqlite-jspi.mjs", "package/dist/wa-sqlite-jspi.wasm")
    facts, mf = joined(glue, wasm)
    g = facts.glue
    assert g.mode == "jspi" and g.export_list is not None
    assert list(g.export_list.entries) == plain_alternatives(glue.read_text(), "exportPattern")
    func_exports = [name for name, (kind, _) in mf.exports.items() if kind == "func"]
    assert sorted(facts.wrapped_exports) == sorted(e for e in func_exports if any(re.fullmatch(p, e) for p in g.export_list.entries))
    assert set(facts.wrapped_exports) == {"sqlite3_close", "sqlite3_finalize", "sqlite3_open_v2", "sqlite3_prepare",
                                          "sqlite3_prepare16", "sqlite3_prepare_v2", "sqlite3_prepare16_v2",
                                          "sqlite3_prepare_v3", "sqlite3_prepare16_v3", "sqlite3_reset", "sqlite3_step", "main"}
    assert len(facts.wrapped_imports) == 33 and "wasi_snapshot_preview1.fd_sync" in facts.import_patterns

    build = rb.BY_KEY["wa-sqlite-ja"]
    glue, wasm = files(package, "package/dist/wa-sqlite-async.mjs", build.member)
    facts, _mf = joined(glue, wasm)
    assert facts.glue.minified_imports and not facts.glue.closure
    # every async import, named back through the glue, is one the build's list covers (bench's ground truth)
    given = [p if "." in p else "env." + p for p in build.given]
    for f in facts.imports:
        if f.reasons:
            assert any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), f.name) for p in given), f
    cmp = compare_build(facts, recognize(CallGraph(load_module(wasm))))
    assert cmp.glue_only == () and cmp.binary_only == () and len(cmp.agreed) == 33


def test_quickjs_0_23_glue_with_a_nul_byte_parses_whole() -> None:
    glue = rb.package_file("quickjs-emscripten@0.23.0", "package/dist/generated/emscripten-module.WASM_DEBUG_ASYNCIFY.js")
    assert b"\0" in glue.read_bytes()
    g = read_glue(glue)
    assert g.unread == () and g.era == ("3.1.35", "3.1.37") and len(g.exports) > 90


# --- through the real CLI (issue 22, phase 2) -----------------------------------------------------------

def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *map(str, args)], capture_output=True, text=True,
                          timeout=900)


def glue_async_keys(text: str, mf: rb.ModuleFacts) -> list[str]:
    """The binary's imports the glue takes as async, without the reader: the field matches the
    `importPattern` literal, or its JS function (`_` + field) is marked `.isAsync = true`."""
    pattern = re.compile("^(" + "|".join(plain_alternatives(text, "importPattern")) + ")$")
    marked = {f[1:] for f in re.findall(r"(_[\w$]+)\.isAsync\s*=\s*true", text)}
    return [imp for imp in mf.func_imports if imp.split(".", 1)[0] in ("env", "wasi_snapshot_preview1")
            and (pattern.match(imp.split(".", 1)[1]) or imp.split(".", 1)[1] in marked)]


def test_cli_analyze_jspi_with_its_glue_lists_what_imports_of_the_glue_lists(tmp_path: Path) -> None:
    """`analyze JSPI.wasm --glue jspi/php_8_3.js` lists exactly what `--imports` of the glue's async
    imports lists; with no flags the glue (one directory up, naming the .wasm) is found and used."""
    glue, wasm = files(*PHP["8.3", "jspi"])
    keys = glue_async_keys(glue.read_text(), rb.module_facts(wasm.read_bytes()))
    assert len(keys) == 15 and "env.js_flock" in keys and "wasi_snapshot_preview1.fd_sync" in keys
    runs = {"glue": ("--glue", glue), "auto": (), "imports": ("--imports", ",".join(keys), "--no-glue", "--no-emscripten"),
            "imports+glue": ("--imports", ",".join(keys))}
    out = {}
    for name, extra in runs.items():
        proc = cli("analyze", wasm, *extra, "-o", tmp_path / f"{name}.list")
        assert proc.returncode == 0, proc.stderr
        out[name] = (tmp_path / f"{name}.list").read_text().splitlines()
        if name == "auto":
            assert f"reading the JS glue {glue}: JSPI glue, Emscripten 3.1.61 or later (found beside php_8_3.wasm" in proc.stderr
            assert "async imports: the 15 the glue takes as async" in proc.stderr
        if name == "imports+glue":
            assert "--imports and the glue agree on the async imports" in proc.stderr
    assert out["glue"] == out["auto"] == out["imports"] == out["imports+glue"] and len(out["glue"]) > 10_000
    # emcc's rules without the glue add what this glue does not mark async (_dlopen_js, __syscall_poll)
    rules = cli("analyze", wasm, "--imports", ",".join(keys), "--no-glue", "-o", tmp_path / "rules.list")
    assert rules.returncode == 0 and len((tmp_path / "rules.list").read_text().splitlines()) > len(out["glue"])


@pytest.mark.parametrize("version", ["8.3", "8.4"])
def test_cli_audit_of_the_asyncify_build_reports_fd_close(version: str) -> None:
    glue, wasm = files(*PHP[version, "asyncify"])
    proc = cli("audit", wasm, "--format", "json")
    assert proc.returncode == 1 and f"reading the JS glue {glue}" in proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["imports_from"] == "glue"
    vs = rep["glue"]["vs_binary"]
    assert [(m["import"], m["fix"], m["callers"], m["reasons"]) for m in vs["glue_only"]] == [
        ("wasi_snapshot_preview1.fd_close", "wasi_snapshot_preview1.fd_close", 3, [{"kind": "pattern", "entry": "fd_close"}])]
    assert vs["binary_only"] == [] and len(rep["glue"]["unmatched_entries"]) == 31
    assert {u["callee"] for u in rep["unchecked_calls"]} == {"wasi_snapshot_preview1.fd_close"}
    text = cli("audit", wasm).stdout
    assert "fix: put `wasi_snapshot_preview1.fd_close` in ASYNCIFY_IMPORTS" in text


@pytest.mark.parametrize("indirect", ["typed", "ignore"])
def test_cli_jspi_splits_the_glue_wraps(indirect: str) -> None:
    """`jspi` with the JSPI glue: wrapped / missing / needless, `__errno_location` needless. Missing is
    checked against an independent read: exports that can suspend (the report's own list), that the
    glue reads by name (`wasmExports["x"]` in its text), and that its exportPattern does not match."""
    glue, wasm = files(*PHP["8.3", "jspi"])
    proc = cli("jspi", wasm, "--indirect", indirect, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    rep = json.loads(proc.stdout)
    wraps = rep["glue"]["wraps"]
    text = glue.read_text()
    pattern = re.compile("^(" + "|".join(plain_alternatives(text, "exportPattern")) + ")$")
    read_by_name = set(re.findall(r"wasmExports\[\s*[\"']([^\"']+)[\"']\s*\]", text))
    suspending = set(rep["suspending_exports"])
    wrapped = set(wraps["wrapped"])
    assert len(wrapped) == 15 and all(pattern.match(e) for e in wrapped)
    assert set(wraps["missing_wraps"]) == {e for e in suspending & read_by_name if not pattern.match(e)}
    assert set(wraps["needless_wraps"]) == wrapped - suspending and "__errno_location" in wraps["needless_wraps"]
    assert set(wraps["not_called_from_js"]) == suspending - wrapped - read_by_name
    words = cli("jspi", wasm, "--indirect", indirect).stdout
    assert re.search(r"needless \(wrapped, never suspend\): \d+: .*__errno_location", words)


def test_cli_quickjs_debug_glue_decides_host_table_module(tmp_path: Path) -> None:
    """quickjs's debug Asyncify glue never adds a wasm function to the table: --host-table module, said,
    and the same list as --host-table module with the glue's async imports."""
    build = rb.BY_KEY["quickjs-debug"]
    glue, wasm = files(build.package, "package/dist/emscripten-module.mjs", build.member)
    proc = cli("analyze", wasm, "--glue", glue, "--format", "json", "-o", tmp_path / "glue.json")
    assert proc.returncode == 0, proc.stderr
    assert "the glue never adds wasm functions to the table" in proc.stderr and "--host-table module" in proc.stderr
    keys = glue_async_keys_any(glue.read_text(), rb.module_facts(wasm.read_bytes()))
    assert set(keys) == set(build.async_imports or ())
    same = cli("analyze", wasm, "--no-glue", "--no-emscripten", "--imports", ",".join(keys), "--host-table", "module",
               "--format", "json", "-o", tmp_path / "imports.json")
    sound = cli("analyze", wasm, "--glue", glue, "--host-table", "sound", "--format", "json", "-o", tmp_path / "sound.json")
    assert same.returncode == sound.returncode == 0
    listed = {name: [f["index"] for f in json.loads((tmp_path / f"{name}.json").read_text())["functions"]]
              for name in ("glue", "imports", "sound")}
    assert listed["glue"] == listed["imports"] and set(listed["glue"]) <= set(listed["sound"])
    assert json.loads((tmp_path / "glue.json").read_text())["glue"]["host_table"]["used"] == "module"


def glue_async_keys_any(text: str, mf: rb.ModuleFacts) -> list[str]:
    """As glue_async_keys, for glue whose list is `importPattern` or the older `importPatterns = [/^a$/, …]`."""
    m = re.search(r"importPatterns?\s*=\s*(\[.*?\]|/\^\(.*?\)\$/)\s*;", text, re.DOTALL)
    assert m is not None
    alternatives = re.findall(r"/\^(.*?)\$/", m.group(1)) if m.group(1).startswith("[") else \
        m.group(1)[3:-3].split("|")
    pattern = re.compile("^(" + "|".join(alternatives) + ")$")
    marked = {f[1:] for f in re.findall(r"(_[\w$]+)\.isAsync\s*=\s*true", text)}
    return [imp for imp in mf.func_imports if imp.split(".", 1)[0] in ("env", "wasi_snapshot_preview1")
            and (pattern.match(imp.split(".", 1)[1]) or imp.split(".", 1)[1] in marked)]
