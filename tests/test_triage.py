"""The audit's triage: missing functions grouped by frontier and ranked by evidence, on real asyncified
builds. The fixture tests/fixtures/triage/frontiers.c is cut in four places (direct calls, an async
import, an `invoke_*` trampoline run by a real JS host, a typed indirect call); every frontier the
triage names is shown to crash on node; the partition and both pull-in counts are checked against a
brute force over every C fixture, every mode and many cut lists; --observed (a real `trace` run)
ranks a frontier first; the text fits on a screen and JSON/SARIF keep every finding."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor import accel
from asyncify_doctor.analysis.pipeline import run_analysis
from asyncify_doctor.analysis.audit import run_audit
from asyncify_doctor.render.audit import report_json, report_sarif, report_text
from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
from asyncify_doctor.runtime.host.node_host import find_node
from asyncify_doctor.render.report import format_chain
from asyncify_doctor.runtime.toolchain import build_all, compile_c
from asyncify_doctor.render.report import chain_parts
from asyncify_doctor.analysis.triage import EVIDENCE, triage
from proof import ASYNC, EXPECTS, SRC, parse_expect

TRIAGE = Path(__file__).parent / "fixtures" / "triage"
HOST = TRIAGE / "host.mjs"
IMPORTS = ASYNC + ("env.invoke_vi",)   # invoke_vi listed as async, as PHP-wasm lists its invoke_*
FRONTIERS = parse_expect(TRIAGE / "frontiers.c")


def cut_list(source: Path) -> tuple[str, ...]:
    """The ` * CUT: a b c` line of a fixture: the list its test build was asyncified with."""
    line = next(ln for ln in source.read_text().splitlines() if ln.strip(" *").startswith("CUT:"))
    return tuple(line.strip(" *").removeprefix("CUT:").split())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(TRIAGE, tmp_path_factory.mktemp("triage-fixtures"))


def asyncify_with(wasm: Path, onlylist: tuple[str, ...], tag: str, imports: tuple[str, ...] = IMPORTS) -> Path:
    out = wasm.with_name(f"{wasm.stem}.{tag}.wasm")
    out.write_bytes(asyncify(wasm.read_bytes(), AsyncifyOptions(onlylist=onlylist, imports=imports)))
    return out


@pytest.fixture(scope="module")
def cut(built: dict[str, Path]) -> Path:
    return asyncify_with(built["frontiers"], cut_list(TRIAGE / "frontiers.c"), "cut")


def run_host(wasm: Path, export: str) -> dict:
    proc = subprocess.run([find_node(), str(HOST), str(wasm), export], capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout)


def audit_of(wasm: Path, mode: str = "typed", imports: tuple[str, ...] = IMPORTS, observed: list[dict] | None = None):
    return run_audit(wasm, list(imports), mode, observed=observed)  # type: ignore[arg-type]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *args], capture_output=True, text=True)


def names(module, fs) -> list[str]:  # noqa: ANN001
    return [module.functions[f].name for f in fs]


# --- the fixture: four frontiers, each kind of evidence ---------------------------------------------

def test_groups_of_the_cut_fixture(cut: Path) -> None:
    rep = audit_of(cut)
    tri = triage(rep.analysis, [f.function for f in rep.missing])
    m, an = rep.analysis.module, rep.analysis
    got = [(g.rank, g.name, g.evidence, names(m, g.members), g.only_through, g.through, format_chain(an, list(g.chain)))
           for g in tri.groups]
    assert got == [
        (1, "load", "direct", ["load", "load_all", "summary", "both"], 3, 5, "load → fetch_twice → env.fetch_value"),
        (2, "nap", "direct", ["nap", "idle", "run"], 2, 3, "nap → env.sleep_ms"),
        (3, "guarded", "trampoline", ["guarded", "retry"], 2, 3,
         "guarded → env.invoke_vi → (re-entered through env.invoke_vi: a table function (i32)) step → env.sleep_ms"),
        (4, "apply", "indirect", ["apply", "only_apply"], 2, 4,
         "apply → (indirect via type (i32) -> i32, table 0) op_fetch → env.fetch_value"),
    ]
    assert sorted(tri.group_of) == sorted(f.function for f in rep.missing)
    assert all(g.body_bytes == sum(m.body_size(f) for f in g.members) > 0 for g in tri.groups)
    by_import = {m.functions[t].import_key: v for t, v in tri.by_target().items()}
    assert by_import == {"env.fetch_value": (2, 6), "env.sleep_ms": (2, 5)}   # invoke_vi re-enters step → sleep_ms
    assert tri.by_evidence() == {"observed": (0, 0), "direct": (2, 7), "trampoline": (1, 2), "indirect": (1, 2)}


def test_ignore_mode_drops_the_indirect_frontier(cut: Path) -> None:
    """Under --indirect ignore `apply` is not needed, and `both` then reaches the async side only
    through `load`: load's only-through count grows by one."""
    rep = audit_of(cut, "ignore")
    tri = triage(rep.analysis, [f.function for f in rep.missing])
    assert [(g.name, g.evidence, g.only_through) for g in tri.groups] == \
        [("load", "direct", 4), ("nap", "direct", 2), ("guarded", "trampoline", 2)]


