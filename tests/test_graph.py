"""Call graph and closure on tests/wat/features.wat, against expectations checked by hand
(see the comments there): typed resolution through tables, table.init, call_ref with subtypes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.analysis.closure import analyze
from asyncify_doctor.analysis.pipeline import run_analysis
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.decode import read_module
from asyncify_doctor.render.report import format_chain

ASYNC = ["env.sleep_ms", "env.fetch_value"]


def idx(m, *names: str) -> list[int]:
    return sorted(m.function_named(n).index for n in names)


@pytest.fixture(scope="module")
def graph(features_wasm: Path) -> CallGraph:
    return CallGraph(read_module(features_wasm))


def callees(g: CallGraph, name: str, mode: str = "typed") -> list[str]:
    return [g.module.functions[c].name for c in g.callees(g.module.function_named(name).index, mode)]


def test_call_indirect_resolves_by_type_and_table(graph: CallGraph) -> None:
    assert callees(graph, "dispatch_i2i") == ["suspends", "pure"]          # not pair_fn (i32,i32) nor no_args ()
    assert callees(graph, "dispatch_v2v") == ["no_args"]
    assert callees(graph, "tail_indirect") == ["suspends", "pure"]


def test_table_init_and_exported_table(graph: CallGraph) -> None:
    # table 1 gets $late by table.init, is grown (so any address-taken function may land there) and exported
    assert callees(graph, "dispatch_t1") == ["suspends", "pure", "late", "via_global"]


def test_call_ref_includes_declared_subtypes(graph: CallGraph) -> None:
    assert callees(graph, "via_ref") == ["base_impl", "derived_impl"]
    assert callees(graph, "globals") == ["suspends", "pure", "late", "via_global"]


def test_never_referenced_function_is_never_an_indirect_target(graph: CallGraph) -> None:
    everywhere = {c for f in range(graph.n) for c in graph.callees(f, "typed")}
    assert graph.module.function_named("never_referenced").index not in everywhere


def test_closure_in_three_modes(graph: CallGraph) -> None:
    m = graph.module
    imports = idx(m, "sleep_ms", "fetch_value")
    direct = {"suspends", "pair_fn", "no_args", "late", "via_global", "derived_impl", "never_referenced",
              "tail", "legacy_delegate", "new_eh"}
    indirect = {"dispatch_i2i", "dispatch_v2v", "dispatch_t1", "via_ref", "tail_indirect", "globals"}
    typed = set(analyze(graph, imports, "typed").names())
    assert typed == direct | indirect | {"run"}
    assert set(analyze(graph, imports, "ignore").names()) == direct
    assert set(analyze(graph, imports, "all").names()) == direct | indirect | {"run"}
    assert "pure" not in typed and "base_impl" not in typed and "legacy_eh" not in typed


def test_witness_chain_is_shortest_and_readable(features_wasm: Path) -> None:
    res = run_analysis(features_wasm, ASYNC)
    run = res.module.function_named("run").index
    text = format_chain(res.analysis, res.analysis.chain(run))
    assert text == "run → dispatch_i2i → (indirect via type (i32) -> i32, table 0) suspends → env.sleep_ms"


def expanded_callees(data: dict) -> dict[int, list[int]]:
    """What each function may call per `graph --format json`: its direct callees and every target of
    each indirect site it uses."""
    targets = {s["site"]: s["targets"] for s in data["indirect_sites"]}
    return {f["index"]: sorted({*f["callees"], *(t for k in f["indirect"] for t in targets[k])}) for f in data["functions"]}


def test_graph_json_exact_shape(features_wasm: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(features_wasm), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    assert list(data) == ["schema", "tool", "mode", "functions", "indirect_sites", "entry_points"] and data["mode"] == "typed"
    assert data["schema"] == "asyncify-doctor/graph/1"
    funcs = data["functions"]
    assert [f["index"] for f in funcs] == list(range(len(funcs)))
    assert all(list(f) == ["index", "name", "imported", "entry", "callees", "indirect"] for f in funcs)
    by_name = {f["name"]: f for f in funcs}
    idx = {name: f["index"] for name, f in by_name.items()}
    assert by_name["env.sleep_ms"]["imported"] is True and by_name["run"]["imported"] is False
    sites = {s["site"]: s for s in data["indirect_sites"]}
    assert all(list(s) == ["site", "call", "type", "signature", "table", "targets"] for s in sites.values())
    (k,) = by_name["dispatch_i2i"]["indirect"]
    assert by_name["dispatch_i2i"]["callees"] == [] and sites[k]["call"] == "call_indirect"
    assert (sites[k]["signature"], sites[k]["table"], sites[k]["targets"]) == ("(i32) -> i32", 0, [idx["suspends"], idx["pure"]])
    (k,) = by_name["via_ref"]["indirect"]
    assert sites[k]["call"] == "call_ref" and sites[k]["table"] is None
    calls = expanded_callees(data)
    assert calls[idx["run"]] == sorted(idx[n] for n in ["env.print_i32", "pure", "dispatch_i2i", "dispatch_v2v", "dispatch_t1", "via_ref"])
    graph = CallGraph(read_module(features_wasm))
    assert calls == {f: graph.callees(f) for f in range(graph.n)}     # the same graph as the API's
    entries = {e["name"]: e["reasons"] for e in data["entry_points"]}
    assert entries["run"] == ["export run"] and entries["start"] == ["start"] and "export dispatch" in entries["dispatch_i2i"]
    assert entries["late"] == ["in exported table 1"]          # table.init puts it in the exported table
    assert all(by_name[n]["entry"] for n in entries) and not by_name["never_referenced"]["entry"]


@pytest.mark.parametrize("mode", ["all", "ignore"])
def test_graph_json_in_the_other_modes(mode: str, features_wasm: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(features_wasm), "--indirect", mode, "-o", str(out)],
                   check=True, capture_output=True)
    data = json.loads(out.read_text())
    graph = CallGraph(read_module(features_wasm))
    assert data["mode"] == mode and expanded_callees(data) == {f: graph.callees(f, mode) for f in range(graph.n)}
    assert len(data["indirect_sites"]) == (1 if mode == "all" else 0)


def test_graph_dot_renders(features_wasm: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(features_wasm), "--format", "dot"],
                         check=True, capture_output=True, text=True).stdout
    assert out.startswith("digraph callgraph {") and '"env.sleep_ms"' in out and "style=dotted" in out
    m = read_module(features_wasm)
    run, dispatch = m.function_named("run").index, m.function_named("dispatch_i2i").index
    assert f'host -> f{run} [style=dashed, tooltip="export run"];' in out and f"  f{run} [label=\"run\", style=bold];" in out
    assert f"  f{run} -> f{dispatch};" in out and '[label="call_indirect (i32) -> i32, table 0", shape=ellipse];' in out


@pytest.mark.parametrize("fmt", ["list", "emscripten", "binaryen", "json"])
def test_every_output_format_round_trips(fmt: str, features_wasm: Path, tmp_path: Path) -> None:
    from asyncify_doctor.lists import entry_matches, read_list
    out = tmp_path / f"only.{fmt}"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(features_wasm), "--imports",
                    ",".join(ASYNC), "--format", fmt, "-o", str(out)], check=True, capture_output=True)
    want = run_analysis(features_wasm, ASYNC).analysis.names()
    got = read_list(out).entries
    assert len(got) == len(want) and all(entry_matches(e, n) for e, n in zip(got, want))


def test_stats_show_three_modes_and_imports(features_wasm: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(features_wasm), "--imports",
                           ",".join(ASYNC), "--stats", "-o", str(tmp_path / "only.list")], check=True, capture_output=True, text=True)
    assert "by indirect mode:  typed: 17   all: 17   ignore: 10" in proc.stderr
    assert "env.sleep_ms" in proc.stderr and "env.fetch_value" in proc.stderr


def test_no_imports_means_all_with_a_note(features_wasm: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(features_wasm)],
                          check=True, capture_output=True, text=True)
    assert "every import is treated as async" in proc.stderr and "env.sleep_ms (" in proc.stderr


def test_graph_json_of_a_clang_built_fixture(tmp_path: Path) -> None:
    """tests/fixtures/src/table_types.c, by hand: each call_indirect reaches the table entries of its type only."""
    from asyncify_doctor.runtime.toolchain import compile_c
    wasm = compile_c(Path(__file__).parent / "fixtures" / "src" / "table_types.c", tmp_path / "t.wasm")
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(wasm)], check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out)
    name = {f["index"]: f["name"] for f in data["functions"]}
    callees = {name[f]: sorted(name[c] for c in cs) for f, cs in expanded_callees(data).items()}
    assert callees["call_unary"] == ["op_double", "op_fetch"]
    assert callees["call_binary"] == ["op_add", "op_add_fetch"]
    assert callees["call_tick"] == ["tick"]
    assert callees["op_fetch"] == ["env.fetch_value", "env.print_i32"]
    assert callees["run"] == ["call_binary", "call_tick", "call_unary", "env.print_i32"]


# --- funcref-producing constant expressions (tests/wat/funcref_exprs.wat) ---------------------------

FORMS = {  # export → (the function its table holds, the value it returns), checked on wasmtime below
    "call_ref_func": ("via_ref_func", 10), "call_global": ("via_global", 11), "call_chain": ("via_chain", 12),
    "call_host": ("host_choice", 13), "call_host_chain": ("host_choice", 13), "call_init": ("via_table_init", 14),
    "call_init_host": ("host_choice", 13), "call_passive": ("via_passive", 15),
}


@pytest.fixture(scope="module")
def funcref_exprs(wat_dir: Path) -> Path:
    from conftest import build_wat
    return build_wat("funcref_exprs", wat_dir)


def run_funcref_exprs(wasm: Path, export: str) -> tuple[object, list[int]]:
    """Run one export on wasmtime and return (its result or the trap, the env.sleep_ms calls). The host
    gives `env.host_ref` a function it can reach: the `host_choice` export of a first instance of the
    same module (so that function's code is what runs)."""
    import wasmtime
    config = wasmtime.Config()
    config.wasm_function_references = True
    config.wasm_gc = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    module = wasmtime.Module.from_file(engine, str(wasm))
    calls: list[int] = []
    sleep = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), calls.append)
    funcref = wasmtime.GlobalType(wasmtime.ValType.funcref(), False)
    first = wasmtime.Instance(store, module, [sleep, wasmtime.Global(store, funcref, None)])
    host_choice = first.exports(store)["host_choice"]
    inst = wasmtime.Instance(store, module, [sleep, wasmtime.Global(store, funcref, host_choice)])
    try:
        return inst.exports(store)[export](store, 5), calls
    except wasmtime.Trap as exc:
        return exc, calls


