"""Binaryen's and Emscripten's rules, as read in their sources: which imports are async (emcc's own
additions, `env.` for bare names, did-you-mean), trampolines as calls back into the table, code that
drives Asyncify itself (asyncify.* imports), and the only/remove/add lists."""
from __future__ import annotations

from pathlib import Path

from asyncify_doctor.analysis.pipeline import run_analysis


def test_bare_import_names_are_env_names_in_emscripten_builds(features_wasm: Path) -> None:
    res = run_analysis(features_wasm, ["sleep_ms", "fetch_*", "no_such_import"], emscripten=True)
    assert [res.module.functions[i].import_key for i in res.selection.functions] == ["env.sleep_ms", "env.fetch_value"]
    assert res.selection.unmatched == ["no_such_import"]


def test_bare_names_match_nothing_outside_emscripten_and_get_a_suggestion(features_wasm: Path) -> None:
    """Binaryen matches `module.name` whole: `sleep_ms` alone matches no import."""
    res = run_analysis(features_wasm, ["sleep_ms", "env.fetch_valeu"], emscripten=False)
    assert res.selection.functions == []
    assert res.selection.suggestions == {"sleep_ms": ["env.sleep_ms"], "env.fetch_valeu": ["env.fetch_value"]}


# --- trampolines: invoke_X re-enters the table functions of signature X ------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify  # noqa: E402
from asyncify_doctor.runtime.host.node_host import find_node  # noqa: E402
from asyncify_doctor.runtime.toolchain import compile_c  # noqa: E402
from proof import parse_expect  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
JUMPS = FIXTURES / "trampolines" / "jumps.c"
HOST = FIXTURES / "triage" / "host.mjs"
PASS_IMPORTS = ("env.sleep_ms", "env.fetch_value", "env.invoke_*")   # what emcc hands Binaryen


def old_model(block: str) -> set[str]:
    return set(next(line for line in block.splitlines() if "old-model:" in line).split(":", 1)[1].split())


@pytest.fixture(scope="module")
def jumps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_c(JUMPS, tmp_path_factory.mktemp("jumps") / "jumps.wasm")


def run_node(wasm: Path) -> dict:
    proc = subprocess.run([find_node(), str(HOST), str(wasm), "run"], capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout)


def test_typed_trampolines_give_the_exact_list_and_the_old_model_over_approximates(jumps: Path, tmp_path: Path) -> None:
    exp = parse_expect(JUMPS)
    imports = ["env.sleep_ms", "env.fetch_value", "env.invoke_*"]
    typed = run_analysis(jumps, imports)
    assert set(typed.analysis.names()) == exp.instrument
    names = {jumps_key(typed, f) for f in typed.selection.listed_trampolines if typed.analysis.reached(f)}
    assert names == {"env.invoke_vi"}            # the one the build must keep as an async import
    old = run_analysis(jumps, imports, trampolines="async")
    assert set(old.analysis.names()) == old_model(JUMPS.read_text()) > exp.instrument
    for listed in (exp.instrument, old_model(JUMPS.read_text())):   # both lists run on node, through the trampoline
        out = tmp_path / "built.wasm"
        out.write_bytes(asyncify(jumps.read_bytes(), AsyncifyOptions(onlylist=tuple(sorted(listed)), imports=PASS_IMPORTS)))
        assert run_node(out) == {"ok": True, "value": exp.exports["run"], "suspensions": exp.suspensions["run"],
                                 "prints": exp.prints["run"]}
    out.write_bytes(asyncify(jumps.read_bytes(), AsyncifyOptions(onlylist=tuple(sorted(exp.instrument - {"protected_fetch"})),
                                                                 imports=PASS_IMPORTS)))
    assert not run_node(out)["ok"]                # the typed list is minimal: its trampoline caller is needed


def jumps_key(res, f: int) -> str:  # noqa: ANN001
    return res.module.functions[f].import_key


