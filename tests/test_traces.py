"""parse-trace: traces recorded from real runs (our hosts on node/V8 and wasmtime; the taskrunner under
the npm runtime asyncify-wasm and under the Emscripten-style runtime) and hand-collected ones in
every format users paste; frames mapped into the binary before asyncify only when that is shown to
be right, at -O0, -O2 and -O3, with names kept and stripped."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.decode import read_module
from asyncify_doctor.traces import ASYNCIFY, BUG, UNKNOWN, FrameMapper, parse_log, same_index_space

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "taskrunner"))
from taskrunner_project import RUNTIMES, Project, project  # noqa: E402

TRACES = Path(__file__).parent / "traces"
PY = sys.executable


def first(name: str):  # noqa: ANN201
    crashes = [c for c in parse_log((TRACES / name).read_text()) if c.frames]
    assert crashes, name
    return crashes[0]


@pytest.mark.parametrize("host", ["node", "wasmtime"])
def test_recorded_traces_from_the_proof_harness(host: str) -> None:
    dc = first(f"{host}-direct_chain.txt")
    assert "called while unwinding" in dc.message and dc.looks_like_asyncify
    assert [f.name for f in dc.frames][:3] == ["read_value", "load_config", "run"]
    demo = parse_log((TRACES / f"{host}-demo.txt").read_text())
    assert any("unreachable" in c.message for c in demo)
    assert ["main_loop"] in [[f.name for f in c.frames] for c in demo]


@pytest.mark.parametrize("name, message, frames", [
    ("hand-firefox.txt", "indirect call signature mismatch", ["zend_call_function", "zend_execute_scripts", "php_execute_script"]),
    ("hand-safari.txt", "RuntimeError: Out of bounds memory access", ["zend_call_function", "wasm-function[1235]"]),
    ("hand-chrome-devtools.txt", "null function or function signature mismatch",
     ["zend_call_function", "wasm-function[1235]", "wasm-function[1236]", "php_request_startup"]),
    ("hand-vitest.txt", "RuntimeError: unreachable", ["zend_call_function", "zif_file_get_contents"]),
    ("hand-emscripten-abort.txt", "table index is out of bounds", ["zend_call_function", "dynCall_vi"]),
    ("hand-wasmer.txt", "RuntimeError: unreachable", ["log_kv", "wasm-function[12]", "run_commands"]),
    ("hand-wasmtime-caused-by.txt", "wasm trap: wasm `unreachable`", ["log_kv", "wasm-function[12]", "run_commands"]),
    ("hand-wamr.txt", "unreachable", ["log_kv", "wasm-function[12]", "run_commands"]),
    ("hand-wavm.txt", "wavm.reachedUnreachable", ["log_kv", "wasm-function[12]", "run_commands"]),
    ("hand-v8-offsets.txt", "memory access out of bounds", ["0x1a4", "0x2d9", "0x8a5"]),
    ("hand-firefox-instantiate.txt", "Invalid async state 1", ["log_kv", "wasm-function[12]", "run_commands"]),
    ("hand-jsc-old.txt", "Unreachable code should not be executed", ["log_kv", "run_script (.llvm.42)", "wasm-function[24]"]),
])
def test_hand_collected_formats(name: str, message: str, frames: list[str]) -> None:
    crash = first(name)
    assert message.lower() in crash.message.lower()
    assert [f.label() for f in crash.frames] == frames
    assert crash.kind == ASYNCIFY


@pytest.mark.parametrize("name, message, frames", [
    # node's test runner (spec reporter) running the taskrunner under asyncify-wasm, names kept, -O2
    ("asyncify-wasm-node-test.txt", "Error: Invalid async state 1, expected 0.",
     [["log_kv", "run_commands"], ["log_kv", "sync_stores", "run_stores"], ["by_remote_prio", "run_sort"],
      ["retry", "run_retry"]]),
    # the same under the TAP reporter (its stack lines have no "at"), names stripped, -O0
    ("asyncify-wasm-node-test-tap-stripped.txt", "error: 'Invalid async state 1, expected 0.'",
     [["wasm-function[3]", "wasm-function[12]", "wasm-function[24]"],
      ["wasm-function[3]", "wasm-function[18]", "wasm-function[19]", "wasm-function[25]"],
      ["wasm-function[21]", "wasm-function[22]", "wasm-function[26]"], ["wasm-function[23]", "wasm-function[27]"]]),
    # the Emscripten-style runtime: "Aborted(...)" printed, then node's report of the RuntimeError
    ("emscripten-style.txt", "RuntimeError: Aborted(invalid state: 1)", [["op_fetch", "run_commands"]]),
])
def test_recorded_third_party_runtimes(name: str, message: str, frames: list[list[str]]) -> None:
    crashes = [c for c in parse_log((TRACES / name).read_text()) if c.frames]
    assert [c.message for c in crashes] == [message] * len(frames)
    assert [[f.label() for f in c.frames] for c in crashes] == frames
    assert all(c.kind == ASYNCIFY for c in crashes)


def test_any_message_or_none_is_evidence_and_known_ones_refine_it() -> None:
    unknown = parse_log("Some runtime: the coroutine machinery broke\n    at wasm://wasm/ab12cd34:wasm-function[7]:0x1c6\n"
                        "    at wasm://wasm/ab12cd34:wasm-function[12]:0x287\n")
    assert len(unknown) == 1 and unknown[0].kind == UNKNOWN and "coroutine" in unknown[0].message
    assert [f.index for f in unknown[0].frames] == [7, 12]
    bare = parse_log("starting\n\n    at wasm://wasm/ab12cd34:wasm-function[7]:0x1c6\n")
    assert [f.index for f in bare[0].frames] == [7] and bare[0].message == "starting"
    none = parse_log("    at wasm://wasm/ab12cd34:wasm-function[7]:0x1c6\n")
    assert none[0].message == "(wasm stack without an error message)" and none[0].frames
    assert parse_log("RuntimeError: divide by zero\n    at f (wasm://wasm/x:wasm-function[1]:0x5)\n")[0].kind == BUG
    crashes = parse_log((TRACES / "hand-emscripten-abort.txt").read_text())
    assert crashes[0].looks_like_asyncify and crashes[-1].kind == BUG
    # an error line between two stacks starts a new crash; a frameless known message does not swallow it
    two = parse_log("RuntimeError: divide by zero\nError: Invalid async state 1, expected 0.\n"
                    "    at assertNoneState (file:///a.mjs:1:2)\n    at wasm://wasm/ab:wasm-function[3]:0x10\n")
    assert [(c.message, len(c.frames)) for c in two] == [("RuntimeError: divide by zero", 0),
                                                        ("Error: Invalid async state 1, expected 0.", 1)]


def test_frames_map_through_the_binary_that_printed_them() -> None:
    """One binary given: its indices are used only when the frames' byte offsets fall inside the
    functions they name there, i.e. it is the binary that printed them."""
    from asyncify_doctor.commands.demo import demo_wasm
    m = read_module(demo_wasm())
    dispatch = m.function_named("dispatch")
    assert dispatch is not None
    offset = m.code.bodies[2 * (dispatch.index - m.num_imported_functions)] + 3
    log = (f"RuntimeError: unreachable\n    at wasm://wasm/abc:wasm-function[{dispatch.index}]:0x{offset:x}\n"
           f"    0: 0x{offset:x} - <unknown>!<wasm function {dispatch.index}>\n")
    assert FrameMapper(m).map(parse_log(log)[0]).names == ["dispatch"]
    proc = subprocess.run([PY, "-m", "asyncify_doctor", "parse-trace", str(demo_wasm()), "--format", "json"],
                          input=log, capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["crashes"][0]["frames"] == ["dispatch", "dispatch"]
    wrong = log.replace(f":0x{offset:x}\n", ":0x1\n", 1).replace(f"0x{offset:x} - ", "0x1 - ")
    mapped = FrameMapper(m).map(parse_log(wrong)[0])
    assert mapped.names == [] and "not the binary that crashed" in (mapped.reason or "")


# --- the taskrunner: a project the tool was not written around -------------------------------------

LEVELS = ("-O0", "-O2", "-O3")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], tuple[Project, dict[str, str]]]:
    """Every level, names kept and stripped, nothing instrumented: each runtime's test output."""
    cache = tmp_path_factory.mktemp("taskrunner-cache")
    out = {}
    for opt in LEVELS:
        for names in (True, False):
            p = project(tmp_path_factory.mktemp(f"tr{opt}{'g' if names else 's'}"), cache, opt, names)
            logs = {}
            for runtime in RUNTIMES:
                proc = p.run_tests(runtime)
                assert proc.returncode != 0, proc.stdout
                logs[runtime] = proc.stdout + proc.stderr
            out[opt, names] = (p, logs)
    return out


