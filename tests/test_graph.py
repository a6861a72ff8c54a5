"""Call graph and closure on tests/wat/features.wat, against expectations checked by hand
(see the comments there): typed resolution through tables, table.init, call_ref with subtypes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.analysis import analyze
from asyncify_doctor.api import run_analysis
from asyncify_doctor.callgraph import CallGraph
from asyncify_doctor.decode import read_module
from asyncify_doctor.report import format_chain

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


def test_graph_json_exact_shape(features_wasm: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(features_wasm), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    assert list(data) == ["functions"]
    funcs = data["functions"]
    assert [f["index"] for f in funcs] == list(range(len(funcs)))
    assert all(list(f) == ["index", "name", "imported", "callees"] for f in funcs)
    by_name = {f["name"]: f for f in funcs}
    assert by_name["env.sleep_ms"]["imported"] is True and by_name["run"]["imported"] is False
    assert by_name["dispatch_i2i"]["callees"] == [by_name["suspends"]["index"], by_name["pure"]["index"]]
    assert by_name["run"]["callees"] == sorted(by_name[n]["index"] for n in
                                               ["env.print_i32", "pure", "dispatch_i2i", "dispatch_v2v", "dispatch_t1", "via_ref"])


def test_graph_dot_renders(features_wasm: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(features_wasm), "--format", "dot"],
                         check=True, capture_output=True, text=True).stdout
    assert out.startswith("digraph callgraph {") and '"env.sleep_ms"' in out and "style=dotted" in out


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
    from asyncify_doctor.toolchain import compile_c
    wasm = compile_c(Path(__file__).parent / "fixtures" / "src" / "table_types.c", tmp_path / "t.wasm")
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "graph", str(wasm)], check=True,
                         capture_output=True, text=True).stdout
    funcs = json.loads(out)["functions"]
    name = {f["index"]: f["name"] for f in funcs}
    callees = {f["name"]: sorted(name[c] for c in f["callees"]) for f in funcs}
    assert callees["call_unary"] == ["op_double", "op_fetch"]
    assert callees["call_binary"] == ["op_add", "op_add_fetch"]
    assert callees["call_tick"] == ["tick"]
    assert callees["op_fetch"] == ["env.fetch_value", "env.print_i32"]
    assert callees["run"] == ["call_binary", "call_tick", "call_unary", "env.print_i32"]