@pytest.mark.parametrize("export", sorted(FORMS))
def test_each_funcref_form_really_calls_the_import(export: str, funcref_exprs: Path) -> None:
    """The runtime agrees with the spec reading: each table really holds its function, which suspends."""
    result, calls = run_funcref_exprs(funcref_exprs, export)
    assert result == FORMS[export][1] and calls == [FORMS[export][1]]


def test_ref_null_item_holds_nothing(funcref_exprs: Path) -> None:
    import wasmtime
    result, calls = run_funcref_exprs(funcref_exprs, "call_null")
    assert isinstance(result, wasmtime.Trap) and calls == []
    res = run_analysis(funcref_exprs, ["env.sleep_ms"])
    assert not res.analysis.contains(res.module.function_named("call_null").index)


@pytest.mark.parametrize("export", sorted(FORMS))
def test_analyze_lists_and_why_explains_each_form(export: str, funcref_exprs: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(funcref_exprs), "--imports",
                           "env.sleep_ms"], check=True, capture_output=True, text=True)
    assert export in proc.stdout.splitlines()[1:]
    why = subprocess.run([sys.executable, "-m", "asyncify_doctor", "why", str(funcref_exprs), export, "--imports",
                          "env.sleep_ms"], capture_output=True, text=True)
    assert why.returncode == 0 and f"{export} must be instrumented" in why.stdout
    target = FORMS[export][0]
    graph = CallGraph(read_module(funcref_exprs))
    assert graph.module.function_named(target).index in graph.callees(graph.module.function_named(export).index)
    explanations = {
        "call_ref_func": "element segment 0 puts it there",
        "call_global": "element segment 1 puts global.get 1 there, and global 1 ($g_direct) = ref.func via_global",
        "call_chain": "global 3 ($g_chain) = global.get 2, global 2 ($g_inner) = ref.func via_chain",
        "call_host": "global 0 ($host_ref) is imported (env.host_ref): the host chooses its value",
        "call_host_chain": "global 4 ($g_host) = global.get 0, global 0 ($host_ref) is imported (env.host_ref)",
        "call_init": "it is the table's initial value (ref.func)",
        "call_init_host": "the table's initial value is global.get 0, and global 0 ($host_ref) is imported",
        "call_passive": "table.init copies in element segment 6, which holds global.get 5, and global 5 ($g_passive) "
                        "= ref.func via_passive",
    }
    assert "\n  where table " in why.stdout and explanations[export] in why.stdout


