"""The JS glue through the real CLI (issue 22): `--glue FILE`, the glue found beside the .wasm, `--no-glue`,
on small C programs compiled by clang, asyncified by Binaryen's real pass, with glue fixtures cut from real
Emscripten builds (tests/fixtures/glue/README.md) put beside them. What the glue takes as async is worked
out here without the reader: the fixture's `importPattern` and `.isAsync = true` pulled out of its text by
a regular expression, the binary's imports printed by wasm-tools."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from independent import wasm_tools

from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
from asyncify_doctor.runtime.host.node_host import find_node
from asyncify_doctor.runtime.toolchain import compile_c

FIX = Path(__file__).parent / "fixtures" / "glue"
ASYNCIFY_GLUE, JSPI_GLUE = FIX / "php83_asyncify.js", FIX / "php83_jspi.js"
# what emcc hands Binaryen for PHP's list (tools/link.py: a bare name is env.NAME; JS library
# functions marked __async as *.NAME since 3.1.46; __asyncjs__* always)
PHP_BINARYEN_IMPORTS = ("env.fd_close", "env.js_flock", "*.emscripten_sleep", "*.fd_sync", "env.__asyncjs__*")


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *map(str, args)], capture_output=True, text=True, check=False,
                          timeout=300)


SCHEMAS = Path(__file__).parent.parent / "docs" / "schemas"


def document(out: subprocess.CompletedProcess[str] | str) -> dict:
    """A command's JSON output, held to its schema (docs/schemas: the `glue` part included)."""
    doc = json.loads(out if isinstance(out, str) else out.stdout)
    kind = doc["schema"].split("/")[1]
    jsonschema.validate(doc, json.loads((SCHEMAS / f"{kind}-1.schema.json").read_text()))
    return doc


def lines(path_or_text: str | Path) -> list[str]:
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    return text.splitlines()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """php_like.c plain (the JSPI build, and the binary before asyncify), and asyncified by Binaryen with
    the list emcc would have handed it for PHP's ASYNCIFY_IMPORTS; quickjs_like.c plain."""
    tmp = tmp_path_factory.mktemp("glue_cli")
    plain = compile_c(FIX / "php_like.c", tmp / "plain" / "php_like.wasm")
    out = tmp / "asyncify" / "php_like.wasm"
    out.parent.mkdir()
    out.write_bytes(asyncify(plain.read_bytes(), AsyncifyOptions(imports=PHP_BINARYEN_IMPORTS)))
    return {"plain": plain, "asyncify": out, "quickjs": compile_c(FIX / "quickjs_like.c", tmp / "qjs" / "quickjs_like.wasm")}


