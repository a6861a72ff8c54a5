"""Opt-in (ASYNCIFY_DOCTOR_SLOW=1): the real PHP builds of @php-wasm/node-8-3@3.1.54 — audit, jspi,
the trace experiment with a real crash on the shipped Asyncify build, and the wasmtime tracer's
shadow-stack rewrite of both builds."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.runtime.host.shadow_stack import instrument
from conftest import php_wasm
from independent import validate

BENCH = Path(__file__).parent.parent / "bench"
IMPORTS = BENCH / "php_trace" / "imports.list"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *args], capture_output=True, text=True)


def test_audit_of_the_shipped_asyncify_build() -> None:
    proc = cli("audit", str(php_wasm("asyncify")), "--imports", f"@{IMPORTS}", "--indirect", "ignore", "--format", "json")
    rep = json.loads(proc.stdout)
    assert proc.returncode == 1 and rep["instrumented"] == 1060
    assert "ZEND_FETCH_DIM_R_SPEC_TMPVAR_CONST_HANDLER" in {m["name"] for m in rep["missing"]}


def test_jspi_build_needs_no_trampolines() -> None:
    proc = cli("jspi", str(php_wasm("jspi")), "--imports", f"@{IMPORTS}", "--indirect", "ignore", "--format", "json")
    rep = json.loads(proc.stdout)
    assert rep["hazards"] == [] and len(rep["suspending_exports"]) > 1000


def test_trace_experiment_finds_a_real_crash() -> None:
    php_wasm("jspi")
    sys.path.insert(0, str(BENCH))
    import php_trace
    php_trace.install()
    res = php_trace.analysis(str(IMPORTS))
    assert res["functions"] > 50 and res["static_typed"]["covers_observed"] == res["functions"]
    assert "ZEND_FETCH_DIM_R_SPEC_TMPVAR_CONST_HANDLER" in res["not_instrumented_in_asyncify_build"]
    runs = php_trace.asyncify_runs()
    assert "array_access           exit 1: RuntimeError: memory access out of bounds" in runs


@pytest.mark.parametrize("flavour", ["asyncify", "jspi"])
def test_shadow_stack_rewrite_of_the_real_builds_validates(flavour: str, tmp_path: Path) -> None:
    out = tmp_path / "shadowed.wasm"
    out.write_bytes(instrument(php_wasm(flavour).read_bytes()).wasm)
    assert validate(out) is None