def test_imported_global_means_any_function_the_host_can_reach(funcref_exprs: Path) -> None:
    """Exported and address-taken functions of the right type; never a function the host cannot name."""
    g = CallGraph(read_module(funcref_exprs), "module")
    m = g.module
    got = {m.functions[c].name for c in g.callees(m.function_named("call_host").index)}
    exported = {e.name for e in m.exports}
    assert {"host_choice", "via_global", "via_chain", "via_passive", "via_ref_func", "via_table_init"} <= got
    assert got <= exported | {"via_global", "via_chain", "via_passive", "via_ref_func", "via_table_init"}
    assert g.host_gives_functions and m.function_named("host_choice").index in g.address_taken


# --- newer proposals: shared-everything threads, custom descriptors and exact types -------------------

def test_shared_types_are_their_own_types(wat_dir: Path) -> None:
    """call_ref of a shared type reaches address-taken shared functions of it, never the unshared function
    with the same signature; the unshared call_indirect, the reverse."""
    from conftest import build_wat
    g = CallGraph(read_module(build_wat("shared_everything", wat_dir)))
    assert callees(g, "s_dispatch") == ["s_suspends", "s_pure", "s_late", "s_dispatch"]
    assert callees(g, "u_dispatch") == ["u_same"]
    m = g.module
    assert [t.shared for t in m.tables] == [True, True, False, True] and m.tables[0].import_key == "env.shared_table"
    assert [(gl.shared, gl.mutable) for gl in m.globals] == [(True, False), (True, True), (True, False)]
    assert str(m.tables[0].elem_type) == "(shared funcref)" and m.types[0].shared and not m.types[1].shared
    res = run_analysis(m, ["env.sleep_ms"])
    assert set(res.analysis.names()) == {"s_suspends", "s_void", "s_late", "s_dispatch"}