def beside(wasm: Path, glue: Path, where: Path, suffix: str = ".js") -> Path:
    """A copy of `wasm` in `where` with `glue` beside it under the .wasm's stem, as emcc writes them."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(wasm, where / wasm.name)
    shutil.copy(glue, where / (wasm.stem + suffix))
    return where / wasm.name


def binary_imports(wasm: Path) -> list[str]:
    text = subprocess.run([wasm_tools(), "print", str(wasm)], check=True, capture_output=True, text=True).stdout
    return [f"{m}.{n}" for m, n in re.findall(r'\(import "([^"]+)" "([^"]+)" \(func', text)]


def glue_async_keys(glue: Path, wasm: Path) -> list[str]:
    """The binary's imports the glue takes as async, read without the reader: a field matching the
    `importPattern` literal, or bound to a JS function the glue marks `.isAsync = true` (library
    functions are bound as `_` + field, emscripten.py create_sending)."""
    text = glue.read_text()
    m = re.search(r"importPattern\s*=\s*/\^\((.*?)\)\$/", text, re.DOTALL)
    assert m is not None
    pattern = re.compile(f"^({m.group(1)})$")
    marked = {name[1:] for name in re.findall(r"(_[\w$]+)\.isAsync\s*=\s*true", text)}
    return [k for k in binary_imports(wasm) if pattern.match(k.split(".", 1)[1]) or k.split(".", 1)[1] in marked]


# --- analyze: the glue's async imports are the selection ----------------------------------------------

def test_analyze_with_glue_lists_what_imports_of_its_async_imports_lists(built: dict[str, Path], tmp_path: Path) -> None:
    wasm = built["plain"]
    keys = glue_async_keys(JSPI_GLUE, wasm)
    assert sorted(keys) == ["env.emscripten_sleep", "env.js_flock", "wasi_snapshot_preview1.fd_sync"]
    with_glue = cli("analyze", wasm, "--glue", JSPI_GLUE)
    by_imports = cli("analyze", wasm, "--imports", ",".join(keys), "--no-emscripten")
    assert with_glue.returncode == by_imports.returncode == 0, with_glue.stderr
    assert lines(with_glue.stdout) == lines(by_imports.stdout)
    assert set(lines(with_glue.stdout)) == {"php_wasm_init", "close_and_wait", "lock_file", "wasm_sleep", "wasm_trace",
                                            "flush_all"}
    assert f"reading the JS glue {JSPI_GLUE}: JSPI glue, Emscripten 3.1.61 or later (given with --glue)" in with_glue.stderr
    assert "async imports: the 3 the glue takes as async" in with_glue.stderr
    # emcc's rules alone (no glue) know emscripten_sleep and fd_sync, not PHP's js_flock
    rules = cli("analyze", wasm)
    assert "lock_file" not in lines(rules.stdout) and "reading the JS glue" not in rules.stderr

    data = document(cli("analyze", wasm, "--glue", JSPI_GLUE, "--format", "json").stdout)
    glue = data["glue"]
    assert glue["selection"] == "glue" and glue["mode"] == "jspi" and not glue["found_beside_wasm"]
    assert sorted(a["import"] for a in glue["async_imports"]) == sorted(keys)
    assert sorted(data["async_imports"]) == sorted(keys)
    assert {a["import"]: a["reasons"] for a in glue["async_imports"]}["env.js_flock"] == [{"kind": "pattern", "entry": "js_flock"}]


def test_glue_beside_the_wasm_is_used_with_no_flags(built: dict[str, Path], tmp_path: Path) -> None:
    for suffix in (".js", ".mjs", ".cjs"):
        wasm = beside(built["plain"], JSPI_GLUE, tmp_path / suffix[1:], suffix)
        auto = cli("analyze", wasm)
        glue = wasm.with_suffix(suffix)
        assert f"reading the JS glue {glue}: JSPI glue" in auto.stderr and "found beside php_like.wasm" in auto.stderr
        assert lines(auto.stdout) == lines(cli("analyze", wasm, "--glue", JSPI_GLUE).stdout)
        off = cli("analyze", wasm, "--no-glue")
        assert "JS glue" not in off.stderr and lines(off.stdout) == lines(cli("analyze", built["plain"]).stdout)
    # @php-wasm's layout: the glue one directory up, naming the .wasm
    nested = tmp_path / "pkg" / "jspi" / "8_3_33"
    nested.mkdir(parents=True)
    shutil.copy(built["plain"], nested / "php_like.wasm")
    (tmp_path / "pkg" / "jspi" / "php_like.js").write_text(
        JSPI_GLUE.read_text() + "\n// the binary: path.join(__dirname, '8_3_33', 'php_like.wasm')\n")
    up = cli("why", nested / "php_like.wasm", "lock_file")
    assert up.returncode == 0 and "lock_file must be instrumented" in up.stdout and "env.js_flock" in up.stdout
    assert f"reading the JS glue {tmp_path / 'pkg' / 'jspi' / 'php_like.js'}" in up.stderr


def test_why_says_what_the_glue_says_of_an_import(built: dict[str, Path]) -> None:
    proc = cli("why", built["plain"], "wasi_snapshot_preview1.fd_close", "--glue", ASYNCIFY_GLUE)
    assert proc.returncode == 1 and "is an async import itself" in proc.stdout
    assert "The JS glue (php83_asyncify.js) takes it as async: ASYNCIFY_IMPORTS entry `fd_close`." in proc.stdout
    proc = cli("why", built["plain"], "env.emscripten_sleep", "--glue", ASYNCIFY_GLUE)
    assert "_emscripten_sleep.isAsync (a JS library function marked async)" in proc.stdout


def test_imports_against_the_glue(built: dict[str, Path]) -> None:
    """With --imports, the selection is --imports (plus what the glue says emcc added), and the
    differences from the glue are said: here the bare fd_close, env.fd_close to Binaryen, which the
    glue matches in wasi_snapshot_preview1."""
    proc = cli("analyze", built["plain"], "--imports", "fd_close,js_flock", "--glue", ASYNCIFY_GLUE, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "--imports pattern(s) match no import" in proc.stderr and "fd_close" in proc.stderr
    assert "the glue takes as async what --imports does not: 1: wasi_snapshot_preview1.fd_close (ASYNCIFY_IMPORTS entry `fd_close`)" in proc.stderr
    assert "the JS glue says emcc also made these imports async by itself: env.emscripten_sleep, wasi_snapshot_preview1.fd_sync" in proc.stderr
    vs = document(proc)["glue"]["imports_vs_glue"]
    assert vs["glue_only"] == ["wasi_snapshot_preview1.fd_close"] and vs["imports_only"] == []
    same = cli("analyze", built["plain"], "--imports", "wasi_snapshot_preview1.fd_close,js_flock", "--glue", ASYNCIFY_GLUE)
    assert "--imports and the glue agree on the async imports" in same.stderr


# --- audit: the glue against the binary's instrumentation ----------------------------------------------

def test_audit_reports_the_fd_close_mismatch_and_its_fix(built: dict[str, Path], tmp_path: Path) -> None:
    wasm = beside(built["asyncify"], ASYNCIFY_GLUE, tmp_path / "a")
    text = cli("audit", wasm)
    assert text.returncode == 1   # the 3 instrumented callers of fd_close do not check after it
    assert "found beside php_like.wasm" in text.stderr
    assert "the glue takes as async, the binary does not (its instrumented callers never check for an unwind after them): 1" in text.stdout
    assert ("wasi_snapshot_preview1.fd_close (ASYNCIFY_IMPORTS entry `fd_close`; 1 instrumented caller(s)): fix: put "
            "`wasi_snapshot_preview1.fd_close` in ASYNCIFY_IMPORTS (the bare `fd_close` is env.fd_close to Binaryen but any "
            "module's fd_close to the glue; this import is in wasi_snapshot_preview1)") in text.stdout
    assert "async imports, from the JS glue: 4" in text.stdout
    rep = document(cli("audit", wasm, "--format", "json").stdout)
    assert rep["imports_from"] == "glue"
    only = rep["glue"]["vs_binary"]["glue_only"]
    assert [(m["import"], m["fix"], m["callers"]) for m in only] == [("wasi_snapshot_preview1.fd_close",
                                                                     "wasi_snapshot_preview1.fd_close", 1)]
    assert rep["glue"]["vs_binary"]["binary_only"] == []
    assert {u["callee"] for u in rep["unchecked_calls"]} == {"wasi_snapshot_preview1.fd_close"}

    # the fix, given to Binaryen (emcc hands it an entry with a module as it is): the binary agrees
    fixed = tmp_path / "b" / "php_like.wasm"
    fixed.parent.mkdir()
    fixed.write_bytes(asyncify(built["plain"].read_bytes(),
                               AsyncifyOptions(imports=PHP_BINARYEN_IMPORTS + (only[0]["fix"],))))
    shutil.copy(ASYNCIFY_GLUE, fixed.with_suffix(".js"))
    again = document(cli("audit", fixed, "--format", "json").stdout)
    assert again["glue"]["vs_binary"]["glue_only"] == [] and again["unchecked_calls"] == []
    assert "wasi_snapshot_preview1.fd_close" in again["glue"]["vs_binary"]["agreed"]
    # without the glue the audit takes the build's own async imports, and fd_close is not one of them
    plain = document(cli("audit", wasm, "--no-glue", "--format", "json").stdout)
    assert plain["imports_from"] == "build" and "glue" not in plain


# --- jspi: wrapped / missing / needless -------------------------------------------------------------------

def run_under_jspi(wasm: Path, export: str, wrap: list[str], suspending: list[str]) -> dict:
    proc = subprocess.run([find_node(), "--experimental-wasm-jspi", str(FIX / "jspi_run.mjs"), str(wasm), export,
                           "--wrap", ",".join(wrap), "--suspending", ",".join(suspending)],
                          check=True, capture_output=True, text=True, timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_jspi_splits_the_glue_wraps_and_the_missing_one_traps(built: dict[str, Path]) -> None:
    wasm = built["plain"]
    text = cli("jspi", wasm, "--glue", JSPI_GLUE)
    assert text.returncode == 1   # a missing wrap
    assert "wraps 4 export(s) with WebAssembly.promising (JSPI_EXPORTS: 25 entries, 21 match no function export)" in text.stdout
    assert "missing (can suspend; the glue reads them by name, so JS calls them; not wrapped: SuspendError): 1" in text.stdout
    assert "\n    wasm_trace\n" in text.stdout
    assert "needless (wrapped, never suspend): 1: __errno_location; remove them from JSPI_EXPORTS" in text.stdout
    data = document(cli("jspi", wasm, "--glue", JSPI_GLUE, "--format", "json").stdout)
    wraps = data["glue"]["wraps"]
    assert wraps["missing_wraps"] == ["wasm_trace"] and wraps["needless_wraps"] == ["__errno_location"]
    assert sorted(wraps["wrapped"]) == ["__errno_location", "fflush", "php_wasm_init", "wasm_sleep"]
    assert wraps["not_called_from_js"] == []
    assert sorted(data["suspending_imports"]) == sorted(wraps["wrapped_imports"])
    # on V8's real JSPI, set up as the glue sets it up: the missing one traps, wrapped it runs
    suspending = wraps["wrapped_imports"]
    assert run_under_jspi(wasm, "wasm_trace", wraps["wrapped"], suspending)["kind"] == "suspend-error"
    assert run_under_jspi(wasm, "wasm_trace", wraps["wrapped"] + wraps["missing_wraps"], suspending)["ok"]
    # an Asyncify build's glue wraps nothing: said, not compared
    other = cli("jspi", wasm, "--glue", ASYNCIFY_GLUE)
    assert "wraps nothing with WebAssembly.promising: it is not a JSPI build's glue" in other.stdout


# --- the table, and names emcc minified ----------------------------------------------------------------

def test_glue_that_never_adds_wasm_functions_to_the_table_means_host_table_module(built: dict[str, Path]) -> None:
    """quickjs_like exports host_callback (it reaches the async import) and its table: if JS may put
    host_callback in the table, `dispatch` can unwind. This glue has no addFunction and no dynamic
    linking: --host-table module, said; the user's --host-table still wins."""
    wasm, glue = built["quickjs"], FIX / "quickjs_0.21.2_debug_asyncify.js"
    proc = cli("analyze", wasm, "--glue", glue)
    assert lines(proc.stdout) == ["host_callback", "call_host"]
    assert "the glue never adds wasm functions to the table" in proc.stderr and "--host-table module" in proc.stderr
    assert "dispatch" in lines(cli("analyze", wasm, "--glue", glue, "--host-table", "sound").stdout)
    assert "dispatch" in lines(cli("analyze", wasm, "--imports", "env.qts_host_call_function").stdout)
    # a glue that adds wasm functions (addFunction, dynamic linking): sound; --host-table module is warned about
    php = cli("analyze", built["plain"], "--glue", ASYNCIFY_GLUE, "--host-table", "module")
    assert "warning: --host-table module, but the glue adds wasm functions to the table" in php.stderr


