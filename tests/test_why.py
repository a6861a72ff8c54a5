"""`why`: with `--observed` the chain shown is made of calls seen at run time whenever one exists, and a
chain through a hub (a function with very many callers or callees, or an indirect call with very many
targets) says so, with the count, since it may be an over-approximation."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from asyncify_doctor.analysis.chains import HUB_MIN, chain_hubs, hubs, observed_first_chain
from asyncify_doctor.analysis.pipeline import run_analysis
from independent import wasm_tools


def build(tmp: Path, wat: str, name: str = "m") -> Path:
    (tmp / f"{name}.wat").write_text(wat)
    subprocess.run([wasm_tools(), "parse", f"{name}.wat", "-o", f"{name}.wasm"], check=True, cwd=tmp)
    return tmp / f"{name}.wasm"


def why(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", "why", *args], capture_output=True, text=True, cwd=tmp)


TWO_PATHS = """(module
  (import "env" "sleep_ms" (func $sleep))
  (func $run (export "run") call $a call $b)
  (func $a call $sleep)
  (func $b call $c)
  (func $c call $sleep))"""


def test_observed_chain_is_preferred(tmp_path: Path) -> None:
    wasm = build(tmp_path, TWO_PATHS)
    static = why(tmp_path, "m.wasm", "run", "--imports", "env.sleep_ms")
    assert static.returncode == 0 and "run → a → env.sleep_ms\n" in static.stdout and "seen at run time" not in static.stdout
    stacks = {"stacks": [{"import": "env.sleep_ms", "count": 3, "runs": ["node test.mjs"],
                          "frames": [{"name": "c", "index": None}, {"name": "b", "index": None}, {"name": "run", "index": None}]}]}
    (tmp_path / "stacks.json").write_text(json.dumps(stacks))
    seen = why(tmp_path, "m.wasm", "run", "--imports", "env.sleep_ms", "--observed", "stacks.json")
    assert seen.returncode == 0, seen.stderr
    # every hop also exists statically: no per-hop label, one line that says all were seen
    assert "run → b → c → env.sleep_ms\n  (every hop seen at run time in the --observed stacks)" in seen.stdout
    res = run_analysis(wasm, ["env.sleep_ms"], observed=[{**s, "file": "stacks.json"} for s in stacks["stacks"]])
    steps, flags = observed_first_chain(res.analysis, 1)   # run
    assert [s.function for s in steps] == [1, 3, 4, 0] and flags == [False, True, True, True]


def test_a_chain_partly_observed_takes_the_most_observed_hops(tmp_path: Path) -> None:
    """Static a → sleep is one hop; the observed b → c stretch plus a static c → sleep is preferred."""
    build(tmp_path, TWO_PATHS)
    stacks = {"stacks": [{"import": "env.other", "frames": [{"name": "c", "index": None}, {"name": "b", "index": None},
                                                             {"name": "run", "index": None}]}]}
    (tmp_path / "stacks.json").write_text(json.dumps(stacks))
    seen = why(tmp_path, "m.wasm", "run", "--imports", "env.sleep_ms", "--observed", "stacks.json")
    assert "run → b → c → env.sleep_ms\n  (2 of its 3 hops seen at run time in the --observed stacks)" in seen.stdout


def hub_module(callers: int) -> str:
    """`report_error` is called by `callers` functions and reaches the async import: an error path."""
    funcs = "\n".join(f'  (func $user{i} (export "user{i}") call $report_error)' for i in range(callers))
    return f"""(module
  (import "env" "sleep_ms" (func $sleep))
  (func $report_error call $log)
  (func $log call $sleep)
{funcs}
  (func $run (export "run") call $step)
  (func $step call $log))"""


def test_a_chain_through_a_hub_says_so(tmp_path: Path) -> None:
    build(tmp_path, hub_module(HUB_MIN + 10))
    proc = why(tmp_path, "m.wasm", "user0", "--imports", "env.sleep_ms")
    assert proc.returncode == 0
    assert f"user0 → report_error → log → env.sleep_ms\n  (through a hub: report_error, {HUB_MIN + 10} callers. " \
           "The chain may be an over-approximation" in proc.stdout
    quiet = why(tmp_path, "m.wasm", "run", "--imports", "env.sleep_ms")   # run → step → log: no hub
    assert "run → step → log → env.sleep_ms\n" in quiet.stdout and "hub" not in quiet.stdout
    # the function asked about is never its own hub; and a hub whose onward hop was seen really leads there
    assert "hub" not in why(tmp_path, "m.wasm", "report_error", "--imports", "env.sleep_ms").stdout
    stacks = {"stacks": [{"import": "env.sleep_ms", "frames": [{"name": "log", "index": None},
                                                                {"name": "report_error", "index": None}]}]}
    (tmp_path / "stacks.json").write_text(json.dumps(stacks))
    assert "hub" not in why(tmp_path, "m.wasm", "user0", "--imports", "env.sleep_ms", "--observed", "stacks.json").stdout


def test_small_modules_have_no_hubs(tmp_path: Path) -> None:
    """Below HUB_MIN callers nothing is a hub, however it ranks (the top 0.1% of 50 functions is one)."""
    wasm = build(tmp_path, hub_module(HUB_MIN - 1))
    res = run_analysis(wasm, ["env.sleep_ms"])
    measured = hubs(res.analysis)
    assert measured.min_in == HUB_MIN and measured.fan_in[1] == HUB_MIN - 1 and measured.of(1) is None
    steps, seen = observed_first_chain(res.analysis, 3)
    assert chain_hubs(res.analysis, steps, seen) == []


def test_an_indirect_call_with_very_many_targets_is_a_hub(tmp_path: Path) -> None:
    n = HUB_MIN + 5
    targets = " ".join(f"$t{i}" for i in range(n))
    funcs = "\n".join(f"  (func $t{i} (type $v))" for i in range(1, n))
    wat = f"""(module
  (type $v (func))
  (import "env" "sleep_ms" (func $sleep))
  (table {n} funcref)
  (elem (i32.const 0) func {targets})
  (func $t0 (type $v) call $sleep)
{funcs}
  (func $dispatch (export "dispatch") (param i32) local.get 0 call_indirect (type $v)))"""
    build(tmp_path, wat)
    proc = why(tmp_path, "m.wasm", "dispatch", "--imports", "env.sleep_ms")
    assert "dispatch → (indirect via type () -> (), table 0) t0 → env.sleep_ms" in proc.stdout
    assert f"(through a hub: an indirect call via type () -> (), table 0, {n} possible targets." in proc.stdout