def test_exact_types_and_descriptors(wat_dir: Path) -> None:
    from conftest import build_wat
    g = CallGraph(read_module(build_wat("custom_descriptors", wat_dir)))
    m = g.module
    assert callees(g, "dispatch_exact") == ["exact_user"]        # not inexact_user: exactness is identity
    assert callees(g, "dispatch_inexact") == ["inexact_user"]
    assert callees(g, "call_method") == ["method_sleeps", "method_pure"]
    assert (m.types[1].descriptor, m.types[2].describes) == (2, 1)
    assert str(m.types[3].params[0]) == "(ref null (exact 1))"
    assert m.functions[1].import_key == "env.fetch_value"       # an exact function import (kind 0x20)
    res = run_analysis(m, ["env.sleep_ms", "env.fetch_value"])
    assert set(res.analysis.names()) == {"method_sleeps", "exact_user", "call_method", "dispatch_exact",
                                         "wasm-function[11]"}


# --- entry points (issue 13, item 6) --------------------------------------------------------------

ENTRIES = {"main": ["export main"], "in_imported_table": ["in imported table 0"],
           "in_exported_table": ["in exported table 1"], "in_global": ["held by exported global gref"],
           "init": ["start"]}


def test_graph_marks_every_way_the_host_can_enter(wat_dir: Path) -> None:
    from conftest import build_wat
    wasm = build_wat("entry_points", wat_dir)
    data = json.loads(subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(wasm)], check=True,
                                     capture_output=True, text=True).stdout)
    assert {e["name"]: e["reasons"] for e in data["entry_points"]} == ENTRIES
    callees = expanded_callees(data)
    name = {f["index"]: f["name"] for f in data["functions"]}
    seen, work = set(), [e["index"] for e in data["entry_points"]]
    while work:
        f = work.pop()
        if f not in seen:
            seen.add(f)
            work += callees[f]
    assert sorted(name[f] for f in seen) == sorted([*ENTRIES, "env.mark", "in_private_table", "callee"])


def test_the_host_really_calls_each_entry_point(wat_dir: Path) -> None:
    """On wasmtime the host reaches each marked function (and only those need marking): the start
    function runs at instantiation, the export by name, the others through the imported table, the
    exported table and the exported global."""
    import wasmtime
    from conftest import build_wat
    store = wasmtime.Store()
    module = wasmtime.Module.from_file(store.engine, str(build_wat("entry_points", wat_dir)))
    marks: list[int] = []
    mark = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), marks.append)
    itable = wasmtime.Table(store, wasmtime.TableType(wasmtime.ValType.funcref(), wasmtime.Limits(1, None)), None)
    inst = wasmtime.Instance(store, module, [mark, itable])
    exports = inst.exports(store)
    assert marks == [8]                                    # init, the start function
    exports["main"](store)
    itable.get(store, 0)(store)
    exports["etable"].get(store, 0)(store)
    exports["gref"].value(store)(store)
    assert marks == [8, 1, 5, 2, 6, 3, 4]                  # 7 ($never) never runs


def test_third_party_callgraph_benchmark_is_sound() -> None:
    """The 24 microbenchmarks of the ISSTA'23 study "That's a Tough Call" (bench/callgraph_soundness.py):
    every function reachable in their precise graphs is reachable from our entry points; with exports
    and start as the only roots, the two host-table programs are not."""
    if not os.environ.get("ASYNCIFY_DOCTOR_SLOW"):
        pytest.skip("downloads the benchmark: set ASYNCIFY_DOCTOR_SLOW=1")
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    import callgraph_soundness
    results = callgraph_soundness.run()
    assert len(results) == 24 and all(r["sound"] for r in results.values()), \
        {k: r["missing"] for k, r in results.items() if not r["sound"]}
    assert sorted(k for k, r in results.items() if not r["sound_exports_start_only"]) == \
        ["host-reachable-table-export", "host-reachable-table-import"]