def wat(tmp_path: Path, text: str) -> Path:
    src, out = tmp_path / "m.wat", tmp_path / "m.wasm"
    src.write_text(text)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out


def test_minified_names_shown_with_their_real_names(tmp_path: Path) -> None:
    """@journeyapps/wa-sqlite's glue (emcc's minifier, no closure): `a.t` is env.ipp_async, export `hb` is
    sqlite3_step; a binary without a name section is shown with them."""
    wasm = wat(tmp_path, """(module
      (import "a" "t" (func $t (param i32) (result i32)))
      (import "a" "b" (func $b (param i32 i32 i32) (result i32)))
      (func (export "hb") (param i32) (result i32) local.get 0 call $t)
      (func (export "df") (param i32) (result i32) local.get 0))""")
    glue = FIX / "wa_sqlite_ja_async.mjs"
    proc = cli("why", wasm, "hb", "--glue", glue)
    assert proc.returncode == 0, proc.stderr
    assert ("wasm-function[2] (sqlite3_step) (exported as hb) must be instrumented:\n"
            "  wasm-function[2] (sqlite3_step) → a.t (env.ipp_async)") in proc.stdout
    data = document(cli("analyze", wasm, "--glue", glue, "--format", "json").stdout)
    assert data["glue"]["real_names"] == {"a.t": "env.ipp_async", "a.b": "env.__syscall_fcntl64",
                                          "wasm-function[2]": "sqlite3_step", "wasm-function[3]": "malloc"}
    assert [a["import"] for a in data["glue"]["async_imports"]] == ["a.t"]


