"""Opt-in (ASYNCIFY_DOCTOR_SLOW=1): ground truth about real shipped Asyncify builds from npm
(bench/real_binaries.py downloads them into the cache), established WITHOUT asyncify-doctor: a
section reader of our own, `wasm-tools print` bodies, the projects' JS glue and build scripts
(bench/real_binaries.md quotes the flags, with links).

Facts marked `TOOL MUST REPRODUCE` are what `audit X.wasm` with no flags has to answer (issue 13);
the lead adds the assertions about the tool's answers against them.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

import pytest

if not os.environ.get("ASYNCIFY_DOCTOR_SLOW"):
    pytest.skip("real npm builds are opt-in: set ASYNCIFY_DOCTOR_SLOW=1", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
import real_binaries as rb  # noqa: E402

ASYNCIFY = [b.key for b in rb.BUILDS if b.kind == "asyncify"]

# TOOL MUST REPRODUCE: the instrumented set's size (functions that read the data global, helpers
# excluded) and the state/data global indices.
TRUTH = {
    #  key                     state data  instrumented
    "quickjs-release":        (1,   2,    1032),
    "quickjs-debug":          (3,   4,    872),
    "quickjs-ng-release":     (1,   2,    1064),
    "wa-sqlite-1.0.0":        (2,   3,    1156),
    "wa-sqlite-ja":           (2,   3,    2561),
    "wa-sqlite-ja-dynamic":   (271, 272,  3409),   # globals imported: env.__asyncify_state/__asyncify_data
    "wa-sqlite-ja-mc":        (2,   3,    2651),
    "ruby":                   (1,   2,    13632),
    "ruby-debug":             (1,   2,    13632),
}


@functools.lru_cache(maxsize=None)
def facts(key: str) -> rb.Facts:
    return rb.facts(rb.BY_KEY[key])


def roles(f: rb.Facts) -> dict[int, str]:
    return {i: r for r, idxs in f.body.helpers.items() for i in idxs}


@pytest.mark.parametrize("key", ASYNCIFY)
def test_helpers_recognised_by_body(key: str) -> None:
    """One start_unwind (state:=1, data:=param), one start_rewind (state:=2), two identical
    state:=0 bodies (stop_unwind, stop_rewind: never merged by duplicate-function elimination in
    any of these builds), each ending in Binaryen's `data[0] > data[4] -> unreachable` check.
    TOOL MUST REPRODUCE: the helpers and both globals, whatever the export names."""
    f = facts(key)
    state, data, _ = TRUTH[key]
    assert (f.body.state, f.body.data) == (state, data)
    counts = {r: len(v) for r, v in f.body.helpers.items() if r != "get_state"}
    assert counts == {"start_unwind": 1, "start_rewind": 1, "stop": 2}
    stops = f.body.helpers["stop"]
    assert f.body.helper_wat[stops[0]] == f.body.helper_wat[stops[1]]


@pytest.mark.parametrize("key", ASYNCIFY)
def test_helper_names_from_exports_or_glue(key: str) -> None:
    """Which helper is which, independently of the body: the export names when not minified, else
    the glue's `_asyncify_X=wasmExports["k"]` (non-closure glue) — that is the only way to tell the
    two identical stop bodies apart.  Minified builds drop get_state (metadce: the glue never calls
    it); named ones keep it as a plain `global.get $state`."""
    f = facts(key)
    by_index = roles(f)
    exports = {idx: name for name, (kind, idx) in f.module.exports.items() if kind == "func"}
    named = {idx: n[len("asyncify_"):] for idx, n in exports.items() if n.startswith("asyncify_")}
    if not named:
        glue = rb.glue_of(rb.BY_KEY[key]) or ""
        pairs = re.findall(r'_asyncify_(\w+?)=wasmExports\["(\w+)"\]', glue)
        named = {f.module.exports[k][1]: role for role, k in pairs}
        assert "get_state" not in by_index.values() or key.startswith("ruby")
        if not pairs:
            pytest.skip("closure-compiled glue names the helpers only by minified variables")
    assert named, "no helper names found"
    for idx, role in named.items():
        want = "stop" if role.startswith("stop_") else role
        assert by_index.get(idx) == want, (idx, role)


@pytest.mark.parametrize("key", ASYNCIFY)
def test_data_global_readers(key: str) -> None:
    """TOOL MUST REPRODUCE: instrumented = functions reading the data global (helpers excluded)."""
    assert len(facts(key).body.data_readers) == TRUTH[key][2]


@pytest.mark.parametrize("key", ASYNCIFY)
def test_checked_imports_are_what_the_build_gave(key: str) -> None:
    """The imports whose call sites inside instrumented functions are followed by the unwind check
    (`[i32.const K] global.get $state; i32.const 1; i32.eq; br_if`) are exactly the imports the
    build's ASYNCIFY_IMPORTS (+ emcc's additions) name, resolved through the glue for minified
    builds; none for ruby (asyncify-ignore-imports).  Every other import call is unchecked.
    TOOL MUST REPRODUCE: these are the inferred async imports."""
    b = rb.BY_KEY[key]
    f = facts(key)
    checked = {f.module.func_imports[c] for c in f.body.checked if c < len(f.module.func_imports)}
    expected = rb.expected_async_imports(b, f.module)
    if expected is None:
        # wa-sqlite 1.0.0: the closure-compiled glue binds the vfs*/mod* imports to empty
        # placeholders (filled in at run time), so names are not recoverable; a.D is fd_sync (its
        # glue body is Emscripten's fd_sync with Asyncify.handleSleep).  8 imports are checked.
        assert "D:function(a){try{var b=" in (rb.glue_of(b) or "")
        assert "a.D" in checked and len(checked) == 8
        return
    assert checked == expected
    unchecked = {f.module.func_imports[c] for c in f.body.unchecked if c < len(f.module.func_imports)}
    assert not unchecked & expected


@pytest.mark.parametrize("key", ["quickjs-release", "quickjs-ng-release", "wa-sqlite-ja", "wa-sqlite-ja-mc"])
def test_glue_suspends_in_exactly_the_checked_imports(key: str) -> None:
    """Third, JS-side view: the glue's import functions that call handleSleep/handleAsync or are
    marked `.isAsync` are checked imports (the `_async` adapters and fd_sync; the sync twins
    like `ipp` are listed in ASYNCIFY_IMPORTS too, so they are checked without suspending)."""
    b = rb.BY_KEY[key]
    f = facts(key)
    checked = {f.module.func_imports[c] for c in f.body.checked if c < len(f.module.func_imports)}
    suspending = {"a." + k for k in rb.glue_async_keys(rb.glue_of(b) or "")}
    assert suspending and suspending <= checked
    if key.startswith("quickjs"):
        assert suspending == checked


@pytest.mark.parametrize("key", ASYNCIFY)
def test_no_ignore_indirect(key: str) -> None:
    """None of these builds used ignore-indirect: every indirect call in an instrumented function is
    followed by the unwind check (Binaryen's assumption; the tool's `--indirect all`)."""
    f = facts(key)
    assert f.body.checked_indirect > 200 and f.body.unchecked_indirect == 0


def test_asserts_build_guards_uninstrumented_functions() -> None:
    """quickjs-debug has -sASSERTIONS=1 => asyncify-asserts: 217 uninstrumented functions read the
    state (save at entry, `global.get $state; local.get $old; i32.ne; if unreachable` after calls)
    but never the data global; the release builds have none."""
    d = facts("quickjs-debug").body
    assert len(d.state_readers - d.data_readers) == 217
    r = facts("quickjs-release").body
    assert r.state_readers == r.data_readers


def test_dynamic_main_imports_the_globals() -> None:
    """MAIN_MODULE=1 under Emscripten 4.0.9 passes asyncify-relocatable: the state and data globals
    are imports (env.__asyncify_state = global 271, env.__asyncify_data = 272), and the helpers set
    them like any other global."""
    f = facts("wa-sqlite-ja-dynamic")
    g = f.module.global_imports
    assert g.index("env.__asyncify_state") == 271 and g.index("env.__asyncify_data") == 272
    assert "dylink.0" in f.module.customs


RUBY_TOP = {"rb_wasm_swapcontext", "rb_wasm_scan_locals", "_rb_wasm_setjmp_internal", "_rb_wasm_longjmp",
            "rb_wasm_try_catch_loop_run"}
RUBY_BOTTOM = {"rb_abi_lend_object", "rb_abi_guest_rb_abi_value_dtor", "rb_abi_guest_ruby_init",
               "rb_abi_guest_ruby_init_loadpath", "rb_abi_guest_rb_eval_string_protect",
               "rb_abi_guest_rb_funcallv_protect", "rb_abi_guest_rb_intern", "rb_abi_guest_rb_errinfo",
               "rb_abi_guest_rb_clear_errinfo", "rb_abi_guest_rstring_ptr"}


def test_ruby_runtime_calls_follow_binaryens_rule() -> None:
    """CRuby calls the helpers from inside the module.  Binaryen (Asyncify.cpp ModuleAnalyzer scan):
    a caller of start_unwind/stop_rewind can change the state but is the top-most runtime, so it is
    NOT instrumented itself (its callers are); a caller of stop_unwind/start_rewind is the bottom-most
    runtime: not instrumented, and propagation does not enter it.  The binary agrees: none of the 15
    callers reads the data global, while fiber_setcontext (which calls rb_wasm_swapcontext) does.
    TOOL MUST REPRODUCE: no `missing` for these 15 (and the 8 __wasm_export_* + __resource_* callers
    of the bottom-most ones), fiber_setcontext needed."""
    f = facts("ruby-debug")
    names = f.module.names
    by_role: dict[str, set[str]] = {}
    for h, callers in f.body.helper_callers.items():
        by_role.setdefault(roles(f)[h] if roles(f)[h] != "stop" else names[h][len("asyncify_"):], set()).update(
            names[c] for c in callers)
    assert by_role["start_unwind"] | by_role["stop_rewind"] == RUBY_TOP
    assert by_role["stop_unwind"] == by_role["start_rewind"] == RUBY_BOTTOM
    readers = {names[i] for i in f.body.data_readers}
    assert not (RUBY_TOP | RUBY_BOTTOM) & readers
    assert "fiber_setcontext" in readers
    assert not f.body.checked.keys() & set(range(len(f.module.func_imports)))   # ignore-imports


def test_ruby_stripped_equals_named() -> None:
    """ruby.wasm is ruby.debug+stdlib.wasm's code without names (same indices, same readers)."""
    a, b = facts("ruby"), facts("ruby-debug")
    assert not a.module.names and len(b.module.names) == b.module.functions
    assert a.body.data_readers == b.body.data_readers


