"""Forwarding thunks (thunks.py): what Binaryen's -Oz leaves after the asyncify pass is not a missing
function. A C fixture whose suspending functions differ only in constants, asyncified by real Binaryen
(110, 116, 123, 132; 132 also with tail calls: `return_call` thunks) with the list `analyze` gives,
then `-Oz` by the same Binaryen: merge-similar-functions turns the originals into thunks; `audit`
reports 0 missing, the thunks as safe, exit 0, and the optimised binary runs right on wasmtime and
node. A forwarder the list left out stays missing (its callers do not check after it: it crashes).
The shape itself is checked instruction by instruction on hand-written modules."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from independent import wasm_tools
from proof import ASYNC, failure, parse_expect
from test_binaryen_names import binaryen_cmd, npm_member

from asyncify_doctor.runtime.binaryen import wasm_opt_path
from asyncify_doctor.decode import decode
from asyncify_doctor.analysis.thunks import thunk_callee
from asyncify_doctor.runtime.toolchain import compile_c

FIXTURE = Path(__file__).parent / "fixtures" / "thunks" / "similar.c"
EXPECT = parse_expect(FIXTURE)
MERGED = {"fetch_a", "fetch_b", "fetch_c", "wait_a", "wait_b"}   # the two families -Oz merges


def run_binaryen(version: int, wasm: Path, out: Path, *steps: str, pass_args: tuple[str, ...] = ()) -> str:
    """Binaryen `version` on `wasm` with names kept: `asyncify` and/or `-Oz` (and --enable-* flags)."""
    if version == 116:
        cmd = binaryen_cmd(116) + [str(wasm), "-o", str(out), "-g"]
        cmd += [x for a in pass_args for x in ("--pass-arg", a)] + [s for s in steps if not s.startswith("--enable")]
    else:
        cmd = binaryen_cmd(version) + [str(wasm), "-g", *(f"--{s}" if s == "asyncify" else s for s in steps),
                                       *(f"--pass-arg={a}" for a in pass_args), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def build(tmp: Path, version: int, drop: str | None = None, extra: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """The fixture asyncified with analyze's list (minus `drop`), and that binary after -Oz."""
    plain = compile_c(FIXTURE, tmp / "similar.wasm")
    listfile = tmp / "only.txt"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(plain), "--imports", ",".join(ASYNC),
                    "--format", "binaryen", "--binaryen-version", str(version), "-o", str(listfile)], check=True,
                   capture_output=True)
    if drop:
        sep = "," if version < 117 else "\n"
        listfile.write_text(sep.join(n for n in listfile.read_text().strip().split(sep) if n != drop) + "\n")
    asyncified, optimised = tmp / "async.wasm", tmp / "oz.wasm"
    run_binaryen(version, plain, asyncified, "asyncify",
                 pass_args=(f"asyncify-imports@{','.join(ASYNC)}", f"asyncify-onlylist@@{listfile}"))
    run_binaryen(version, asyncified, optimised, *extra, "-Oz")
    return asyncified, optimised


def audit(wasm: Path) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(wasm), "--format", "json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("version, extra", [(110, ()), (116, ()), (123, ()), (132, ()),
                                            (132, ("--enable-tail-call",))])
def test_oz_after_asyncify_leaves_thunks_audit_accepts_and_hosts_run(version: int, extra: tuple[str, ...],
                                                                    tmp_path: Path) -> None:
    asyncified, optimised = build(tmp_path, version, extra=extra)
    code, before = audit(asyncified)
    assert code == 0 and before["missing"] == [] and before["thunks"] == []
    code, rep = audit(optimised)
    thunks = {t["name"] for t in rep["thunks"]}
    assert code == 0 and rep["missing"] == [] and rep["unchecked_calls"] == [], rep["missing"]
    assert thunks and thunks <= MERGED                       # -Oz really made thunks of the merged families
    assert rep["needed"] - rep["instrumented"] == len(thunks)   # without them, exactly these were "missing"
    m = decode(optimised.read_bytes())
    tail = {f.name for f in m.functions if not f.imported and m.body_ops(f.index)[-2][0] == 0x12}
    assert (tail == thunks) if extra else not tail           # `return_call` thunks only with tail calls on
    for host in ("wasmtime", "node"):
        assert failure(host, optimised, EXPECT) is None


def test_a_forwarder_left_out_of_the_list_stays_missing(tmp_path: Path) -> None:
    """fetch_fwd is a forwarder from the start; left out of the onlylist, its callers do not check for
    an unwind after it: audit says missing (exit 1), and the host really breaks. After -Oz (which
    inlines fetch_two into it and step into run) it is an unchecked call of run's."""
    asyncified, optimised = build(tmp_path, 132, drop="fetch_fwd")
    code, rep = audit(asyncified)
    assert code == 1 and [f["name"] for f in rep["missing"]] == ["fetch_fwd"] and rep["thunks"] == [], rep["missing"]
    code, rep = audit(optimised)
    assert code == 1 and [(u["caller"], u["callee"]) for u in rep["unchecked_calls"]] == [("run", "fetch_fwd")]
    assert "fetch_fwd" not in {t["name"] for t in rep["thunks"]}
    for wasm in (asyncified, optimised):
        assert failure("wasmtime", wasm, EXPECT) is not None


