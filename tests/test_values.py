"""The value analysis (`values`) and what it narrows: call_indirect target sets and --async-when.

Real parts only: random programs are assembled by wasm-tools and run on wasmtime, whose calls are
recorded; the C fixtures (tests/fixtures/src, EXPECT blocks) are built by clang and proven on both
hosts by test_proof.py; here they are also compared with the list the same build gets without the
value analysis."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from independent import wasm_tools
from proof import ASYNC, EXPECTS, SRC

from asyncify_doctor.analysis.pipeline import analyze_prepared, run_analysis
from asyncify_doctor.analysis.selection import select_imports
from asyncify_doctor.decode import read_module
from asyncify_doctor.errors import UsageError
from asyncify_doctor.graph import values as V
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.runtime.toolchain import build_all

NEW_FIXTURES = ["index_values", "dispatch_table", "dispatch_written", "lock_ctl"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(SRC, tmp_path_factory.mktemp("fixtures"))


# --- the domain ---------------------------------------------------------------------------------

I32_BIN = [*range(0x46, 0x50), *range(0x6A, 0x79)]
I32_NAMES = {0x46: "eq", 0x47: "ne", 0x48: "lt_s", 0x49: "lt_u", 0x4A: "gt_s", 0x4B: "gt_u", 0x4C: "le_s",
             0x4D: "le_u", 0x4E: "ge_s", 0x4F: "ge_u", 0x6A: "add", 0x6B: "sub", 0x6C: "mul", 0x6D: "div_s",
             0x6E: "div_u", 0x6F: "rem_s", 0x70: "rem_u", 0x71: "and", 0x72: "or", 0x73: "xor", 0x74: "shl",
             0x75: "shr_s", 0x76: "shr_u", 0x77: "rotl", 0x78: "rotr"}
I32_UN = {0x45: "i32.eqz", 0x67: "i32.clz", 0x68: "i32.ctz", 0x69: "i32.popcnt", 0xC0: "i32.extend8_s",
          0xC1: "i32.extend16_s"}


@pytest.fixture(scope="module")
def ops_module(tmp_path_factory: pytest.TempPathFactory):
    """Every i32 operation the domain folds, as exports of one module run by wasmtime."""
    import wasmtime
    funcs = [f'(func (export "b{c:x}") (param i32 i32) (result i32) (i32.{n} (local.get 0) (local.get 1)))'
             for c, n in I32_NAMES.items()]
    funcs += [f'(func (export "u{c:x}") (param i32) (result i32) ({n} (local.get 0)))' for c, n in I32_UN.items()]
    path = tmp_path_factory.mktemp("ops") / "ops.wasm"
    wat = path.with_suffix(".wat")
    wat.write_text("(module " + " ".join(funcs) + ")")
    subprocess.run([wasm_tools(), "parse", str(wat), "-o", str(path)], check=True)
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module.from_file(store.engine, str(path)), [])
    return store, inst.exports(store)


INTERESTING = [0, 1, 2, 3, 7, 31, 32, 33, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]


def test_folding_is_what_wasmtime_computes(ops_module) -> None:
    """`fold_bin`/`fold_un` (the constants the interpreter folds) against a real engine."""
    import wasmtime
    store, exports = ops_module
    rng = random.Random(3)
    samples = INTERESTING + [rng.getrandbits(32) for _ in range(12)]
    for code, name in I32_NAMES.items():
        fn = exports[f"b{code:x}"]
        for a in samples:
            for b in rng.sample(samples, 8) + [0, 1, 31, 32]:
                sa, sb = V._signed(a, 32), V._signed(b, 32)
                try:
                    want = fn(store, sa, sb) & V.M32
                except wasmtime.Trap:
                    want = None
                assert V.fold_bin(code, a, b) == want, (name, a, b)
    for code, name in I32_UN.items():
        fn = exports[f"u{code:x}"]
        for a in samples:
            assert V.fold_un(code, a) == fn(store, V._signed(a, 32)) & V.M32, (name, a)


def abstract(draw, bits: int = 32) -> tuple[V.AbsVal, list[int]]:
    """An abstract value and some members of it."""
    mask = (1 << bits) - 1
    kind = draw(st.sampled_from(["set", "range", "top"]))
    small = st.one_of(st.integers(0, 40), st.integers(0, mask), st.sampled_from(INTERESTING))
    if kind == "set":
        xs = draw(st.lists(small, min_size=1, max_size=6))
        return frozenset(xs), xs
    if kind == "range":
        lo = draw(small)
        hi = min(mask, lo + draw(st.integers(0, 300)))
        return (lo, hi), [lo, hi, (lo + hi) // 2]
    xs = draw(st.lists(small, min_size=1, max_size=4))
    return None, xs


@given(st.data())
def test_abstract_operations_contain_every_concrete_result(data) -> None:
    """Soundness of the domain: for members a of A and b of B, op(a, b) is a member of op(A, B)."""
    code = data.draw(st.sampled_from(I32_BIN + list(V.UNARY_OPS & set(I32_UN))))
    a_abs, a_xs = abstract(data.draw)
    if code in V.UNARY_OPS:
        out = V.un_values(code, a_abs)
        for a in a_xs:
            assert _contains(out, V.fold_un(code, a)), (code, a_abs, a, out)
        return
    b_abs, b_xs = abstract(data.draw)
    out = V.bin_values(code, a_abs, b_abs)
    for a in a_xs:
        for b in b_xs:
            r = V.fold_bin(code, a, b)
            if r is not None:
                assert _contains(out, r), (I32_NAMES.get(code), a_abs, b_abs, a, b, r, out)


def _contains(v: V.AbsVal, x: int) -> bool:
    if v is None:
        return True
    if isinstance(v, frozenset):
        return x in v
    return v[0] <= x <= v[1]


def test_joins_contain_both_sides() -> None:
    rng = random.Random(5)
    for _ in range(500):
        a = frozenset(rng.randrange(100) for _ in range(rng.randrange(1, 40)))
        b = frozenset(rng.randrange(1 << 32) for _ in range(rng.randrange(1, 40)))
        j = V.join_values(a, b)
        assert all(_contains(j, x) for x in a | b)
        assert V.join_values((3, 9), frozenset({1})) == (1, 9)
        assert V.join_values(None, a) is None


# --- the decoder --------------------------------------------------------------------------------

def test_decoder_counts_what_the_scanner_counts(built: dict[str, Path], features_wasm: Path) -> None:
    """Every body the interpreter reads has as many instructions as the (C and Python) scanner
    counted, and a call_indirect wherever the scanner saw one."""
    checked = 0
    for wasm in [*built.values(), features_wasm]:
        m = read_module(wasm)
        for f in range(m.num_imported_functions, len(m.functions)):
            try:
                body = V.decode_body(m, f)
            except V.Unsupported:
                continue
            i = f - m.num_imported_functions
            n_instr, _calls, n_indirect = m.code.counts[3 * i:3 * i + 3]
            assert len(body.codes) == n_instr, (wasm.name, f)
            assert sum(c in (0x11, 0x13) for c in body.codes) <= n_indirect
            checked += 1
    assert checked > 50


# --- call_indirect target sets ------------------------------------------------------------------

def _before(wasm: Path, args: list[str]) -> list[str]:
    """The list without the value analysis (typed sites) and without --async-when."""
    m = read_module(wasm)
    sel = select_imports(m, list(ASYNC))
    host_table = args[args.index("--host-table") + 1] if "--host-table" in args else "sound"
    host_memory = args[args.index("--host-memory") + 1] if "--host-memory" in args else "sound"
    g = CallGraph(m, host_table, trampolines=sel.trampolines, host_memory=host_memory, index_values=False)  # type: ignore[arg-type]
    return analyze_prepared(m, sel, g, sel.functions).analysis.names()


def _after(wasm: Path, args: list[str]) -> list[str]:
    when = [args[i + 1] for i, a in enumerate(args) if a == "--async-when"]
    host_memory = args[args.index("--host-memory") + 1] if "--host-memory" in args else "sound"
    return run_analysis(wasm, list(ASYNC), host_memory=host_memory, async_when=when).analysis.names()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NEW_FIXTURES)
def test_fixture_lists_are_smaller_than_before_and_exact(name: str, built: dict[str, Path]) -> None:
    """The hand-checked list with the value analysis, and the larger one the same build gets
    without it (test_proof runs both hosts on the former and removes each entry in turn)."""
    exp = EXPECTS[name]
    after = set(_after(built[name], exp.analyze))
    assert after == exp.instrument
    before = set(_before(built[name], exp.analyze))
    if exp.before is not None:
        assert before == exp.before
        assert after < before
    else:
        assert after == before


def test_why_says_which_target_set_a_site_got(built: dict[str, Path]) -> None:
    from asyncify_doctor.render.report import why_text
    an = run_analysis(built["index_values"], list(ASYNC)).analysis
    m = an.module
    apply = m.function_named("apply").index  # type: ignore[union-attr]
    sites = [an.graph.site(s) for s in an.graph.indirect_sites[apply]]
    assert [s.index for s in sites] and all(s.index is not None for s in sites)
    assert {m.functions[t].name for s in an.graph.indirect_sites[apply] for t in an.graph.site_targets(s)} == \
        {"op_double", "op_inc"}
    assert "param 0 of apply" in sites[0].proof and "caller" in sites[0].proof
    text, listed = why_text(an, m.function_named("call_any").index)  # type: ignore[union-attr]
    assert listed and "may use any slot" in text and "memory 0 is exported" in text
    an = run_analysis(built["dispatch_table"], list(ASYNC), host_memory="module").analysis
    m = an.module
    f = m.function_named("os_double").index  # type: ignore[union-attr]
    site = an.graph.site(an.graph.indirect_sites[f][0])
    assert "data segment" in site.proof and "no store can reach" in site.proof
    text, listed = why_text(an, f)
    assert not listed


def test_a_setter_with_an_unknown_index_keeps_the_table_typed(built: dict[str, Path]) -> None:
    an = run_analysis(built["dispatch_written"], list(ASYNC), host_memory="module").analysis
    m = an.module
    f = m.function_named("os_double").index  # type: ignore[union-attr]
    site = an.graph.site(an.graph.indirect_sites[f][0])
    note = an.graph.index_notes[(f, site.type_index, site.table)]
    assert "set_syscall stores at an address not known" in note


def test_third_party_benchmark_is_sound_and_precise_where_decidable() -> None:
    """The 24 ISSTA'23 microbenchmarks (bench/callgraph_soundness.py): sound on all; exact on all but
    the two whose element or data segment lands where an imported global says."""
    bench = Path(__file__).parent.parent / "bench"
    sys.path.insert(0, str(bench))
    import callgraph_soundness
    if not (callgraph_soundness.CACHE / callgraph_soundness.GROUND_TRUTH).exists():
        pytest.skip("the benchmark is not in the cache: run bench/callgraph_soundness.py once")
    results = callgraph_soundness.run()
    assert all(r["sound"] for r in results.values())
    assert sorted(k for k, r in results.items() if not r["precise"]) == \
        ["memory-init-offset-imported-global", "table-init-offset-imported-global"]


# --- random programs: the new sets are subsets of the typed ones and supersets of what runs ------

TARGETS = 6          # functions of type $u in the table, each marks its number when it runs
SLOTS = 10
DATA = 256           # data words at DATA.. hold small numbers


def _expr(rng: random.Random, depth: int, ctx: dict) -> str:
    leaves = [lambda: f"(i32.const {rng.randrange(-1, SLOTS + 2)})", lambda: "(local.get $p)",
              lambda: f"(i32.load (i32.const {DATA + 4 * rng.randrange(8)}))",
              lambda: f"(call $res{rng.randrange(ctx['results'])})", lambda: "(global.get $g)",
              lambda: "(global.get $gm)", lambda: "(local.get $l)"]
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(leaves)()
    def e() -> str:
        return _expr(rng, depth - 1, ctx)
    forms = [lambda: f"(i32.and {e()} (i32.const {rng.choice([1, 3, 7])}))",
             lambda: f"(i32.add {e()} (i32.const {rng.randrange(3)}))",
             lambda: f"(i32.sub {e()} {e()})", lambda: f"(i32.shr_u {e()} (i32.const 1))",
             lambda: f"(i32.rem_u {e()} (i32.const {rng.randrange(1, 8)}))",
             lambda: f"(i32.xor {e()} {e()})", lambda: f"(i32.mul {e()} {e()})",
             lambda: f"(select {e()} {e()} (local.get $p))",
             lambda: f"(if (result i32) (local.get $p) (then {e()}) (else {e()}))",
             lambda: f"(i32.load (i32.add (i32.const {DATA}) (i32.shl (i32.and {e()} (i32.const 7)) (i32.const 2))))",
             lambda: f"(i32.load8_u (i32.const {DATA + rng.randrange(32)}))",
             lambda: f"(i32.eq {e()} {e()})"]
    return rng.choice(forms)()


def random_program(rng: random.Random) -> tuple[str, dict]:
    ctx = {"results": 2, "sites": rng.randrange(2, 5), "export_memory": rng.random() < 0.3,
           "export_table": rng.random() < 0.2, "poke": rng.random() < 0.3}
    export_memory = '(export "memory") ' if ctx["export_memory"] else ""
    export_table = '(export "table") ' if ctx["export_table"] else ""
    parts = ['(import "env" "mark" (func $mark (param i32)))', "(type $u (func (param i32) (result i32)))",
             "(type $w (func (param i32 i32) (result i32)))",
             f"(memory {export_memory}1)", f"(table {export_table}{SLOTS} funcref)",
             f"(global $g i32 (i32.const {rng.randrange(SLOTS)}))",
             f"(global $gm (mut i32) (i32.const {rng.randrange(SLOTS)}))"]
    words = b"".join(rng.randrange(SLOTS + 1).to_bytes(4, "little") for _ in range(8))
    escaped = "".join(f"\\{b:02x}" for b in words)
    parts.append(f'(data (i32.const {DATA}) "{escaped}")')
    for t in range(TARGETS):
        parts.append(f"(func $t{t} (type $u) (call $mark (i32.const {t})) (local.get 0))")
    parts.append("(func $w0 (type $w) (call $mark (i32.const 99)) (local.get 0))")
    filled = rng.randrange(SLOTS // 2, SLOTS + 1)   # then segments at constant offsets (later ones win)
    parts.append(f"(elem (i32.const 0) func {' '.join(f'$t{rng.randrange(TARGETS)}' for _ in range(filled))})")
    for _ in range(2):
        names = " ".join(rng.choice([f"$t{rng.randrange(TARGETS)}"] * 4 + ["$w0"]) for _ in range(rng.randrange(1, 5)))
        parts.append(f"(elem (i32.const {rng.randrange(SLOTS - 4)}) func {names})")
    for r in range(ctx["results"]):
        result = rng.choice([f"(i32.const {rng.randrange(SLOTS)})", f"(i32.load (i32.const {DATA + 4 * rng.randrange(8)}))",
                             "(global.get $gm)", f"(i32.and (global.get $gm) (i32.const {rng.choice([1, 3])}))"])
        parts.append(f"(func $res{r} (result i32) {result})")
    parts.append(f"(func $setg (param $p i32) (global.set $gm (i32.const {rng.randrange(SLOTS)})))")
    if ctx["poke"]:
        parts.append('(func (export "poke") (param $a i32) (param $v i32) (i32.store (local.get $a) (local.get $v)))')
    for k in range(ctx["sites"]):
        body = []
        if rng.random() < 0.3:
            body.append(f"(local.set $l {_expr(rng, 2, ctx)})")
        if rng.random() < 0.3:
            body.append("(loop $L (local.set $l (i32.add (local.get $l) (i32.const 1))) "
                        "(br_if $L (i32.lt_u (local.get $l) (i32.const 3))))")
        if rng.random() < 0.3:
            body.append(f"(i32.store (i32.const {DATA + 4 * rng.randrange(8)}) {_expr(rng, 1, ctx)})")
        if rng.random() < 0.2:
            body.append("(call $setg (local.get $p))")
        body.append(f"(call $mark (i32.const {1000 + k}))")
        body.append(f"(call_indirect (type $u) (i32.const 7) {_expr(rng, 3, ctx)})")
        parts.append(f"(func $site{k} (param $p i32) (result i32) (local $l i32) {' '.join(body)})")
        arg = rng.choice(["(local.get $x)", f"(i32.const {rng.randrange(4)})", "(i32.const 1)"])
        calls = " ".join(f"(drop (call $site{k} {a}))" for a in
                         [arg] + [f"(i32.const {rng.randrange(4)})" for _ in range(rng.randrange(2))])
        export = f'(export "site{k}")' if rng.random() < 0.15 else ""   # then nothing is known of $p
        if export:
            parts[-1] = parts[-1].replace(f"(func $site{k} ", f"(func $site{k} {export} ")
        parts.append(f'(func (export "run{k}") (param $x i32) {calls})')
    return "(module\n  " + "\n  ".join(parts) + "\n)", ctx


def _observed(path: Path, ctx: dict, rng: random.Random) -> tuple[dict[int, set[int]], bool, bool]:
    """Which targets each site reached in real runs (by their marks), after the host wrote what it
    may: random words into an exported memory, another function into a slot of an exported table."""
    import wasmtime
    store = wasmtime.Store()
    module = wasmtime.Module.from_file(store.engine, str(path))
    marks: list[int] = []
    mark = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), marks.append)
    exports = wasmtime.Instance(store, module, [mark]).exports(store)
    wrote_memory = wrote_table = False
    if ctx["export_memory"] and rng.random() < 0.7:
        exports["memory"].write(store, bytes(rng.randrange(SLOTS) for _ in range(32)), DATA)
        wrote_memory = True
    if ctx["export_table"] and rng.random() < 0.7:
        table = exports["table"]
        for src in rng.sample(range(SLOTS), SLOTS):
            func = table.get(store, src)
            if isinstance(func, wasmtime.Func):   # not a null slot
                table.set(store, rng.randrange(SLOTS), func)
                wrote_table = True
                break
    if ctx["poke"]:
        exports["poke"](store, DATA + 4 * rng.randrange(8), rng.randrange(SLOTS))
    for k in range(ctx["sites"]):
        for x in (0, 1, 2, 3, 4, 5, 6, 7, 9, -1):
            try:
                exports[f"run{k}"](store, x)
            except wasmtime.Trap:
                pass
    seen: dict[int, set[int]] = {}
    site = None
    for v in marks:
        if v >= 1000:
            site = v - 1000
        elif site is not None:
            seen.setdefault(site, set()).add(v)
            site = None
    return seen, wrote_memory, wrote_table


def test_random_programs_targets_between_what_runs_and_the_typed_set(tmp_path: Path) -> None:
    rng = random.Random(2024)
    narrowed = total = 0
    for n in range(60):
        wat, ctx = random_program(rng)
        src, path = tmp_path / f"p{n}.wat", tmp_path / f"p{n}.wasm"
        src.write_text(wat)
        subprocess.run([wasm_tools(), "parse", str(src), "-o", str(path)], check=True)
        seen, wrote_memory, wrote_table = _observed(path, ctx, rng)
        m = read_module(path)
        typed = CallGraph(m, index_values=False)
        graphs = [CallGraph(m)]
        if not wrote_memory:
            graphs.append(CallGraph(m, host_memory="module"))
        if not wrote_table:
            graphs.append(CallGraph(m, host_table="module", host_memory="sound" if wrote_memory else "module"))
        for k in range(ctx["sites"]):
            f = m.function_named(f"site{k}").index  # type: ignore[union-attr]
            old = {t for s in typed.indirect_sites[f] for t in typed.site_targets(s)}
            ran = {m.function_named(f"t{t}").index for t in seen.get(k, ()) if t < TARGETS}  # type: ignore[union-attr]
            for g in graphs:
                new = {t for s in g.indirect_sites[f] for t in g.site_targets(s)}
                if g.host_table == "sound":
                    assert new <= old, (n, k, wat)
                assert ran <= new, (n, k, g.host_table, g.host_memory, sorted(ran - new), wat)
                total += 1
                narrowed += new < old
    assert narrowed > total // 4, (narrowed, total)   # the analysis does narrow, often


# --- --async-when -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ("env.lock_ctl", "expected IMPORT:ARG=V"),
    ("env.nope:1=14", "imports no function env.nope"),
    ("env.lock_ctl:3=14", "takes 3 argument(s)"),
    ("env.lock_ctl:x=14", "zero-based argument number"),
    ("env.lock_ctl:1=fourteen", "values must be integers"),
    ("env.fetch_value:0=1", "not an async import"),
])
def test_async_when_bad_statements_are_one_line(spec: str, message: str, built: dict[str, Path]) -> None:
    with pytest.raises(UsageError) as err:
        run_analysis(built["lock_ctl"], ["env.lock_ctl"], async_when=[spec])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_async_when_cli_and_why(built: dict[str, Path]) -> None:
    wasm = built["lock_ctl"]
    base = [sys.executable, "-m", "asyncify_doctor"]
    args = ["--imports", ",".join(ASYNC), "--async-when", "lock_ctl:1=0xe"]   # a bare name is env.NAME
    out = subprocess.run([*base, "why", str(wasm), "get_flags", *args], capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    assert "Its calls to my_fcntl never suspend" in out.stdout and "argument 1 is {3}" in out.stdout
    assert "my_fcntl can suspend only when its argument 1 is in {14}" in out.stdout
    out = subprocess.run([*base, "why", str(wasm), "set_cloexec", *args], capture_output=True, text=True, check=False)
    assert "Its calls to env.lock_ctl never suspend" in out.stdout and "argument 1 is {2}" in out.stdout
    out = subprocess.run([*base, "why", str(wasm), "ctl", *args], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "ctl → my_fcntl → env.lock_ctl" in out.stdout
    out = subprocess.run([*base, "analyze", str(wasm), *args], capture_output=True, text=True, check=True)
    assert "note: --async-when left out 2 call(s) proven never to suspend" in out.stderr and "--observed" in out.stderr
    (stacks := Path(wasm).with_suffix(".stacks.json")).write_text(json.dumps({"stacks": [
        {"import": "env.lock_ctl", "frames": [{"name": "set_cloexec"}, {"name": "open_file"}, {"name": "run"}], "count": 1}]}))
    out = subprocess.run([*base, "analyze", str(wasm), *args, "--observed", str(stacks)], capture_output=True, text=True, check=True)
    assert "note: --async-when" not in out.stderr and "set_cloexec" in out.stdout.split()
    out = subprocess.run([*base, "analyze", str(wasm), *args, "--async-when", "env.lock_ctl:2=1"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "named twice" in out.stderr and "Traceback" not in out.stderr


def test_async_when_path_conditions(tmp_path: Path) -> None:
    """A call of an always-async function guarded by a test of a parameter (fcntl's F_DUPFD_CLOEXEC
    path closing an fd) makes the caller conditional on that parameter."""
    wat = """(module
      (import "env" "lock_ctl" (func $lock (param i32 i32 i32) (result i32)))
      (import "env" "sleep_ms" (func $sleep (param i32)))
      (func $fcntl (export "fcntl") (param $fd i32) (param $cmd i32) (result i32)
        (if (i32.eq (local.get $cmd) (i32.const 1030)) (then (call $sleep (i32.const 1))))
        (if (i32.ne (local.get $cmd) (i32.const 9)) (then (drop (call $lock (local.get $fd) (local.get $cmd) (i32.const 0)))))
        (i32.const 0))
      (func $getfl (export "getfl") (result i32) (call $fcntl (i32.const 1) (i32.const 3)))
      (func $dup (export "dup") (result i32) (call $fcntl (i32.const 1) (i32.const 1030)))
      (func $unknown (export "unknown") (param i32) (result i32) (call $fcntl (i32.const 1) (local.get 0))))"""
    (tmp_path / "p.wat").write_text(wat)
    subprocess.run([wasm_tools(), "parse", str(tmp_path / "p.wat"), "-o", str(tmp_path / "p.wasm")], check=True)
    res = run_analysis(tmp_path / "p.wasm", ["env.lock_ctl", "env.sleep_ms"], async_when=["env.lock_ctl:1=14"])
    assert sorted(res.analysis.names()) == ["dup", "fcntl", "unknown"]
    m = res.module
    fcntl = m.function_named("fcntl").index  # type: ignore[union-attr]
    assert res.analysis.pruning.conditions[fcntl] == (1, frozenset({14, 1030}))  # type: ignore[union-attr]


def test_async_when_drops_calls_that_never_run(tmp_path: Path) -> None:
    """musl's socketpair as emcc compiles it: the retry's fcntl calls follow a `br_if` on a constant
    (the inlined socketcall always fails), so they never run, whatever they pass."""
    wat = """(module
      (import "env" "lock_ctl" (func $lock (param i32 i32 i32) (result i32)))
      (func $pair (export "pair") (param $fd i32) (param $cmd i32) (result i32)
        (block $out (br_if $out (i32.const 1)) (drop (call $lock (local.get $fd) (local.get $cmd) (i32.const 0))))
        (if (i32.eqz (i32.const 1)) (then (drop (call $lock (local.get $fd) (local.get $cmd) (i32.const 0)))))
        (i32.const -1))
      (func $live (export "live") (param $fd i32) (param $cmd i32) (result i32)
        (block $out (br_if $out (local.get $fd)) (drop (call $lock (local.get $fd) (local.get $cmd) (i32.const 0))))
        (i32.const 0)))"""
    (tmp_path / "d.wat").write_text(wat)
    subprocess.run([wasm_tools(), "parse", str(tmp_path / "d.wat"), "-o", str(tmp_path / "d.wasm")], check=True)
    res = run_analysis(tmp_path / "d.wasm", ["env.lock_ctl"], async_when=["env.lock_ctl:1=14"])
    assert res.analysis.names() == ["live"]
    assert run_analysis(tmp_path / "d.wasm", ["env.lock_ctl"]).analysis.names() == ["pair", "live"]
    from asyncify_doctor.render.report import why_text
    pair = res.module.function_named("pair") or next(f for f in res.module.functions if f.index == 1)
    assert "every call of it is in code that never runs" in why_text(res.analysis, pair.index)[0]


def test_async_when_keeps_what_a_trace_saw(built: dict[str, Path]) -> None:
    """An edge seen at run time is never pruned: the recording outranks the statement."""
    wasm = built["lock_ctl"]
    stacks = [{"frames": [{"name": "my_fcntl"}, {"name": "get_flags"}, {"name": "open_file"}, {"name": "run"}],
               "import": "env.lock_ctl"}]
    res = run_analysis(wasm, list(ASYNC), observed=stacks, async_when=["env.lock_ctl:1=14"])
    assert {"get_flags", "open_file"} <= set(res.analysis.names())


def test_constant_conditions_take_one_way(tmp_path: Path) -> None:
    """`if`, `br_if` and `select` on a constant take only the way it goes: the dead arm's values never
    join (each export's call_indirect index is then one slot: the fetching function is out of reach)."""
    wat = """(module
      (import "env" "fetch_value" (func $fetch (param i32) (result i32)))
      (type $u (func (param i32) (result i32)))
      (table 3 funcref) (elem (i32.const 0) $op_fetch $op_double $op_inc)
      (func $op_fetch (type $u) (call $fetch (local.get 0)))
      (func $op_double (type $u) (i32.mul (local.get 0) (i32.const 2)))
      (func $op_inc (type $u) (i32.add (local.get 0) (i32.const 1)))
      (func (export "by_if") (param i32) (result i32) (local $k i32)
        (local.set $k (i32.const 0))
        (if (i32.eq (i32.const 2) (i32.const 3)) (then (local.set $k (i32.const 0))) (else (local.set $k (i32.const 1))))
        (if (i32.const 1) (then (nop)) (else (local.set $k (i32.const 0))))
        (call_indirect (type $u) (local.get 0) (local.get $k)))
      (func (export "by_br_if") (param i32) (result i32) (local $k i32)
        (local.set $k (i32.const 2))
        (block $b (br_if $b (i32.const 0)) (local.set $k (i32.const 1)))
        (block $c (br_if $c (i32.const 7)) (local.set $k (i32.const 0)))
        (call_indirect (type $u) (local.get 0) (local.get $k)))
      (func (export "by_select") (param i32) (result i32)
        (call_indirect (type $u) (local.get 0) (select (i32.const 2) (i32.const 0) (i32.const 1)))))"""
    (tmp_path / "c.wat").write_text(wat)
    subprocess.run([wasm_tools(), "parse", str(tmp_path / "c.wat"), "-o", str(tmp_path / "c.wasm")], check=True)
    res = run_analysis(tmp_path / "c.wasm", ["env.fetch_value"])
    assert res.analysis.names() == ["op_fetch"]
    g, m = res.graph, res.module
    export = {e.index: e.name for e in m.exports if e.kind == "func"}
    index = {export[f]: {g.sites[s - g.n].index for s in ss} for f, ss in g.indirect_sites.items()}
    assert index == {"by_if": {"{1}"}, "by_br_if": {"{1}"}, "by_select": {"{2}"}}


def test_instrumented_code_is_read_in_the_normal_state(built: dict[str, Path]) -> None:
    """After Binaryen's asyncify pass my_fcntl's rewind prelude restores its locals from Asyncify's
    buffer (unknown) and an arm no state takes leaves them 0: read as it is, its call of lock_ctl
    passes `one of param 1, a load, 0`, so audit would keep every caller. Read in the normal state
    (as audit does, `CallGraph.read_as_asyncified`), it passes param 1: conditional again."""
    from asyncify_doctor.analysis.recognize import recognize
    from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
    wasm = built["lock_ctl"].with_name("lock_ctl.normal.async.wasm")
    wasm.write_bytes(asyncify(built["lock_ctl"].read_bytes(), AsyncifyOptions(onlylist=tuple(sorted(EXPECTS["lock_ctl"].instrument)),
                                                                              imports=ASYNC)))
    m = read_module(wasm)
    sel = select_imports(m, list(ASYNC))
    g = CallGraph(m, trampolines=sel.trampolines)
    build = recognize(g)
    my_fcntl, lock = m.function_named("my_fcntl").index, m.function_named("lock_ctl").index  # type: ignore[union-attr]
    assert my_fcntl in build.instrumented
    arg = next(c[2][1] for c in g.values.summary(my_fcntl).calls if c[1] == lock)  # type: ignore[union-attr]
    assert g.values.value(arg) is None and "i32.load" in g.values.explain(arg)
    g.read_as_asyncified(build.state_global, build.instrumented)  # type: ignore[arg-type]
    arg = next(c[2][1] for c in g.values.summary(my_fcntl).calls if c[1] == lock)  # type: ignore[union-attr]
    assert arg == (V.PARAM, my_fcntl, 1)
    assert g.values.written_ranges() is None   # its saves write the buffer: no load of memory is known
    res = analyze_prepared(m, sel, g, sel.functions, runtime=build.runtime, async_when=["env.lock_ctl:1=14"])
    assert set(res.analysis.names()) == EXPECTS["lock_ctl"].instrument


def test_long_chains_and_deep_calls_stay_sound(tmp_path: Path) -> None:
    """Thousands of chained additions, and a chain of 600 functions each passing its parameter on:
    the evaluation gives up (unknown) rather than exhausting Python's stack, and stays sound."""
    adds = "".join("(i32.add (i32.const 0)" for _ in range(3000)) + "(i32.const 1)" + ")" * 3000
    chain = "\n".join(f"(func $c{k} (param i32) (result i32) (call $c{k + 1} (local.get 0)))" for k in range(600))
    wat = f"""(module (type $u (func (param i32) (result i32))) (table 4 funcref)
      (func $a (type $u) (local.get 0)) (func $b (type $u) (i32.const 0)) (elem (i32.const 0) func $a $b $a $b)
      (func (export "long") (param i32) (result i32) (call_indirect (type $u) (i32.const 0) {adds}))
      {chain}
      (func $c600 (param i32) (result i32) (call_indirect (type $u) (i32.const 0) (local.get 0)))
      (func (export "deep") (result i32) (call $c0 (i32.const 1))))"""
    (tmp_path / "d.wat").write_text(wat)
    subprocess.run([wasm_tools(), "parse", str(tmp_path / "d.wat"), "-o", str(tmp_path / "d.wasm")], check=True)
    m = read_module(tmp_path / "d.wasm")
    g = CallGraph(m)
    b = m.function_named("b").index  # type: ignore[union-attr]
    long_f = next(e.index for e in m.exports if e.name == "long")
    c600 = m.function_named("c600").index  # type: ignore[union-attr]
    for f in (long_f, c600):   # index 1 holds $b: it must be among the targets (known, or unknown)
        assert b in {t for s in g.indirect_sites[f] for t in g.site_targets(s)}


def test_rows_without_pruned_edges_equal_a_plain_filter() -> None:
    """`analysis._without_edges` copies untouched rows in runs: the same rows as filtering each."""
    from array import array

    from asyncify_doctor.analysis.closure import _without_edges
    from asyncify_doctor.graph.callgraph import Rows
    rng = random.Random(1)
    for n in (1, 2, 5, 50, 300):
        rows = [sorted({rng.randrange(n) for _ in range(rng.randrange(6))}) for _ in range(n)]
        off, tgt = array("I", [0]), array("I")
        for r in rows:
            tgt.extend(r)
            off.append(len(tgt))
        pruned = {(c, v) for v in range(n) for c in rows[v] if rng.random() < 0.3}
        assert list(_without_edges(Rows(off, tgt), pruned)) == [[c for c in rows[v] if (c, v) not in pruned] for v in range(n)]
