"""trace: one run under node (un-asyncified fixtures on JSPI) records exactly the functions on the
stack at each suspension, and one run under wasmtime (through a shadow stack) records the very same
stacks; a list from `--observed` plus the static closure passes the proof harness, even with
--indirect ignore; results survive child processes, worker threads, failing commands and traps."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import wasmtime

from asyncify_doctor.runtime.host.node_host import JSPI_HOST, find_node
from asyncify_doctor.runtime.host.wasmtime_trace import trace_stacks
from asyncify_doctor.runtime.toolchain import build_all
from proof import ASYNC, EXPECTS, SRC, asyncified, cli_list, failure

WORKER = Path(__file__).parent / "fixtures" / "trace" / "in_worker.mjs"
WAYS = Path(__file__).parent / "fixtures" / "trace" / "instantiate_ways.mjs"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(SRC, tmp_path_factory.mktemp("trace-fixtures"))


def node_runs(wasm: Path, exports: list[str], script: Path = JSPI_HOST) -> str:
    """The user's test command: every export, each in its own node process."""
    node = shlex.quote(find_node())
    return "; ".join(f"{node} --experimental-wasm-jspi {shlex.quote(str(script))} {shlex.quote(str(wasm))} {e} --wrap {e}"
                     for e in exports)


def trace(tmp: Path, command: str, name: str = "stacks.json") -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp / name
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "trace", "--imports", ",".join(ASYNC), "-o", str(out),
                           "--", "sh", "-c", command], capture_output=True, text=True)
    return proc, json.loads(out.read_text())


def frames(doc: dict) -> set[str]:
    return {f["name"] for s in doc["stacks"] for f in s["frames"]}


@pytest.mark.parametrize("name", EXPECTS)
def test_trace_records_exactly_the_stacks_and_observed_lists_pass(name: str, built: dict[str, Path], tmp_path: Path) -> None:
    exp = EXPECTS[name]
    proc, doc = trace(tmp_path, node_runs(built[name], list(exp.exports)))
    assert proc.returncode == 0, proc.stderr
    assert frames(doc) == (exp.traced or exp.instrument)
    total = sum(s["count"] for s in doc["stacks"])
    assert total == sum(exp.calls.get(e, exp.suspensions.get(e, 0)) for e in exp.exports)
    observed = cli_list(built[name], tmp_path / "observed.list", "--indirect", "ignore", "--observed", str(tmp_path / "stacks.json"))
    assert set(observed) == (exp.traced or exp.instrument)
    wasm = asyncified(built[name], tuple(observed))
    assert failure("wasmtime", wasm, exp) is None and failure("node", wasm, exp) is None


def test_processes_are_merged_and_a_failing_command_keeps_its_stacks(built: dict[str, Path], tmp_path: Path) -> None:
    proc, doc = trace(tmp_path, node_runs(built["two_exports"], ["get_user", "get_post"]) + "; exit 3")
    assert proc.returncode == 3 and doc["exit_status"] == 3 and doc["processes"] == 2   # passed through
    assert [[f["name"] for f in s["frames"]] for s in doc["stacks"]] in (
        [["lookup", "get_user"], ["lookup", "get_post"]], [["lookup", "get_post"], ["lookup", "get_user"]])


def test_worker_threads_are_traced(built: dict[str, Path], tmp_path: Path) -> None:
    _, doc = trace(tmp_path, node_runs(built["vtable"], ["run"], WORKER))
    assert frames(doc) == EXPECTS["vtable"].instrument


def test_why_says_a_hop_was_observed_and_in_which_run(built: dict[str, Path], tmp_path: Path) -> None:
    trace(tmp_path, node_runs(built["table_types"], ["run"]))
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "why", str(built["table_types"]), "call_unary",
                          "--imports", ",".join(ASYNC), "--indirect", "ignore", "--observed", str(tmp_path / "stacks.json")],
                         capture_output=True, text=True).stdout
    assert ("call_unary → (observed at run time in stacks.json: node jspi_host.mjs table_types.wasm run --wrap run) "
            "op_fetch → env.fetch_value") in out
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "trace", "--imports", ",".join(ASYNC), "--wasmtime",
                    str(built["table_types"]), "-o", str(tmp_path / "wt.json")], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "why", str(built["table_types"]), "call_unary",
                          "--imports", ",".join(ASYNC), "--indirect", "ignore", "--observed", str(tmp_path / "wt.json")],
                         capture_output=True, text=True).stdout
    assert "call_unary → (observed at run time in wt.json: wasmtime table_types.wasm run) op_fetch" in out