SHAPES = """
(module
  (type $ref (func))
  (import "env" "ext" (func $ext (param i32 i32 i32) (result i32)))
  (global $g (mut i32) (i32.const 0))
  (elem declare func $x)
  (func $x)
  (func $shared (param i32 i32 i32) (result i32) local.get 0)
  (func $shared_v (param i32 i32 i32))
  (func $shared_many (param i32 i64 f32 f64 v128 (ref $ref)) (result i32) local.get 0)
  (func $ok (param i32 i32) (result i32) local.get 0 local.get 1 i32.const 5 call $shared)
  (func $ok_tail (param i32 i32) (result i32) local.get 0 local.get 1 i32.const 5 return_call $shared)
  (func $ok_void (param i32 i32) local.get 0 local.get 1 i32.const -7 call $shared_v)
  (func $ok_consts (param i32) (result i32)
    local.get 0 i64.const 1 f32.const 2 f64.const 3 v128.const i32x4 1 2 3 4 ref.func $x call $shared_many)
  (func $ok_plain (param i32 i32 i32) (result i32) local.get 0 local.get 1 local.get 2 call $shared)
  (func $swapped (param i32 i32) (result i32) local.get 1 local.get 0 i32.const 5 call $shared)
  (func $param_dropped (param i32 i32) (result i32) local.get 0 i32.const 5 i32.const 5 call $shared)
  (func $with_local (param i32 i32) (result i32) (local i32) local.get 0 local.get 1 i32.const 5 call $shared)
  (func $reads_global (param i32 i32) (result i32) local.get 0 local.get 1 global.get $g call $shared)
  (func $calls_first (param i32 i32) (result i32) local.get 0 local.get 1 i32.const 1 call $ok call $shared)
  (func $work_after (param i32 i32) (result i32) local.get 0 local.get 1 i32.const 5 call $shared i32.const 1 i32.add)
  (func $drops (param i32 i32) local.get 0 local.get 1 i32.const 5 call $shared drop)
  (func $indirect (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.const 5 i32.const 0 call_indirect (param i32 i32 i32) (result i32))
  (func $to_import (param i32 i32) (result i32) local.get 0 local.get 1 i32.const 5 call $ext)
  (table 1 funcref)
)
"""


def test_the_thunk_shape_exactly(tmp_path: Path) -> None:
    src, wasm = tmp_path / "shapes.wat", tmp_path / "shapes.wasm"
    src.write_text(SHAPES)
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(wasm)], check=True)
    m = decode(wasm.read_bytes())
    by = {f.name: f.index for f in m.functions}
    got = {name: thunk_callee(m, i) for name, i in by.items() if not m.functions[i].imported}
    accepted = {name for name, callee in got.items() if callee is not None}
    assert accepted == {"ok", "ok_tail", "ok_void", "ok_consts", "ok_plain", "to_import"}
    assert got["ok"] == got["ok_tail"] == by["shared"] and got["ok_consts"] == by["shared_many"]
    assert got["to_import"] == by["ext"]   # the shape; forwarding_thunks then wants an instrumented callee


# --- a real npm build (opt-in: downloads from npm, and -Oz on it takes minutes) ------------------

def test_quickjs_asyncified_then_oz_audits_clean(tmp_path: Path) -> None:
    """quickjs-emscripten's debug sync build, asyncified by wasm-opt 132 with analyze's list, then
    `wasm-opt -Oz`: 38 of its functions become merge-similar-functions thunks, which audit reported
    as missing (exit 1) before thunks.py."""
    from test_binaryen_names import QJS_ASYNC, QJS_DEBUG_SYNC
    wasm = npm_member(*QJS_DEBUG_SYNC)
    listfile, asyncified, optimised = tmp_path / "only.txt", tmp_path / "async.wasm", tmp_path / "oz.wasm"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", QJS_ASYNC,
                    "--format", "binaryen", "-o", str(listfile)], check=True, capture_output=True)
    exe = wasm_opt_path() or "wasm-opt"
    subprocess.run([exe, str(wasm), "--asyncify", f"--pass-arg=asyncify-imports@{QJS_ASYNC}",
                    f"--pass-arg=asyncify-onlylist@@{listfile}", "-o", str(asyncified)], check=True, capture_output=True)
    subprocess.run([exe, str(asyncified), "-Oz", "-o", str(optimised)], check=True, capture_output=True)
    code, rep = audit(optimised)
    assert code == 0 and rep["missing"] == [] and rep["unchecked_calls"] == []
    assert len(rep["thunks"]) == rep["needed"] - rep["instrumented"] > 0