def test_the_fixture_runs_and_every_frontier_it_names_is_a_real_crash(built: dict[str, Path], cut: Path) -> None:
    """The full list (what `analyze` gives) runs on node through the real invoke_vi trampoline; the cut
    build crashes; and dropping any one frontier from the full list crashes too."""
    plain = run_host(built["frontiers"], "run")
    assert plain == {"ok": True, "value": FRONTIERS.exports["run"], "suspensions": 0, "prints": FRONTIERS.prints["run"]}
    an = run_analysis(built["frontiers"], list(IMPORTS)).analysis
    assert set(an.names()) == FRONTIERS.instrument
    full = tuple(sorted(FRONTIERS.instrument))
    ok = asyncify_with(built["frontiers"], full, "full")
    for export, value in FRONTIERS.exports.items():
        assert run_host(ok, export) == {"ok": True, "value": value, "suspensions": FRONTIERS.suspensions[export],
                                        "prints": FRONTIERS.prints[export]}
    assert not run_host(cut, "run")["ok"]
    rep = audit_of(cut)
    for g in triage(rep.analysis, [f.function for f in rep.missing]).groups:
        broken = asyncify_with(built["frontiers"], tuple(n for n in full if n != g.name), f"no-{g.name}")
        assert audit_of(broken).missing[0].name == g.name
        res = run_host(broken, "run")
        assert not res["ok"], f"dropping the frontier {g.name} should break run: {res}"


def test_observed_frontier_ranks_first(built: dict[str, Path], cut: Path, tmp_path: Path) -> None:
    """A real `trace` run of the plain build (only_apply: apply → op_fetch → fetch_value, through the
    function pointer) puts `apply`, statically the weakest group, first."""
    stacks = tmp_path / "stacks.json"
    proc = cli("trace", "--imports", ",".join(ASYNC), "-o", str(stacks), "--",
               find_node(), str(HOST), str(built["frontiers"]), "only_apply")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(stacks.read_text())
    assert [[f["name"] for f in s["frames"]] for s in doc["stacks"]] == [["op_fetch", "apply", "only_apply"]]
    out = cli("audit", str(cut), "--imports", ",".join(IMPORTS), "--observed", str(stacks), "--format", "json")
    assert out.returncode == 1, out.stderr
    rep = json.loads(out.stdout)
    first = rep["groups"][0]
    assert (first["frontier"], first["evidence"]) == ("apply", "observed")
    assert first["observed_in"] and "only_apply" in first["observed_in"]
    assert [g["frontier"] for g in rep["groups"]] == ["apply", "load", "nap", "guarded"]
    text = cli("audit", str(cut), "--imports", ",".join(IMPORTS), "--observed", str(stacks)).stdout
    assert re.search(r"^\s+1 observed .* apply → \(indirect via type \(i32\) -> i32, table 0\) op_fetch → env\.fetch_value"
                     r"\s+\[seen in stacks\.json: .* only_apply\]$", text, re.M), text