def stacks_of(doc: dict) -> Counter[tuple[str, tuple[str | None, ...]]]:
    """Each distinct (import, frame names innermost first) with its count: the whole record, compared exactly."""
    out: Counter[tuple[str, tuple[str | None, ...]]] = Counter()
    for s in doc["stacks"]:
        out[(s["import"], tuple(f["name"] for f in s["frames"]))] += s["count"]
    return out


@pytest.mark.parametrize("name", EXPECTS)
def test_wasmtime_trace_records_exactly_what_node_sees(name: str, built: dict[str, Path], tmp_path: Path) -> None:
    """Under wasmtime a shadow stack written into the binary gives the stacks: they must be the very
    stacks V8 reports (every frame, any depth, same counts), from one run."""
    exp = EXPECTS[name]
    out = tmp_path / "wt.json"
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "trace", "--imports", ",".join(ASYNC), "--wasmtime",
                           str(built[name]), *sum((["--export", e] for e in exp.exports), []), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    _, node_doc = trace(tmp_path, node_runs(built[name], list(exp.exports)), "node.json")
    assert stacks_of(doc) == stacks_of(node_doc) and doc["failures"] == {}
    assert frames(doc) == (exp.traced or exp.instrument)
    assert sum(s["count"] for s in doc["stacks"]) == sum(exp.calls.get(e, exp.suspensions.get(e, 0)) for e in exp.exports)
    if name == "deep":
        assert stacks_of(doc) == Counter({("env.fetch_value", ("descend",) * 1201 + ("run",)): 1})
    assert set(cli_list(built[name], tmp_path / "wt.list", "--indirect", "ignore", "--observed", str(out))) == \
        (exp.traced or exp.instrument)


def test_wasmtime_trace_keeps_its_stacks_when_the_program_traps(tmp_path: Path) -> None:
    wasm, out = tmp_path / "traps.wasm", tmp_path / "wt.json"
    wasm.write_bytes(wasmtime.wat2wasm('''(module (import "env" "fetch_value" (func $fetch (param i32) (result i32)))
      (func $get (drop (call $fetch (i32.const 1))))
      (func $run (export "run") (call $get) unreachable))'''))
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "trace", "--imports", "env.fetch_value", "--wasmtime",
                           str(wasm), "-o", str(out)], capture_output=True, text=True)
    doc = json.loads(out.read_text())
    assert proc.returncode == 1 and "trapped on its own in run" in proc.stderr and "unreachable" in doc["failures"]["run"]
    assert stacks_of(doc) == Counter({("env.fetch_value", ("get", "run")): 1}) and doc["exit_status"] == 1


@pytest.mark.parametrize("mode", ["instantiate", "module", "streaming", "instance", "kill"])
def test_every_way_of_instantiating_is_traced_and_modules_stay_apart(mode: str, built: dict[str, Path], tmp_path: Path) -> None:
    """Plain functions as imports (no JSPI), two modules in one process; under SIGKILL every distinct
    stack is kept (counts are written on each new stack and at exit, which SIGKILL skips)."""
    wasms = [built["direct_chain"], built["vtable"]]
    _, doc = trace(tmp_path, " ".join(shlex.quote(str(a)) for a in [find_node(), WAYS, mode, *wasms]))
    assert doc["exit_status"] == (137 if mode == "kill" else 0)
    by_module: dict[str, dict] = {}
    for s in doc["stacks"]:
        by_module.setdefault(s["module"], {"stacks": []})["stacks"].append(s)
    assert len(by_module) == 2
    for wasm in wasms:
        (label,) = [m for m in by_module if m.startswith(f"{wasm.name}-")]   # V8: name-hash
        want = stacks_of({"stacks": trace_stacks(wasm, "run", async_imports=ASYNC)})   # wasmtime, independently
        got = stacks_of(by_module[label])
        assert got == want if mode != "kill" else set(got) == set(want)