def parse_trace(p: Project, log: str, *flags: str) -> tuple[int, list[dict]]:
    proc = subprocess.run([PY, "-m", "asyncify_doctor", "parse-trace", "--format", "json", *flags], input=log,
                          capture_output=True, text=True, cwd=p.root)
    return proc.returncode, [c for c in json.loads(proc.stdout)["crashes"] if c["frames"]]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("opt", LEVELS)
def test_parse_trace_names_the_right_frames(runs: dict, opt: str, runtime: str) -> None:
    named, named_logs = runs[opt, True]
    stripped, stripped_logs = runs[opt, False]
    pre = read_module(named.pre)
    # names kept: what the runtime printed, every one a function of the binary before asyncify
    code, crashes = parse_trace(named, named_logs[runtime], "--wasm", str(named.pre), "--built", str(named.built))
    assert code == 0 and crashes and all(not c["unresolved"] for c in crashes)
    truth = [c["frames"] for c in crashes]
    assert all(pre.function_named(n) is not None for frames in truth for n in frames)
    entry = {"asyncify-wasm": ["run_commands", "run_stores", "run_sort", "run_retry"], "emscripten": ["run_commands"]}
    assert [frames[-1] for frames in truth] == entry[runtime]
    # names stripped: the same frames by index, where the two binaries number their functions alike
    code, crashes = parse_trace(stripped, stripped_logs[runtime], "--wasm", str(stripped.pre), "--built", str(stripped.built))
    if opt == "-O0":
        assert code == 0 and [c["frames"] for c in crashes] == truth
    else:   # wasm-opt inlined: refused with the reason, never a guess
        assert code == 1
        assert all(f.startswith("wasm-function[") for c in crashes for f in c["frames"])
        assert "does not number its functions like app.wasm" in crashes[0]["unresolved"][0]["reason"]
    # the binary before asyncify alone never stands in for the one that crashed
    code, crashes = parse_trace(stripped, stripped_logs[runtime], "--wasm", str(stripped.pre))
    assert code == 1 and "not the binary that crashed" in crashes[0]["unresolved"][0]["reason"]
    assert all(f.startswith("wasm-function[") for c in crashes for f in c["frames"])