# --- the definitions, checked by brute force on every fixture ---------------------------------------

def successors(graph, f: int, mode: str) -> set[int]:  # noqa: ANN001
    """Calls out of f as the analysis counts them, written out independently of triage.py."""
    if f in graph.trampolines:   # invoke_X: back into the table functions of signature X
        return set(graph.site_targets(graph.trampolines[f]))
    out = set(graph.direct[f]) if f < graph.n and not graph.module.functions[f].imported else set()
    if mode == "typed":
        for s in graph.indirect_sites.get(f, ()):
            out.update(graph.site_targets(s))
    return out


def brute(rep, mode: str) -> tuple[dict[int, int], dict[int, int], set[int]]:  # noqa: ANN001
    """For every missing function F: how many missing functions reach an async import only through F,
    and through F at all; plus the functions the definition calls frontiers."""
    an = rep.analysis
    g = an.graph
    missing = {f.function for f in rep.missing}
    defined = [f.index for f in g.module.functions if not f.imported]
    sinks = set(an.async_imports) | ({f for f in defined if g.has_indirect(f)} if mode == "all" else set())
    calls = {f: successors(g, f, mode) for f in defined + list(g.trampolines)}

    def reaches(start: int, goals: set[int], removed: int | None = None) -> bool:
        seen, work = {start}, [start]
        while work:
            f = work.pop()
            if f == removed:
                continue
            if f in goals:
                return True
            for c in calls.get(f, ()):
                if c not in seen:
                    seen.add(c)
                    work.append(c)
        return False

    only = {F: sum(1 for m in missing if not reaches(m, sinks, removed=F)) for F in missing}
    through = {F: sum(1 for m in missing if reaches(m, {F})) for F in missing}
    covered = {f for f in an.hops if f not in missing}
    frontiers = {f for f in missing if calls[f] & covered or (mode == "all" and g.has_indirect(f))}
    return only, through, frontiers


