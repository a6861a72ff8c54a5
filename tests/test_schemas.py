"""Every JSON document the commands write carries its schema id and is valid under the JSON Schema of
that id in docs/schemas/ (real commands, on the shipped example and on a binary asyncified by the real
Binaryen); documents of one kind are not read as another."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from asyncify_doctor.commands.demo import demo_wasm
from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
from asyncify_doctor.schemas import VERSIONS, schema_id

ROOT = Path(__file__).parent.parent
SCHEMAS = ROOT / "docs" / "schemas"
IMPORTS = "env.sleep_ms,env.fetch_value"
LISTED = ("fetch_page", "backoff", "get_with_retry", "handle_redirect", "main_loop")   # dispatch left out
LOG = ("RuntimeError: unreachable\n"
       "    at dispatch (wasm://wasm/abc:wasm-function[13]:0x1a)\n"
       "    at main_loop (wasm://wasm/abc:wasm-function[11]:0x2b)\n")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *args], cwd=cwd, capture_output=True, text=True)


def schema_for(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{kind}-{VERSIONS[kind]}.schema.json").read_text())


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("schemas")
    data = demo_wasm().read_bytes()
    (d / "app.wasm").write_bytes(data)
    (d / "app.async.wasm").write_bytes(asyncify(data, AsyncifyOptions(onlylist=LISTED, imports=tuple(IMPORTS.split(",")))))
    (d / "log.txt").write_text(LOG)
    (d / "in-use.list").write_text("fetch_page\nno_such_function\n")
    from asyncify_doctor.runtime.toolchain import compile_c
    for name in ("lock_ctl", "dispatch_table"):
        compile_c(ROOT / "tests" / "fixtures" / "src" / f"{name}.c", d / f"{name}.wasm")
    return d


COMMANDS = {
    "analyze": ["analyze", "app.wasm", "--imports", IMPORTS, "--format", "json"],
    "analyze --list": ["analyze", "app.wasm", "--imports", IMPORTS, "--list", "in-use.list", "--format", "json"],
    "analyze --stats": ["analyze", "app.wasm", "--stats", "--format", "json"],
    "why": ["why", "app.wasm", "dispatch", "--imports", IMPORTS, "--format", "json"],
    "why not": ["why", "app.wasm", "print_i32", "--imports", IMPORTS, "--format", "json"],
    "why --async-when": ["why", "lock_ctl.wasm", "set_cloexec", "--imports", "env.lock_ctl,env.fetch_value",
                         "--async-when", "env.lock_ctl:1=14", "--format", "json"],
    "why --async-when member": ["why", "lock_ctl.wasm", "my_fcntl", "--imports", "env.lock_ctl,env.fetch_value",
                                "--async-when", "env.lock_ctl:1=14", "--format", "json"],
    "why index proven": ["why", "dispatch_table.wasm", "os_fetch", "--imports", "env.fetch_value", "--host-memory", "module",
                         "--format", "json"],
    "analyze index proven": ["analyze", "dispatch_table.wasm", "--imports", "env.fetch_value", "--host-memory", "module",
                             "--format", "json"],
    "graph": ["graph", "app.wasm", "--format", "json"],
    "graph index proven": ["graph", "dispatch_table.wasm", "--host-memory", "module", "--format", "json"],
    "graph --indirect all": ["graph", "app.wasm", "--indirect", "all"],
    "audit": ["audit", "app.async.wasm", "--format", "json"],
    "audit --imports --list": ["audit", "app.async.wasm", "--imports", IMPORTS, "--list", "in-use.list", "--format", "json"],
    "audit not asyncified": ["audit", "app.wasm", "--format", "json"],
    "jspi": ["jspi", "app.wasm", "--imports", IMPORTS, "--list", "in-use.list", "--format", "json"],
    "parse-trace": ["parse-trace", "app.wasm", "--log", "log.txt", "--format", "json"],
    "trace": ["trace", "--wasmtime", "app.wasm", "--export", "main_loop", "--imports", IMPORTS],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_json_output_is_valid_under_its_schema(work: Path, name: str) -> None:
    proc = cli(*COMMANDS[name], "-o", "out.json", cwd=work)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads((work / "out.json").read_text())
    kind = doc["schema"].split("/")[1]
    assert doc["schema"] == schema_id(kind) and doc["tool"]["name"] == "asyncify-doctor"
    assert kind == ("stacks" if name == "trace" else name.split()[0])
    jsonschema.validate(doc, schema_for(kind))
    if name == "audit":   # the build left dispatch out: the document says so, by the schema's keys
        assert [m["name"] for m in doc["missing"]] == ["dispatch"] and doc["groups"][0]["frontier"] == "dispatch"
    if name == "analyze --list":
        assert doc["current"]["unmatched"] == ["no_such_function"] and "functions" not in doc
    declared(doc, schema_for(kind), name)


def declared(doc: dict, schema: dict, name: str) -> None:
    """The keys these documents add under --async-when and index values are there, and the schema
    names each (its objects allow more keys, so validation alone would not notice one left out)."""
    step = schema["$defs"].get("step", {}).get("properties", {})
    if name == "why --async-when":
        (call,) = doc["never_suspends"]
        assert call["callee"] == "env.lock_ctl" and "suspends only when it is in {14}" in call["proof"]
        assert "never_suspends" in schema["properties"] and "suspends_only_when" not in doc
    if name == "why --async-when member":
        assert doc["suspends_only_when"] == {"argument": 1, "values": [14],
                                             "why": "it passes its argument 1 as env.lock_ctl's argument 1"}
        assert "suspends_only_when" in schema["properties"]
    if name in ("why index proven", "analyze index proven"):
        chain = doc["chain"] if name.startswith("why") else next(f["chain"] for f in doc["functions"] if f["name"] == "os_fetch")
        hop = chain[1]
        assert (hop["function"], hop["index_values"]) == ("op_fetch", "{1}") and "data segment" in hop["index_proof"]
        assert {"index_values", "index_proof"} <= set(step)
    if name == "graph index proven":
        sites = [s for s in doc["indirect_sites"] if "index" in s]
        assert sites and all(s["proof"] for s in sites)
        assert {"index", "proof"} <= set(schema["properties"]["indirect_sites"]["items"]["properties"])


def test_every_kind_has_a_schema_file_and_every_file_a_kind() -> None:
    files = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert files == {f"{kind}-{v}.schema.json" for kind, v in VERSIONS.items()}
    for kind in VERSIONS:
        schema = schema_for(kind)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"] == schema_id(kind) and schema["properties"]["schema"] == {"const": schema_id(kind)}


def test_a_document_is_read_only_as_what_it_is(work: Path) -> None:
    """`--list` takes an analyze document as a list and refuses a graph dump (it read as 15 names);
    `--observed` refuses any document but a stacks file; both in one line, exit status 2."""
    cli(*COMMANDS["analyze"], "-o", "list.json", cwd=work)
    cli(*COMMANDS["graph"], "-o", "graph.json", cwd=work)
    proc = cli("analyze", "app.wasm", "--imports", IMPORTS, "--list", "list.json", cwd=work)
    assert proc.returncode == 0 and "the list is exactly what this binary needs" in proc.stdout
    proc = cli("analyze", "app.wasm", "--imports", IMPORTS, "--list", "graph.json", cwd=work)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "an asyncify-doctor graph document, not a list" in proc.stderr
    proc = cli("analyze", "app.wasm", "--imports", IMPORTS, "--observed", "list.json", cwd=work)
    assert proc.returncode == 2 and "'asyncify-doctor/analyze/1', not 'asyncify-doctor/stacks/1'" in proc.stderr
    newer = {**json.loads((work / "list.json").read_text()), "schema": "asyncify-doctor/analyze/99"}
    (work / "newer.json").write_text(json.dumps(newer))
    proc = cli("analyze", "app.wasm", "--imports", IMPORTS, "--list", "newer.json", cwd=work)
    assert proc.returncode == 2 and "schema 'asyncify-doctor/analyze/99'" in proc.stderr