def test_audit_says_which_trampolines_the_build_took_as_async_for_nothing(jumps: Path, tmp_path: Path) -> None:
    exp = parse_expect(JUMPS)
    out = tmp_path / "old.wasm"
    out.write_bytes(asyncify(jumps.read_bytes(), AsyncifyOptions(onlylist=tuple(sorted(old_model(JUMPS.read_text()))),
                                                                 imports=PASS_IMPORTS)))
    rep = json.loads(subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(out), "--format", "json"],
                                    capture_output=True, text=True).stdout)
    assert rep["missing"] == [] and [u["name"] for u in rep["unneeded"]] == ["protected_parse"]
    assert rep["trampolines"]["env.invoke_vi"].startswith("needed")
    assert "no table function" in rep["trampolines"]["env.invoke_ii"]
    assert run_node(out)["value"] == exp.exports["run"]


# --- Emscripten's own imports, and the maintainer's update loop ------------------------------------

def test_emscripten_adds_its_own_async_imports_and_names_them(tmp_path: Path) -> None:
    """An EM_ASYNC_JS import (`__asyncjs__*`) and emscripten_sleep are async in an Emscripten build
    though the user's list never names them; `--no-emscripten` turns the rules off."""
    src = tmp_path / "em.c"
    src.write_text('''#include "%s"
__attribute__((import_module("env"), import_name("__asyncjs__load_url"))) int load_url(int);
__attribute__((import_module("env"), import_name("emscripten_sleep"))) void emscripten_sleep(int);
KEEP int fetch_page(int u) { return load_url(u); }
KEEP void wait_a_bit(void) { emscripten_sleep(5); }
KEEP int plain(int x) { return x + 1; }
EXPORT(run) int run(void) { wait_a_bit(); return fetch_page(plain(1)); }
''' % (FIXTURES / "src" / "fixture.h"))
    wasm = compile_c(src, tmp_path / "em.wasm")
    res = run_analysis(wasm, ["sleep_ms"])
    assert res.selection.emscripten and set(res.analysis.names()) == {"fetch_page", "wait_a_bit", "run"}
    assert {k for k in res.selection.added} == {"env.__asyncjs__*", "*.emscripten_sleep"}
    off = run_analysis(wasm, ["sleep_ms"], emscripten=False)
    assert off.analysis.names() == [] and off.selection.unmatched == ["sleep_ms"]
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", "_asyncjs__load_url",
                           "--imports", "emscripten_sleep"], capture_output=True, text=True)
    assert "did you mean env.__asyncjs__load_url" in proc.stderr and "emcc also makes these imports async" in proc.stderr
    alone = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", "_asyncjs__load_url"],
                           capture_output=True, text=True)   # the user's patterns select nothing: a typo, refused
    assert alone.returncode == 2 and alone.stdout == "" and alone.stderr.count("\n") == 1
    assert "did you mean env.__asyncjs__load_url" in alone.stderr and "only the imports emcc makes async" in alone.stderr