def test_closure_glue_that_lost_the_names_says_it_cannot_select(tmp_path: Path) -> None:
    wasm = wat(tmp_path, """(module
      (import "a" "f" (func $f (result i32)))
      (func (export "w") (result i32) call $f))""")
    proc = cli("analyze", wasm, "--glue", FIX / "quickjs_release_asyncify.mjs", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    glue = document(proc)["glue"]
    assert glue["selection"] == "default" and glue["cannot_select"].startswith("the glue keeps no real name")
    assert ("note: the glue keeps no real name for 1 minified import(s) (a.f; closure): which are async cannot be "
            "read from it; the async imports are chosen as without the glue") in proc.stderr
    assert "whether the glue adds wasm functions to the table cannot be read (closure-compiled): --host-table sound" in proc.stderr
    assert "every import is treated as async" in proc.stderr   # the default, said as always


# --- bad and unknown glue -------------------------------------------------------------------------------

def test_explicit_glue_that_cannot_be_read_is_one_line_and_exit_2(built: dict[str, Path], tmp_path: Path) -> None:
    plain = tmp_path / "plain.js"
    plain.write_text("console.log('hello');\n")
    for glue, words in ((tmp_path / "missing.js", "cannot read the glue"), (tmp_path, "is a directory"),
                        (built["plain"], "is a wasm binary"),
                        (plain, "cannot be read as the JS glue of php_like.wasm: not Emscripten glue"),
                        (FIX / "jspi_run.mjs", "cannot be read as the JS glue of php_like.wasm: not Emscripten glue"),
                        (FIX / "quickjs_0.21.2_debug_asyncify.js", "provides none of the binary's 4 imports")):
        for command in ("analyze", "why", "audit", "jspi"):
            extra = ["lock_file"] if command == "why" else []
            proc = cli(command, built["plain"], *extra, "--glue", glue)
            assert proc.returncode == 2 and proc.stdout == "", (command, glue, proc.stderr)
            assert len(proc.stderr.splitlines()) == 1 and words in proc.stderr, (command, glue, proc.stderr)
            assert "Traceback" not in proc.stderr
    assert cli("analyze", built["plain"], "--glue", plain, "--no-glue").returncode == 2   # argparse: one or the other


def test_found_file_that_is_not_glue_is_ignored_and_said(built: dict[str, Path], tmp_path: Path) -> None:
    wasm = beside(built["plain"], FIX / "jspi_run.mjs", tmp_path / "runner", ".mjs")
    proc = cli("analyze", wasm)
    assert proc.returncode == 0
    assert f"note: ignored {wasm.with_suffix('.mjs')}, found beside php_like.wasm (--glue FILE names the glue): not Emscripten glue" in proc.stderr
    assert lines(proc.stdout) == lines(cli("analyze", built["plain"]).stdout)
    binary = tmp_path / "bin"
    binary.mkdir()
    shutil.copy(built["plain"], binary / "php_like.wasm")
    shutil.copy(built["plain"], binary / "php_like.js")   # a wasm binary under the glue's name
    proc = cli("analyze", binary / "php_like.wasm")
    assert proc.returncode == 0 and "is a wasm binary, not its JS glue" in proc.stderr and "ignored" in proc.stderr


# --- fix -------------------------------------------------------------------------------------------------

def test_fix_takes_the_async_imports_from_the_glue(built: dict[str, Path], tmp_path: Path) -> None:
    """A crash in php_wasm_init: with --wasm, fix adds the functions below it that can reach an async
    import. lock_file reaches one only through js_flock, which the glue (beside the built binary)
    lists and emcc's rules do not."""
    shutil.copy(built["plain"], tmp_path / "pre.wasm")
    out = beside(built["asyncify"], ASYNCIFY_GLUE, tmp_path / "out")
    (tmp_path / "only.list").write_text("")
    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nprint('RuntimeError: unreachable\\n    at php_wasm_init (wasm://wasm/1a2b:wasm-function[9]:0x1f3)')\n"
                     "sys.exit(1)\n")
    base = ["fix", "--list", tmp_path / "only.list", "--build", "true", "--test", f"{sys.executable} {crash}",
            "--wasm", tmp_path / "pre.wasm", "--built", out, "--dry-run"]
    proc = cli(*base)
    assert proc.returncode == 0, proc.stderr
    assert f"reading the JS glue {out.with_suffix('.js')}" in proc.stderr
    added = re.search(r"adding \d+ \(.*?\): (.*)", proc.stderr)
    assert added is not None and "lock_file" in added.group(1).split(", "), proc.stderr
    without = cli(*base, "--no-glue")
    added = re.search(r"adding \d+ \(.*?\): (.*)", without.stderr)
    assert "JS glue" not in without.stderr and added is not None and "lock_file" not in added.group(1).split(", ")
    assert cli("fix", "--list", tmp_path / "only.list", "--build", "true", "--test", "true",
               "--glue", ASYNCIFY_GLUE).returncode == 2


# --- the Python API ----------------------------------------------------------------------------------------

def test_api_takes_the_glue_as_the_cli_does(built: dict[str, Path]) -> None:
    import asyncify_doctor
    from asyncify_doctor.errors import InputError
    wasm = built["plain"]
    listed = asyncify_doctor.analyze(wasm, glue=JSPI_GLUE)
    assert listed.names == lines(cli("analyze", wasm, "--glue", JSPI_GLUE).stdout)
    assert listed.to_json()["glue"]["selection"] == "glue"
    rep = asyncify_doctor.jspi(wasm, glue=JSPI_GLUE).report
    assert rep.glue_wraps is not None and rep.glue_wraps.missing == ("wasm_trace",)
    audit = asyncify_doctor.audit(built["asyncify"], glue=ASYNCIFY_GLUE).report
    assert audit.glue_vs_binary is not None and [m.fix for m in audit.glue_vs_binary.glue_only] == \
        ["wasi_snapshot_preview1.fd_close"]
    with pytest.raises(InputError, match="not Emscripten glue"):
        asyncify_doctor.analyze(wasm, glue=FIX / "jspi_run.mjs")
