"""The Python API (`asyncify_doctor.analyze`, `.audit`, `.jspi`): the commands' answers as objects, from
a path, bytes or a decoded module, and nothing printed. Checked against the commands themselves on the
shipped example and on a binary asyncified by the real Binaryen."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import asyncify_doctor
from asyncify_doctor.commands.demo import demo_wasm
from asyncify_doctor.decode import read_module
from asyncify_doctor.errors import DoctorError, InputError, UsageError
from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify

IMPORTS = ["env.sleep_ms", "env.fetch_value"]
LISTED = ("fetch_page", "backoff", "get_with_retry", "handle_redirect", "main_loop")   # dispatch left out


def cli_json(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", *args, "--format", "json"], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "app.async.wasm"
    path.write_bytes(asyncify(demo_wasm().read_bytes(), AsyncifyOptions(onlylist=LISTED, imports=tuple(IMPORTS))))
    return path


def test_analyze_answers_what_the_command_answers(capfd: pytest.CaptureFixture[str]) -> None:
    wasm = demo_wasm()
    result = asyncify_doctor.analyze(wasm, imports=IMPORTS)
    assert capfd.readouterr() == ("", "")   # silent: no progress, no warnings
    assert result.names == ["fetch_page", "backoff", "get_with_retry", "handle_redirect", "dispatch", "main_loop"]
    assert result.to_json() == cli_json("analyze", str(wasm), "--imports", ",".join(IMPORTS)) | {"wasm": str(wasm)}
    assert "dispatch" in result and "print_i32" not in result
    assert result.chain("dispatch") == ["dispatch", "handle_redirect", "fetch_page", "env.fetch_value"]
    assert result.why("dispatch").startswith("dispatch must be instrumented:")
    assert result.to_list() == "\n".join(result.names) + "\n"
    assert result.stats()["instrumented_by_mode"] == {"typed": 6, "all": 7, "ignore": 5}
    assert asyncify_doctor.analyze(wasm, imports=IMPORTS, indirect="ignore").names == [n for n in result.names if n != "dispatch"]
    for same in (wasm.read_bytes(), read_module(wasm)):   # bytes and a decoded module give the same answer
        assert asyncify_doctor.analyze(same, imports=IMPORTS).names == result.names


def test_audit_and_jspi_answer_what_the_commands_answer(built: Path, capfd: pytest.CaptureFixture[str]) -> None:
    rep = asyncify_doctor.audit(built)
    jspi = asyncify_doctor.jspi(demo_wasm(), imports=IMPORTS, list=["main_loop", "helper"])
    assert capfd.readouterr() == ("", "")
    assert rep.asyncified and rep.missing == ["dispatch"] and not rep.ok and rep.unneeded == []
    assert rep.to_json() == cli_json("audit", str(built))
    assert "missing (can unwind through them, not instrumented" in rep.to_text()
    assert rep.to_sarif()["runs"][0]["results"][0]["ruleId"] == "ASYNCIFY001"
    with_list = asyncify_doctor.audit(built.read_bytes(), list=[*LISTED, "no_such_function"])
    assert with_list.to_json()["list_not_in_binary"] == ["no_such_function"]
    assert jspi.exports_to_wrap == ["main_loop"] and jspi.suspending_imports == sorted(IMPORTS) and jspi.hazards == 0
    assert jspi.to_json()["needless_wraps"] == ["helper"]


def test_errors_are_doctor_errors_not_prints(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = asyncify_doctor.analyze(demo_wasm(), imports=["env.no_such_import"])
    assert result.unmatched_imports == ["env.no_such_import"] and result.names == []
    with pytest.raises(UsageError, match="no function named 'dispatchh'.*did you mean: dispatch"):
        result.why("dispatchh")
    with pytest.raises(UsageError, match="names no import"):
        asyncify_doctor.analyze(demo_wasm(), imports=[])
    with pytest.raises(InputError):
        asyncify_doctor.analyze(tmp_path / "missing.wasm")
    with pytest.raises(DoctorError):
        asyncify_doctor.audit(b"\0asm\x01\x00\x00\x00\x01\xff")
    assert capfd.readouterr() == ("", "")


def test_the_package_imports_its_api_only_when_asked() -> None:
    """`import asyncify_doctor` (what every command pays) loads the version, not the analysis."""
    code = "import sys, asyncify_doctor; print(sorted(m for m in sys.modules if m.startswith('asyncify_doctor')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['asyncify_doctor', 'asyncify_doctor.version']"
    assert asyncify_doctor.__version__ and callable(asyncify_doctor.analyze)


def test_async_when_and_host_memory_as_the_commands_take_them(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """`async_when=` and `host_memory=` give what the command lines give: the lock_ctl fixture's list
    (calls proven never to suspend left out) and dispatch_table's (loads of its table known), and audit
    of binaries built with those lists finds nothing missing when given the same arguments."""
    from proof import ASYNC, EXPECTS, SRC

    from asyncify_doctor.runtime.toolchain import compile_c
    for name, kwargs in (("lock_ctl", {"async_when": ["env.lock_ctl:1=14"]}), ("dispatch_table", {"host_memory": "module"})):
        exp = EXPECTS[name]
        wasm = compile_c(SRC / f"{name}.c", tmp_path / f"{name}.wasm")
        result = asyncify_doctor.analyze(wasm, imports=ASYNC, **kwargs)
        assert set(result.names) == exp.instrument and set(asyncify_doctor.analyze(wasm, imports=ASYNC).names) == exp.before
        assert result.to_json() == cli_json("analyze", str(wasm), "--imports", ",".join(ASYNC), *exp.analyze) | {"wasm": str(wasm)}
        built = tmp_path / f"{name}.async.wasm"
        built.write_bytes(asyncify(wasm.read_bytes(), AsyncifyOptions(onlylist=tuple(result.names), imports=ASYNC)))
        assert asyncify_doctor.audit(built, imports=ASYNC, **kwargs).ok
        assert asyncify_doctor.audit(built, imports=ASYNC).missing   # without them, what the proofs left out is missing
    lock = asyncify_doctor.analyze(tmp_path / "lock_ctl.wasm", imports=ASYNC, async_when=["env.lock_ctl:1=14"])
    assert "Its calls to env.lock_ctl never suspend" in lock.why("set_cloexec")
    with pytest.raises(UsageError, match="not an async import"):
        asyncify_doctor.analyze(tmp_path / "lock_ctl.wasm", imports=["env.fetch_value"], async_when=["env.lock_ctl:1=14"])
    assert capfd.readouterr() == ("", "")
