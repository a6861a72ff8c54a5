"""--stats counts are closures' own answers: the per-import figure is the list's size if that import
alone were async, under every --indirect mode (the `all` roots included) and with observed edges —
checked against one closure per import on real binaries and on random call graphs with cycles,
tables and indirect calls."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncify_doctor import accel
from asyncify_doctor.analysis.closure import analyze, import_contributions
from asyncify_doctor.analysis.pipeline import run_analysis
from asyncify_doctor.graph.callgraph import INDIRECT_MODES, CallGraph
from asyncify_doctor.decode import decode
from asyncify_doctor.commands.demo import demo_wasm
from asyncify_doctor.render.report import stats, stats_text

FIXTURES = Path(__file__).parent / "fixtures" / "src"


def one_closure_per_import(graph: CallGraph, imports: list[int], mode: str, extra: dict | None = None) -> dict[int, int]:
    return {i: len(analyze(graph, [i], mode, extra).members) for i in imports}  # type: ignore[arg-type]


def all_imports(graph: CallGraph) -> list[int]:
    return [f.index for f in graph.module.functions if f.imported]


@pytest.mark.parametrize("mode", INDIRECT_MODES)
def test_per_import_counts_equal_one_closure_each(mode: str, features_wasm: Path, tmp_path: Path) -> None:
    from asyncify_doctor.runtime.toolchain import compile_c
    binaries = [features_wasm, demo_wasm(), compile_c(FIXTURES / "recursion.c", tmp_path / "r.wasm"),
                compile_c(FIXTURES / "vtable.c", tmp_path / "v.wasm")]
    for wasm in binaries:
        g = run_analysis(wasm).graph
        imports = all_imports(g)
        assert import_contributions(g, imports, mode) == one_closure_per_import(g, imports, mode), (wasm, mode)


def random_module(n: int, calls: list[tuple[int, int]], table: list[int], indirect: list[int], imports: int) -> bytes:
    """Functions 0..imports-1 are imports; the rest call each other directly (cycles allowed) and, for
    those in `indirect`, through a table holding `table` (all of one type)."""
    body: dict[int, list[str]] = {f: [] for f in range(imports, imports + n)}
    for a, b in calls:
        body[imports + a % n].append(f"(call {b % (imports + n)})")
    for f in indirect:
        body[imports + f % n].append("(call_indirect (type $t) (i32.const 0))")
    funcs = "\n".join(f"(func (type $t) {' '.join(b)})" for b in body.values())
    elems = " ".join(str(imports + t % n) for t in table)
    imps = "\n".join(f'(import "env" "i{k}" (func (type $t)))' for k in range(imports))
    return wasmtime.wat2wasm(f"(module (type $t (func)) {imps} (table 1 funcref) {funcs} "
                             f"{'(elem (i32.const 0) func ' + elems + ')' if table else ''})")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 25), st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=60),
       st.lists(st.integers(0, 99), max_size=5), st.lists(st.integers(0, 99), max_size=6), st.integers(1, 4),
       st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=4))
def test_random_call_graphs(n: int, calls: list, table: list, indirect: list, imports: int, observed: list) -> None:
    g = CallGraph(decode(random_module(n, calls, table, indirect, imports), "random.wasm"))
    extra: dict[int, set[int]] = {}
    for a, b in observed:   # edges as `trace` adds them: caller → callee, any function
        extra.setdefault(imports + a % n, set()).add(b % (imports + n))
    from asyncify_doctor.analysis import closure as analysis
    for mode in INDIRECT_MODES:
        want, want_extra = (one_closure_per_import(g, list(range(imports)), mode, e) for e in (None, extra))
        assert import_contributions(g, list(range(imports)), mode) == want
        assert import_contributions(g, list(range(imports)), mode, extra) == want_extra
        chunk = analysis.REACHED_BITS_CHUNK
        try:   # the bits taken a few at a time (as past 1,024 imports), the root bit in the last pass
            analysis.REACHED_BITS_CHUNK = 2
            assert import_contributions(g, list(range(imports)), mode, extra) == want_extra
        finally:
            analysis.REACHED_BITS_CHUNK = chunk
        with accel.pure_python():   # and the pure-Python twin agrees
            assert import_contributions(g, list(range(imports)), mode, extra) == want_extra


def test_stats_under_all_count_the_indirect_roots(features_wasm: Path) -> None:
    """`--indirect all` lists every function that reaches an indirect call, whatever the imports:
    those are in each import's figure, and the text says how many."""
    res = run_analysis(features_wasm, ["env.sleep_ms", "env.fetch_value"], "all")
    st_ = stats(res.analysis)
    roots = len(analyze(res.graph, [], "all").members)
    assert roots > 0 and st_["in_every_import_list"] == roots
    for name, n in st_["per_import"].items():
        assert n == len(run_analysis(features_wasm, [name], "all").analysis.members) >= roots
    assert st_["instrumented_by_mode"]["all"] == len(res.analysis.members)
    assert f"({roots} of each are there whatever the imports" in stats_text(st_)


def test_stats_from_the_command_line_in_every_mode(tmp_path: Path) -> None:
    wasm = str(demo_wasm())
    for mode in INDIRECT_MODES:
        proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", wasm, "--imports", "env.*",
                               "--indirect", mode, "--stats", "-o", str(tmp_path / "only.list")],
                              check=True, capture_output=True, text=True)
        for imp in ("env.sleep_ms", "env.fetch_value"):
            alone = run_analysis(wasm, [imp], mode).analysis.members   # type: ignore[arg-type]
            assert f"  {len(alone):7d}  {imp}\n" in proc.stderr + "\n", (mode, proc.stderr)