def test_index_space_check_sees_through_equal_function_counts(runs: dict) -> None:
    """At -O2 and -O3 wasm-opt inlines four functions, and Asyncify's own functions make up the count:
    both binaries have 29 functions, yet most indices name other functions. The check compares what
    each index is, not how many there are."""
    for opt in LEVELS:
        p, _ = runs[opt, False]
        pre, built = read_module(p.pre), read_module(p.built)
        space = same_index_space(pre, built)
        assert space.shared == (opt == "-O0"), space.reason
        assert (len(built.functions) == len(pre.functions)) == (opt != "-O0")
        named = read_module(runs[opt, True][0].built)
        if opt != "-O0":
            # the index of a function differs between the two binaries: mapping by index would be wrong
            moved = [f.name for f in named.functions if f.has_name and pre.function_named(f.name)
                     and pre.function_named(f.name).index != f.index]
            assert moved, opt


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_parse_trace_gives_binaryens_names_when_neither_binary_has_names(runs: dict, runtime: str,
                                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    """app.wasm without names, asyncified at -O0 without -g: the frames are mapped by index and named
    as wasm-opt names app.wasm's functions (their index among defined functions): the same functions
    the named build's frames name. At -O2 the indices moved: unnamed, with the reason."""
    named, named_logs = runs["-O0", True]
    _, truth = parse_trace(named, named_logs[runtime], "--wasm", str(named.pre), "--built", str(named.built))
    pre = read_module(named.pre)
    want = [[str(pre.function_named(n).index - pre.num_imported_functions) for n in c["frames"]] for c in truth]
    cache = tmp_path_factory.mktemp("nameless-cache")
    bare = project(tmp_path_factory.mktemp("nameless-O0"), cache, "-O0", names=False, nameless=True)
    log = bare.run_tests(runtime)
    proc = subprocess.run([PY, "-m", "asyncify_doctor", "parse-trace", "app.wasm", "--built", "app.async.wasm",
                           "--format", "json"], input=log.stdout + log.stderr, capture_output=True, text=True, cwd=bare.root)
    assert proc.returncode == 0, proc.stderr
    crashes = [c for c in json.loads(proc.stdout)["crashes"] if c["frames"]]
    assert [c["frames"] for c in crashes] == want and all(not c["unresolved"] for c in crashes)
    assert all(i["frame"].startswith("wasm-function[") and i["name"] in c["frames"] for c in crashes for i in c["invented"])
    assert "only wasm-opt run on that very binary matches them" in proc.stderr
    text = subprocess.run([PY, "-m", "asyncify_doctor", "parse-trace", "app.wasm", "--built", "app.async.wasm"],
                          input=log.stdout + log.stderr, capture_output=True, text=True, cwd=bare.root).stdout
    assert f"    {want[0][0]}  (wasm-function[" in text
    moved = project(tmp_path_factory.mktemp("nameless-O2"), cache, "-O2", names=False, nameless=True)
    log = moved.run_tests(runtime)
    code, crashes = parse_trace(moved, log.stdout + log.stderr, "--wasm", "app.wasm", "--built", "app.async.wasm")
    assert code == 1 and all(not c["invented"] for c in crashes)
    assert "does not number its functions like app.wasm" in crashes[0]["unresolved"][0]["reason"]