def test_current_and_update_keep_the_users_layout(features_wasm: Path, tmp_path: Path) -> None:
    res = run_analysis(features_wasm, ["env.sleep_ms", "env.fetch_value"])
    want = res.analysis.names()
    spare = next(f.name for f in res.module.functions if not f.imported and f.name not in want and f.has_name)
    listfile = tmp_path / "only.list"
    kept, dropped = want[1:], want[0]
    listfile.write_text("# hand-kept, do not sort\n" + "\n".join(reversed(kept)) + "\nno_such_function\n"
                        + f"\n# extra\n{spare}\n")
    cmd = [sys.executable, "-m", "asyncify_doctor", "analyze", str(features_wasm), "--imports",
           "env.sleep_ms,env.fetch_value", "--current", str(listfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1 and f"to add (can be on the stack at an async import, not in the list): 1\n  {dropped}" in proc.stdout
    assert "no_such_function" in proc.stdout and "can go (never on the stack at an async import): 1" in proc.stdout
    proc = subprocess.run(cmd + ["--update"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = listfile.read_text()
    assert text.startswith("# hand-kept, do not sort\n" + "\n".join(reversed(kept)) + "\nno_such_function\n")
    assert text.rstrip().endswith(dropped) and "# extra" in text and spare not in text.split()
    assert (tmp_path / "only.list.bak").exists()
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and "0 to add" in again.stdout


# --- Binaryen's only/remove/add lists ---------------------------------------------------------------

from asyncify_doctor.analysis.binaryen_lists import BinaryenLists, instrumented_by_binaryen  # noqa: E402
from asyncify_doctor.graph.callgraph import CallGraph  # noqa: E402
from asyncify_doctor.decode import decode  # noqa: E402
from asyncify_doctor.analysis.recognize import recognize, runtime_calls  # noqa: E402
from proof import EXPECTS, SRC  # noqa: E402

LIST_CASES = [   # (fixture, lists): each run through the real pass and simulated
    ("direct_chain", BinaryenLists(remove=["pause"])),
    ("direct_chain", BinaryenLists(remove=["read_*"])),                  # a wildcard: read_value
    ("direct_chain", BinaryenLists(add=["checksum"])),
    ("direct_chain", BinaryenLists(add=["scale"], propagate_add=True)),  # scale's callers join
    ("table_types", BinaryenLists(remove=["call_unary"])),
    ("coroutines", BinaryenLists(remove=["ping"])),
]


@pytest.mark.parametrize("backend", ["libbinaryen", "wasm-opt"])
@pytest.mark.parametrize("name, lists", LIST_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LIST_CASES)])
def test_binaryen_lists_simulated_exactly(name: str, lists: BinaryenLists, backend: str, tmp_path: Path) -> None:
    """What `binaryen_lists` says Binaryen instruments for a remove/add list is what it instruments
    (default indirect rule, every import of the fixture's pass async)."""
    src = FIXTURES / "runtime" / "coroutines.c" if name == "coroutines" else SRC / f"{name}.c"
    wasm = compile_c(src, tmp_path / f"{name}.wasm").read_bytes()
    imports = ("env.__none__",) if name == "coroutines" else ("env.sleep_ms", "env.fetch_value")
    opts = AsyncifyOptions(imports=imports, removelist=tuple(lists.remove) if lists.remove else None,
                           addlist=tuple(lists.add) if lists.add else None, propagate_addlist=lists.propagate_add)
    out = decode(asyncify(wasm, opts, backend))
    got = {out.functions[f].name for f in recognize(CallGraph(out)).instrumented}
    g = CallGraph(decode(wasm))
    async_imports = [f.index for f in g.module.functions if f.import_key in imports]
    want = instrumented_by_binaryen(g, async_imports, True, runtime_calls(g), lists)
    assert got == {g.module.functions[f].name for f in want}


def test_audit_says_which_list_entries_had_no_effect(tmp_path: Path) -> None:
    """(With --imports: removing pause hides env.sleep_ms from the build, see test_recognize.)"""
    exp = EXPECTS["direct_chain"]
    wasm = compile_c(SRC / "direct_chain.c", tmp_path / "dc.wasm").read_bytes()
    built = tmp_path / "built.wasm"
    built.write_bytes(asyncify(wasm, AsyncifyOptions(imports=("env.sleep_ms", "env.fetch_value"),
                                                     removelist=("pause", "checksum"), addlist=("load_config",))))
    (tmp_path / "remove.list").write_text("pause\nchecksum\nscale\nno_such_thing\n")
    (tmp_path / "add.list").write_text("load_config\n")
    rep = json.loads(subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(built), "--format", "json",
                                     "--remove-list", str(tmp_path / "remove.list"), "--add-list",
                                     str(tmp_path / "add.list"), "--imports", "env.sleep_ms,env.fetch_value"],
                                    capture_output=True, text=True).stdout)
    verdicts = {(f["kind"], f["entry"]): f["verdict"] for f in rep["list_findings"]}
    assert verdicts == {("remove", "checksum"): "no-effect", ("remove", "scale"): "no-effect",
                        ("remove", "no_such_thing"): "no-match", ("remove", "pause"): "removed-but-needed",
                        ("add", "load_config"): "no-effect"}
    assert [m["name"] for m in rep["missing"]] == ["pause"] and "pause" in exp.instrument