def cut_lists(exp_instrument: set[str], seed: str) -> list[tuple[str, ...]]:
    """Every single-function drop from the full list, plus a few random halves (seeded)."""
    full = sorted(exp_instrument)
    rng = random.Random(seed)
    lists = [tuple(n for n in full if n != d) for d in full]
    lists += [tuple(sorted(rng.sample(full, len(full) // 2))) for _ in range(2)]
    return list(dict.fromkeys(lists))


ALL_FIXTURES = [(SRC, name) for name in EXPECTS] + [(TRIAGE, "frontiers")]


@pytest.mark.parametrize("folder, name", ALL_FIXTURES, ids=[n for _, n in ALL_FIXTURES])
def test_partition_and_counts_match_brute_force(folder: Path, name: str, tmp_path: Path) -> None:
    source = folder / f"{name}.c"
    wasm = compile_c(source, tmp_path / f"{name}.wasm")
    exp = parse_expect(source)
    imports = IMPORTS if folder == TRIAGE else ASYNC
    checked = dict.fromkeys(["typed", "all", "ignore"], 0)
    for i, lst in enumerate(cut_lists(exp.instrument, name)):
        cut = asyncify_with(wasm, lst, f"cut{i}", imports)
        for mode in checked:
            rep = audit_of(cut, mode, imports)
            checked[mode] += check_against_brute_force(rep, mode)
            missing = [f.function for f in rep.missing]
            fast = triage(rep.analysis, missing)
            with accel.pure_python():   # the C graph work and its pure-Python twins agree
                assert triage(rep.analysis, missing) == fast
    assert checked["typed"] and checked["all"]


def check_against_brute_force(rep, mode: str) -> int:  # noqa: ANN001
    missing = [f.function for f in rep.missing]
    tri = triage(rep.analysis, missing)
    an = rep.analysis
    # a partition: every missing function in exactly one group, and group_of agrees
    members = [f for g in tri.groups for f in g.members]
    assert sorted(members) == sorted(missing) and len(members) == len(set(members))
    assert all(tri.groups[tri.group_of[f]].frontier == g.frontier for g in tri.groups for f in g.members)
    only, through, frontiers = brute(rep, mode)
    for g in tri.groups:
        assert g.frontier in frontiers, f"{g.name} calls nothing covered"
        assert g.members[0] == g.frontier
        for f in g.members:   # the frontier is the last missing function on each member's chain
            chain = [s.function for s in an.chain(f)]
            assert g.frontier in chain and not set(chain[chain.index(g.frontier) + 1:]) & set(missing)
        assert (g.only_through, g.through) == (only[g.frontier], through[g.frontier]), g.name
        assert g.chain[0].function == g.frontier and g.target in set(an.async_imports) | set(an.members)
        assert " → ".join(chain_parts(an, g.chain)) == format_chain(an, list(g.chain))
    ranks = [(EVIDENCE.index(g.evidence), -g.only_through, -g.through) for g in tri.groups]
    assert ranks == sorted(ranks) and [g.rank for g in tri.groups] == list(range(1, len(tri.groups) + 1))
    return len(tri.groups)


# --- output -----------------------------------------------------------------------------------------

def many_frontiers_source(n: int) -> str:
    """n frontiers, each a function whose callee (kept in the list) suspends."""
    lines = ['#include "fixture.h"']
    for i in range(n):
        lines.append(f"KEEP int leaf{i}(int k) {{ return fetch_value(k + {i}); }}")
        lines.append(f"KEEP int front{i}(int k) {{ print_i32({i}); return leaf{i}(k); }}")
    lines.append("EXPORT(run) int run(void) { return " + " + ".join(f"front{i}(1)" for i in range(n)) + "; }")
    return "\n".join(lines) + "\n"


def test_text_fits_on_a_screen_and_json_keeps_everything(tmp_path: Path) -> None:
    n = 60
    src = tmp_path / "many_frontiers.c"
    src.write_text(many_frontiers_source(n))
    wasm = compile_c(src, tmp_path / "many.wasm", [f"-I{SRC}"])   # fixture.h
    cut = asyncify_with(wasm, tuple(f"leaf{i}" for i in range(n)), "cut", ("env.fetch_value",))
    text = cli("audit", str(cut), "--imports", "env.fetch_value")
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert len(lines) <= 30 and max(map(len, lines[1:])) <= 120, text.stdout   # lines[0] names the file
    assert f"in {n} group(s)" in text.stdout and f"… {n - 10} more group(s)" in text.stdout and "--top 0" in text.stdout
    every = cli("audit", str(cut), "--imports", "env.fetch_value", "--top", "0").stdout
    assert sum(1 for ln in every.splitlines() if re.match(r"\s+\d+ direct ", ln)) == n
    rep = json.loads(cli("audit", str(cut), "--imports", "env.fetch_value", "--format", "json").stdout)
    assert len(rep["missing"]) == n + 1 and len(rep["groups"]) == n
    assert sum(g["functions"] for g in rep["groups"]) == len(rep["missing"]) == rep["totals"]["missing"]
    assert rep["totals"]["by_evidence"]["direct"] == {"groups": n, "functions": n + 1}
    bad = cli("audit", str(cut), "--imports", "env.fetch_value", "--top", "-1")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "--top" in bad.stderr


def test_json_keeps_the_old_keys_and_adds_groups(cut: Path) -> None:
    rep = json.loads(cli("audit", str(cut), "--imports", ",".join(IMPORTS), "--format", "json").stdout)
    for key in ("wasm", "asyncified", "mode", "state_global", "data_global", "instrumented", "needed", "missing",
                "unneeded", "unneeded_bytes", "list_not_in_binary", "list_not_instrumented"):
        assert key in rep
    by_name = {f["name"]: f for f in rep["missing"]}
    assert set(by_name) == FRONTIERS.instrument - set(cut_list(TRIAGE / "frontiers.c"))
    both = by_name["both"]
    assert both["chain"] == "both → load → fetch_twice → env.fetch_value"
    assert (both["group"], both["frontier"], both["evidence"]) == (1, "load", "direct")
    assert [s["function"] for s in both["steps"]] == ["both", "load", "fetch_twice", "env.fetch_value"]
    apply = rep["groups"][3]
    assert apply["steps"][1] == {"function": "op_fetch", "index": apply["steps"][1]["index"],
                                 "via": "indirect via type (i32) -> i32, table 0"}
    assert apply["members"] == ["apply", "only_apply"] and apply["async_import"] == "env.fetch_value"
    for g in rep["groups"]:
        assert all(by_name[n]["group"] == g["rank"] for n in g["members"])


def test_sarif_has_one_result_per_group_with_its_chain_and_members(cut: Path) -> None:
    """Code scanning gets one result per place the list was cut (not one per missing function): the
    frontier as the location, the group's chain as the code flow, its members as related locations."""
    sarif = json.loads(cli("audit", str(cut), "--imports", ",".join(IMPORTS), "--format", "sarif").stdout)
    run = sarif["runs"][0]
    results = [r for r in run["results"] if r["ruleId"] == "ASYNCIFY001"]
    assert [r["locations"][0]["logicalLocations"][0]["name"] for r in results] == ["load", "nap", "guarded", "apply"]
    load = results[0]
    assert load["properties"]["rank"] == 1 and load["properties"]["functions"] == 4
    assert load["properties"]["evidence"] == "direct" and load["message"]["text"].startswith("4 function(s) can unwind through load")
    flow = load["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [loc["location"]["logicalLocations"][0]["name"] for loc in flow] == ["load", "fetch_twice", "env.fetch_value"]
    members = {loc["logicalLocations"][0]["name"] for loc in load["relatedLocations"]}
    assert "summary" in members and "load" in members and len(members) == 4
    assert sum(r["properties"]["functions"] for r in results) == 11   # every missing function, in one group each


def test_api_reports_agree(cut: Path) -> None:
    """The Python API gives the same report as the CLI, and the text shows the one chain per group."""
    rep = audit_of(cut)
    text = report_text(rep)
    assert "in 4 group(s)" in text and "guarded → env.invoke_vi" in text
    assert report_json(rep)["groups"][0]["frontier"] == "load"
    assert report_sarif(rep, "x")["runs"][0]["results"][2]["properties"]["evidence"] == "trampoline"


PHP_IMPORTS = Path(__file__).parent.parent / "bench" / "php_trace" / "imports.list"


@pytest.mark.slow
def test_real_php_report_fits_on_a_screen_and_json_keeps_every_finding() -> None:
    """The shipped PHP Asyncify build, with its suspending imports and `invoke_*` listed as async (as
    its builders list them), under their own --indirect ignore: thousands of findings, a short text."""
    from conftest import php_wasm
    args = ["audit", str(php_wasm("asyncify")), "--imports", f"@{PHP_IMPORTS}", "--imports", "invoke_*", "--indirect", "ignore"]
    text = cli(*args)
    assert text.returncode == 1 and len(text.stdout.splitlines()) <= 40, text.stdout
    rep = json.loads(cli(*args, "--format", "json").stdout)
    assert len(rep["missing"]) > 7000 and len(rep["groups"]) > 100
    assert sum(g["functions"] for g in rep["groups"]) == len(rep["missing"]) == rep["totals"]["missing"]
    assert all(m["group"] >= 1 and m["steps"][0]["function"] == m["name"] for m in rep["missing"])
    crash = next(m for m in rep["missing"] if m["name"] == "ZEND_FETCH_DIM_R_SPEC_TMPVAR_CONST_HANDLER")
    assert rep["groups"][crash["group"] - 1]["frontier"] in [s["function"] for s in crash["steps"]]
