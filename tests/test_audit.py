"""audit: recognition of instrumented functions is exact over a matrix of Binaryen versions, asserts
and optimisation levels; missing functions it reports really crash; exit status gates CI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.analysis.audit import instrumented_names
from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
from asyncify_doctor.decode import decode
from asyncify_doctor.runtime.toolchain import build_all
from proof import ASYNC, EXPECTS, SRC, asyncified, failure

MATRIX = [(backend, asserts, level) for backend in ("libbinaryen", "wasm-opt")
          for asserts in (False, True) for level in (0, 2)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(SRC, tmp_path_factory.mktemp("audit-fixtures"))


@pytest.mark.parametrize("backend, asserts, level", MATRIX)
@pytest.mark.parametrize("name", ["direct_chain", "table_types", "recursion"])
def test_recognised_set_is_exactly_the_list(name: str, backend: str, asserts: bool, level: int,
                                            built: dict[str, Path]) -> None:
    """A partial list on purpose (one needed function left out, one unneeded one added): what we
    recognise must be exactly the list entries that still exist in the output binary."""
    exp = EXPECTS[name]
    onlylist = sorted(exp.instrument)[1:] + sorted(exp.not_instrumented)[:1]
    out = asyncify(built[name].read_bytes(),
                   AsyncifyOptions(onlylist=tuple(onlylist), imports=ASYNC, asserts=asserts, optimize_level=level), backend)
    present = {f.name for f in decode(out).functions if not f.imported}
    assert instrumented_names(out) == set(onlylist) & present
    if level == 0:
        assert set(onlylist) <= present   # nothing inlined away without optimisation


def audit_cli(wasm: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(wasm), "--imports", ",".join(ASYNC),
                           *extra], capture_output=True, text=True)


@pytest.mark.parametrize("host", ["wasmtime", "node"])
@pytest.mark.parametrize("name", ["direct_chain", "vtable", "deep", "lock_ctl", "index_values", "dispatch_table"])
def test_what_audit_calls_missing_really_crashes(name: str, host: str, built: dict[str, Path]) -> None:
    """With the arguments the list was made with (lock_ctl: --async-when; dispatch_table: --host-memory
    module; index_values: index values of call_indirect), which audit applies to the asyncified code."""
    exp = EXPECTS[name]
    for dropped in sorted(exp.instrument):
        wasm = asyncified(built[name], tuple(sorted(exp.instrument - {dropped})))
        proc = audit_cli(wasm, "--format", "json", *exp.analyze)
        assert proc.returncode == 1, proc.stderr
        report = json.loads(proc.stdout)
        assert [m["name"] for m in report["missing"]] == [dropped]
        assert report["missing"][0]["chain"].startswith(dropped)
        assert failure(host, wasm, exp) is not None, f"dropping {dropped} should break {name}"


@pytest.mark.parametrize("name", EXPECTS)
def test_audit_of_analyzes_list_finds_nothing(name: str, built: dict[str, Path]) -> None:
    """Built with exactly analyze's list (test_proof: that list, made with the fixture's `analyze:`
    arguments), audit with the same arguments recomputes the same set from the asyncified code:
    nothing missing, nothing unneeded. Index values and --async-when proofs must survive Asyncify's
    instrumentation (its rewind paths restore locals from its buffer; `Values` reads them in the
    normal state), or audit would call functions missing that analyze left out."""
    exp = EXPECTS[name]
    proc = audit_cli(asyncified(built[name], tuple(sorted(exp.instrument))), "--format", "json", *exp.analyze)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["missing"], report["unneeded"]) == ([], [])


def test_clean_binary_passes_and_unneeded_and_typos_are_reported(built: dict[str, Path], tmp_path: Path) -> None:
    exp = EXPECTS["direct_chain"]
    wasm = asyncified(built["direct_chain"], tuple(sorted(exp.instrument)))
    ok = audit_cli(wasm)
    assert ok.returncode == 0 and "missing (can unwind through them, not instrumented: crashes waiting to happen): 0" in ok.stdout
    extra = asyncified(built["direct_chain"], tuple(sorted(exp.instrument | {"checksum"})))
    listfile = tmp_path / "only.list"
    listfile.write_text("# the list the build used\n" + "\n".join(sorted(exp.instrument | {"checksum", "load_confgi"})) + "\n")
    rep = json.loads(audit_cli(extra, "--list", str(listfile), "--format", "json").stdout)
    assert [u["name"] for u in rep["unneeded"]] == ["checksum"] and rep["unneeded_bytes"] > 0
    assert rep["list_not_in_binary"] == ["load_confgi"]


def test_sarif_output(built: dict[str, Path]) -> None:
    exp = EXPECTS["direct_chain"]
    wasm = asyncified(built["direct_chain"], tuple(sorted(exp.instrument - {"pause"})))
    sarif = json.loads(audit_cli(wasm, "--format", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("ASYNCIFY001", "error")]
    assert results[0]["locations"][0]["logicalLocations"][0]["name"] == "pause"


def test_plain_binary_is_not_asyncified(built: dict[str, Path]) -> None:
    proc = audit_cli(built["direct_chain"])
    assert proc.returncode == 0 and "not asyncified" in proc.stdout


@pytest.mark.parametrize("backend, version", [("libbinaryen", 116), ("wasm-opt", 132)])
def test_binaryen_format_is_read_right_by_that_binaryen(backend: str, version: int, built: dict[str, Path],
                                                       tmp_path: Path) -> None:
    """`--format binaryen --binaryen-version N` written to a file and passed as `@file` is exactly the
    list to that Binaryen; the newline form given to Binaryen 116 silently matches nothing."""
    from asyncify_doctor.lists import format_names
    names = sorted(EXPECTS["direct_chain"].instrument)
    listfile = tmp_path / "only.txt"
    listfile.write_text(format_names(names, "binaryen", binaryen_version=version))
    out = asyncify(built["direct_chain"].read_bytes(),
                   AsyncifyOptions(onlylist=(f"@{listfile}",), imports=ASYNC), backend)
    assert instrumented_names(out) == set(names)
    if version < 117:
        listfile.write_text(format_names(names, "binaryen"))
        out = asyncify(built["direct_chain"].read_bytes(), AsyncifyOptions(onlylist=(f"@{listfile}",), imports=ASYNC), backend)
        assert instrumented_names(out) == set()


@pytest.mark.parametrize("name", ["direct_chain", "callbacks"])
def test_list_in_binaryens_names_is_read_on_a_nameless_binary(name: str, tmp_path: Path) -> None:
    """A nameless fixture, its list written by `analyze --format binaryen` ("3", "4", …), asyncified by
    real wasm-opt 132 with that list: audit reads every entry as the function wasm-opt matched (no
    "matches no function", nothing missing), says how such entries are matched, and tells a
    `wasm-function[N]` entry (V8's spelling, which Binaryen never matches) and `fimport$K` (an import)
    for what they are."""
    from test_binaryen_names import analyze, asyncify_with, stripped
    _, bare = stripped(name, tmp_path)
    listfile, out = tmp_path / "only.txt", tmp_path / "out.wasm"
    assert analyze(bare, listfile, "--format", "binaryen").returncode == 0
    asyncify_with(132, bare, listfile, out)
    entries = listfile.read_text().split()
    assert entries and all(e.isdigit() for e in entries)
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(out), "--list", str(listfile),
                           "--format", "json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["list_findings"] == [] and doc["missing"] == [] and doc["instrumented"] == len(entries)
    assert len(doc["list_notes"]) == 1 and doc["list_notes"][0].startswith(f"{len(entries)} list entries are the name Binaryen")
    m = decode(bare.read_bytes())
    nimp = m.num_imported_functions
    odd = tmp_path / "odd.txt"
    odd.write_text(f"{entries[0]}\nwasm-function[{int(entries[0]) + nimp}]\nfimport$0\n")
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(out), "--list", str(odd)],
                          capture_output=True, text=True)
    assert f"onlylist wasm-function[{int(entries[0]) + nimp}]: matches no function: wasm-function[N] is how V8 prints" in proc.stdout
    assert f"; write {entries[0]} (Binaryen's name for function {int(entries[0]) + nimp})" in proc.stdout
    assert "onlylist fimport$0: names an import" in proc.stdout
    assert f"onlylist {entries[0]}:" not in proc.stdout
