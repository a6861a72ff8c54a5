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


def test_async_when_fcntl64_on_the_jspi_build() -> None:
    """--async-when env.__syscall_fcntl64:1=14 (F_SETLKW; Emscripten's libsyscall.js: `(fd, cmd,
    varargs)`): musl's __fdopen, socket and socketpair call the import with constant commands and
    leave the list; fcntl passes its own cmd, and closes an fd only for F_DUPFD_CLOEXEC, so it can
    suspend only for 14 or 1030, and callers that pass F_GETFL/F_SETFL (php_set_sock_blocking)
    leave it too. Edges the trace saw stay: with --observed every observed frame is listed."""
    from asyncify_doctor.analysis.pipeline import run_analysis
    from asyncify_doctor.decode import read_module
    m = read_module(php_wasm("jspi"))
    imports = [f"@{IMPORTS}"]
    when = ["env.__syscall_fcntl64:1=14"]
    before = set(run_analysis(m, imports, "ignore").analysis.names())
    res = run_analysis(m, imports, "ignore", async_when=when)
    after = set(res.analysis.names())
    assert after < before and len(before) - len(after) >= 15
    assert {"__fdopen", "socket", "socketpair", "php_set_sock_blocking"} <= before - after
    assert "fcntl" in after
    fcntl = m.function_named("fcntl").index  # type: ignore[union-attr]
    assert res.analysis.pruning.conditions[fcntl] == (1, frozenset({14, 1030}))  # type: ignore[union-attr]
    typed_before = set(run_analysis(m, imports, "typed").analysis.names())
    typed_after = set(run_analysis(m, imports, "typed", async_when=when).analysis.names())
    assert typed_after < typed_before
    sys.path.insert(0, str(BENCH))
    import php_trace
    stacks_file = php_trace.NODE_DIR / "stacks.json"
    if not stacks_file.exists():
        php_trace.install()
        php_trace.analysis(str(IMPORTS))
    stacks = json.loads(stacks_file.read_text())["stacks"]
    observed = {f["name"] for s in stacks for f in s["frames"]}
    for mode in ("ignore", "typed"):
        names = set(run_analysis(m, [*imports, "__asyncjs__*"], mode, observed=stacks, async_when=when).analysis.names())  # type: ignore[arg-type]
        assert observed <= names, (mode, sorted(observed - names))