def test_jspi_build_has_no_asyncify() -> None:
    f = facts("wa-sqlite-ja-jspi")
    assert f.body.helpers == {} and f.body.state is None


# --- the tool's answers against that ground truth (issue 13) -----------------------------------------

@functools.lru_cache(maxsize=None)
def audited(key: str, mode: str) -> dict:
    import json
    import subprocess
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(rb.path_of(rb.BY_KEY[key])),
                           "--format", "json", "--indirect", mode], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("key", ASYNCIFY)
def test_audit_with_no_flags_recognises_every_build(key: str) -> None:
    """`audit X.wasm`, nothing else: the runtime, both globals, the instrumented set and the async
    imports the build was given — equal to the independent facts above, for every build."""
    rep = audited(key, "typed")
    f = facts(key)
    state, data, instrumented = TRUTH[key]
    assert rep["asyncified"] and (rep["state_global"], rep["data_global"]) == (state, data)
    assert rep["instrumented"] == instrumented
    assert {int(i) for i in rep["runtime"]} == set(roles(f))
    checked = {f.module.func_imports[c] for c in f.body.checked if c < len(f.module.func_imports)}
    assert set(rep["async_imports"]) == checked
    assert rep["missing"] == [] and rep["unchecked_calls"] == []


@pytest.mark.parametrize("key", ASYNCIFY)
def test_binaryens_own_assumption_reproduces_every_build_exactly(key: str) -> None:
    """Under `--indirect all` (none of these builds used ignore-indirect) what the tool says must be
    instrumented is exactly what Binaryen instrumented: nothing missing, nothing unneeded — ruby's
    internal unwinds (top- and bottom-most runtime) included."""
    rep = audited(key, "all")
    assert (rep["needed"], rep["missing"], rep["unneeded"]) == (TRUTH[key][2], [], [])


def test_ruby_runtime_as_the_tool_sees_it() -> None:
    """The top- and bottom-most runtime the tool finds are exactly the ground truth's 5 and 10."""
    rep = audited("ruby-debug", "typed")
    names = facts("ruby-debug").module.names
    assert {names[i] for i in rep["runtime_calls"]["topmost"]} == RUBY_TOP
    assert {names[i] for i in rep["runtime_calls"]["bottommost"]} == RUBY_BOTTOM
    assert "fiber_setcontext" not in {u["name"] for u in rep["unneeded"]}
