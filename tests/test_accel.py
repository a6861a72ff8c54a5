"""The accelerator seam, `asyncify_doctor.accel`: every registered twin — a pure-Python original and its C
twin in accel/native/ — gives exactly the same results (or raises the same error) on generated inputs:
random graphs; real binaries (the fixtures, `wasm-tools smith` modules, bench/extreme.py's shapes, one
over 1 MB for the two-thread scan) and malformed variants of them where a kernel reads bytes. The
inputs are found by kernel name in INPUTS: a kernel registered without inputs fails its test, so a
new one cannot go unchecked. Also: the one switch, the numbers decode.c shares with opcodes.py, and
whole decodes, analyses and triages both ways."""
from __future__ import annotations

import importlib
import pkgutil
import random
import subprocess
import sys
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import build_wat
from independent import wasm_tools

import asyncify_doctor
from asyncify_doctor import accel
from asyncify_doctor.analysis.closure import analyze
from asyncify_doctor.analysis.triage import closure_rows_py
from asyncify_doctor.decode import Module, decode
from asyncify_doctor.decode import opcodes as op
from asyncify_doctor.decode.module import Function, sections
from asyncify_doctor.decode.reader import Reader
from asyncify_doctor.decode.writer import name as wname
from asyncify_doctor.decode.writer import section, uleb, vec
from asyncify_doctor.graph.callgraph import CallGraph, csr_py
from asyncify_doctor.runtime.toolchain import compile_c

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
import extreme

FIXTURES = Path(__file__).parent / "fixtures"
SRC = Path(asyncify_doctor.__file__).parent


def _register_every_twin() -> None:
    """Import every module of the package: each stage registers its twins when it is loaded."""
    for mod in pkgutil.walk_packages(asyncify_doctor.__path__, "asyncify_doctor."):
        if not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)


_register_every_twin()


# --- the inputs: real binaries, taken apart -----------------------------------------------------------

@dataclass
class Binary:
    name: str
    data: bytes
    module: Module

    def sections(self, sid: int) -> list[tuple[int, int]]:
        """(start, end) of the payloads of the sections with this id (custom: all of them)."""
        return [(sec.pos, sec.end) for s, _, sec in sections(Reader(self.data, 8)) if s == sid]


SMITH = ["shared-everything-threads", "custom-descriptors", "gc", "exceptions", "tail-call", "threads", "memory64",
         "custom-page-sizes", "wide-arithmetic", "extended-const", "relaxed-simd", "simd", "compact-imports",
         "bulk-memory", "reference-types", "multi-value"]


def _data_segments() -> bytes:
    """A module of data segments in the three encodings, offsets of every constant form (extended-const
    add/sub/mul, global.get), one for memory 1."""
    def i32(v: int) -> bytes:
        return b"\x41" + uleb(v)
    segments = [b"\x00" + i32(0) + b"\x0b" + vec([b"a"] * 3), b"\x01" + vec([b"p"] * 5),
                b"\x02\x01" + i32(8) + i32(2) + b"\x6a\x0b" + vec([b"b"]),
                b"\x00\x23\x00\x0b" + vec([]), b"\x02\x00" + i32(3) + i32(4) + b"\x6c" + i32(1) + b"\x6b\x0b" + vec([b"c"] * 2)]
    return (b"\0asm\x01\0\0\0" + section(2, vec([wname("env") + wname("base") + b"\x03\x7f\x00"]))
            + section(5, vec([b"\x00\x01", b"\x00\x01"])) + section(12, uleb(len(segments))) + section(11, vec(segments)))


@pytest.fixture(scope="session")
def binaries(wat_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Binary]:
    tmp = tmp_path_factory.mktemp("accel")
    made = [(name, build_wat(name, wat_dir).read_bytes())
            for name in ("features", "memory64", "funcref_exprs", "shared_everything", "custom_descriptors",
                         "entry_points", "uses")]
    for source in (FIXTURES / "features" / "features.c", FIXTURES / "src" / "vtable.c"):
        made.append((source.stem, compile_c(source, tmp / f"{source.stem}.wasm").read_bytes()))
    flags = [a for f in SMITH for a in (f"--{f}-enabled", "true")] + ["--max-memories", "3", "--max-tables", "3"]
    for seed in range(12):
        out = subprocess.run([wasm_tools(), "smith", *flags], input=random.Random(seed).randbytes(4000),
                             capture_output=True, check=True).stdout
        made.append((f"smith{seed}", out))
    made += [("data segments", _data_segments()), ("cycles", extreme.recursion_cycles(2000)),
             ("emscripten-like", extreme.emscripten_like(300)), ("names", extreme.duplicate_and_missing_names(300)),
             ("two threads", extreme.many_functions(120_000))]
    return [Binary(name, data, decode(data, name)) for name, data in made]


def _mutants(data: bytes, start: int, end: int, rng: random.Random, k: int) -> Iterator[tuple[bytes, int, int]]:
    """`k` malformed variants of the payload data[start:end]: cut short, bytes flipped, garbage or an
    endless LEB128 inserted (the range grows with it)."""
    for _ in range(k):
        b, how = bytearray(data), rng.randrange(4)
        if end == start or how == 0:
            yield bytes(b), start, rng.randrange(start, end) if end > start else start
        elif how == 1:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(start, end)] = rng.randrange(256)
            yield bytes(b), start, end
        else:
            at = rng.randrange(start, end)
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) if how == 2 else b"\xff" * rng.randint(5, 11)
            yield bytes(b[:at] + junk + b[at:]), start, end + len(junk)


def _payloads(bins: list[Binary], sid: int, rng: random.Random, k: int) -> Iterator[tuple[bytes, int, int]]:
    """Each binary's sections `sid` as they are, and `k` malformed variants of each (2 of a big one)."""
    for b in bins:
        for start, end in b.sections(sid):
            yield b.data, start, end
            yield from _mutants(b.data, start, end, rng, k if end - start < 1 << 16 else 2)


def _name_maps(bins: list[Binary]) -> Iterator[tuple[bytes, int, int]]:
    """The function-names subsections of the binaries' name sections."""
    for b in bins:
        for start, end in b.sections(0):
            r = Reader(b.data, start, end)
            if r.name() != "name":
                continue
            while not r.at_end():
                sub_id, size = r.u8(), r.u32()
                if sub_id == 1:
                    yield b.data, r.pos, r.pos + size
                r.pos += size


# --- the inputs of each kernel --------------------------------------------------------------------------

def scan_code_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for b in bins:
        m = b.module
        multi = bytes(bool(t.params) or len(t.results) > 1 for t in m.types)
        common = (m.num_imported_functions, len(m.functions), len(m.globals), b.name, None)
        for data, start, end in _payloads([b], 10, rng, 8):
            yield (data, start, end, *common, m.data_count is not None, multi)
        for start, end in b.sections(10):   # without a data count section, without multi-value types
            yield (b.data, start, end, *common, False, b"")


def scan_data_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for b in bins:
        for data, start, end in _payloads([b], 11, rng, 12):
            yield data, start, end, len(b.module.functions), len(b.module.globals), b.name


def u32_vec_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    yield from _payloads(bins, 3, rng, 6)   # the function sections
    for _ in range(200):
        junk = bytes(rng.choice([0, 1, 2, 0x7f, 0x80, 0xff, rng.randrange(256)]) for _ in range(rng.randrange(12)))
        yield junk, 0, len(junk)


def name_map_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for data, start, end in _name_maps(bins):
        yield data, start, end
        yield from _mutants(data, start, end, rng, 6)
    for names in (["a", "é", "x y", ""], ["\udcff"]):   # a lone surrogate is not UTF-8: both refuse it
        raw = vec([uleb(i) + uleb(len(n.encode(errors="surrogatepass"))) + n.encode(errors="surrogatepass")
                   for i, n in enumerate(names)])
        yield raw, 0, len(raw)


def exports_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    yield from _payloads(bins, 7, rng, 8)


def records_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    yield Function, (range(5), [1, 2, 3, 4, 5], ["a", "b", "c", None, "é"], [True] * 5, ["env", None, None, None, None],
                     ["x", None, None, None, None])
    yield Function, tuple([] for _ in range(6))
    for b in bins[:4]:
        fs = b.module.functions
        yield Function, tuple(list(col) for col in zip(*fs)) if fs else tuple([] for _ in range(6))


def _graphs(rng: random.Random, sizes: list[tuple[int, int]]) -> Iterator[tuple[int, array, array, array, array]]:
    """Random graphs with cycles, self-loops and duplicate edges: (n, sources, targets, offsets, rows)."""
    for n, m in sizes:
        src = array("I", (rng.randrange(n) for _ in range(m)))
        dst = array("I", (rng.randrange(n) for _ in range(m)))
        yield (n, src, dst, *csr_py(src, dst, n))


GRAPHS = [(1, 0), (2, 3), (5, 20), (40, 120), (300, 2000), (700, 3000), (3000, 6000), (5000, 40000)]
EVENT_KINDS = [1, 17, 2, 3, 4, 5, 6, 7, 8, 9, 18, 19, op.EV_CALL_CHECK, op.EV_DATA]


def _events(bins: list[Binary], rng: random.Random) -> Iterator[array]:
    for b in bins:
        if b.module.code is not None:
            yield b.module.code.events
    for n, m in [(1, 0), (5, 20), (300, 2000), (5000, 40000)]:
        events = array("I")
        for f in sorted(rng.randrange(n) for _ in range(m)):
            events.extend((f, rng.choice(EVENT_KINDS), rng.randrange(n), rng.randrange(4)))
        yield events
    yield array("I", (rng.choice([0, 1, 2, 3, op.EV_CALL | op.EV_TAIL, 2**32 - 1]) for _ in range(4 * 3000)))


def split_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for events in _events(bins, rng):
        yield (events,)


def events_of_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for events in _events(bins[:3], rng):
        for kind in sorted(set(events[1::4]) | {op.EV_GLOBAL_SET, op.EV_CALL_CHECK}):
            for a, b in ((-1, -1), (0, -1), (-1, 1), (2, 3), (2**32 - 1, -1)):
                yield events, kind, a, b


def csr_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for n, src, dst, _, _ in _graphs(rng, GRAPHS):
        yield src, dst, n
    yield array("I", [3]), array("I", [0]), 2   # a source out of range: the same ValueError


def bfs_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for n, _, _, off, tgt in _graphs(rng, GRAPHS):
        yield off, tgt, array("I", rng.sample(range(n), min(n, 3))), array("I", rng.sample(range(n), min(n, 4)))
        yield off, tgt, array("I"), array("I", [n - 1])


def reached_bits_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for n, _, _, off, tgt in _graphs(rng, GRAPHS):
        bit_of = array("i", (rng.randrange(200) if rng.random() < 0.2 else -1 for _ in range(n)))
        for lo, hi in [(0, 1), (0, 64), (0, 200), (64, 130), (150, 150)]:
            yield off, tgt, bit_of, lo, hi


def _closure_rows_args(rng: random.Random) -> Iterator[tuple]:
    """closure_rows' arguments (a subset of the nodes kept, renumbered, levels, extra edges) on random graphs."""
    for n, _, _, off, tgt in _graphs(rng, GRAPHS):
        kept = sorted(rng.sample(range(n), max(1, n * 2 // 3)))
        nodes = array("i", [-1] + kept)
        ids = array("i", [-1]) * n
        for k, v in enumerate(kept, 1):
            ids[v] = k
        frm = bytes(rng.randrange(4) for _ in range(n))
        to = bytes(rng.randrange(4) for _ in range(n))
        nx = rng.randrange(2 * len(nodes) + 1)
        xd = array("I", (rng.randrange(len(nodes)) for _ in range(nx)))
        xs = array("I", (rng.randrange(len(nodes)) for _ in range(nx)))
        yield off, tgt, nodes, ids, frm, to, xd, xs, bytes(rng.randrange(4) for _ in range(nx))


def closure_rows_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    yield from _closure_rows_args(rng)


def _leveled_rows(rng: random.Random) -> Iterator[tuple[array, array, bytes]]:
    for args in _closure_rows_args(rng):
        yield closure_rows_py(*args)


def upto_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for o, t, levels in _leveled_rows(rng):
        for level in range(4):
            yield o, t, levels, level


def dominated_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for o, t, _ in _leveled_rows(rng):
        n = len(o) - 1
        weights = bytes(rng.random() < 0.3 for _ in range(n))
        for root in sorted({0, rng.randrange(n)}):
            yield o, t, root, weights


def reach_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    for o, t, _ in _leveled_rows(rng):
        yield o, t, bytes(rng.random() < 0.3 for _ in range(len(o) - 1))
    for n, _, _, off, tgt in _graphs(rng, GRAPHS):
        yield off, tgt, bytes([1]) * n


def odd_names_inputs(bins: list[Binary], rng: random.Random) -> Iterator[tuple]:
    """Lists of plain, odd, empty, non-ASCII and surrogate names (the property test they replace drew
    the same kinds)."""
    special = ["main", "a.b", "é", "\x00", "$", "_", "x\n", "\udcff", "", "a b", "f(int)", "zend_call_function"]
    for _ in range(400):
        pick = rng.randrange(3)
        names = ["".join(rng.choice("abzAZ09_$" if pick == 0 else "ab_.$é\n\x00(), *") for _ in range(rng.randrange(7)))
                 if pick < 2 else rng.choice(special) for _ in range(rng.randrange(16))]
        yield (names,)
    for b in bins:
        yield ([f.name for f in b.module.functions],)


INPUTS: dict[str, Callable[[list[Binary], random.Random], Iterator[tuple]]] = {
    "scan_code": scan_code_inputs, "scan_data": scan_data_inputs, "u32_vec": u32_vec_inputs,
    "name_map": name_map_inputs, "exports": exports_inputs, "records": records_inputs,
    "split": split_inputs, "events_of": events_of_inputs, "csr": csr_inputs, "bfs": bfs_inputs,
    "reached_bits": reached_bits_inputs, "closure_rows": closure_rows_inputs, "upto": upto_inputs,
    "dominated": dominated_inputs, "reach": reach_inputs, "odd_names": odd_names_inputs,
}


# --- the parity test --------------------------------------------------------------------------------------

def canonical(x: Any) -> Any:
    """A value with every type spelled out: an array's typecode, a record's class, a tuple from a list."""
    if isinstance(x, array):
        return ("array", x.typecode, x.tolist())
    if is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, *(canonical(getattr(x, f.name)) for f in fields(x)))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, *map(canonical, x))
    return (type(x).__name__, x)


def outcome(fn: Callable[..., Any], args: tuple) -> tuple:
    try:
        return ("returned", canonical(fn(*args)))
    except Exception as exc:  # noqa: BLE001 - the twins must fail alike too
        return ("raised", type(exc).__name__, str(exc), getattr(exc, "offset", None), getattr(exc, "function", None))


def test_the_accelerator_was_built() -> None:
    """CI installs with a C compiler: the C twins must be there (the fallback hides nothing)."""
    assert accel.available(), "the C accelerator asyncify_doctor.accel._native was not built at install time"


@pytest.mark.parametrize("name", sorted(set(accel.TWINS) | set(INPUTS)))
def test_twins_agree(name: str, binaries: list[Binary]) -> None:
    """Both twins of the kernel, on every input its generator makes: the same result or the same error."""
    assert name in accel.TWINS, f"inputs for {name!r}, which no stage registers"
    assert name in INPUTS, f"the kernel {name!r} ({accel.TWINS[name].stage}) has no inputs in tests/test_accel.py"
    assert accel.available()
    twin, returned, n = accel.TWINS[name], 0, 0
    for args in INPUTS[name](binaries, random.Random(name)):
        native, python = outcome(twin.native, args), outcome(twin.python, args)
        assert native == python, f"{name} differs on input {n}: C {str(native)[:300]} / Python {str(python)[:300]}"
        returned += native[0] == "returned"
        n += 1
    assert returned >= 3, f"{name}: {returned} of {n} inputs returned a result: the inputs test little"


def test_malformed_inputs_are_really_refused(binaries: list[Binary]) -> None:
    """The byte kernels' inputs hold refusals too (an error, or None for the vectors), not only results."""
    for name in ("scan_code", "scan_data", "u32_vec", "name_map", "exports"):
        outs = [outcome(accel.TWINS[name].python, args) for args in INPUTS[name](binaries, random.Random(name))]
        assert any(o[0] == "raised" or o[1] == ("NoneType", None) for o in outs), name


# --- the seam itself --------------------------------------------------------------------------------------

def test_one_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variable and `pure_python()` (nested too) turn every dispatcher to Python."""
    calls: list[str] = []
    probe = accel.twin("_probe", lambda: calls.append("python"), lambda: calls.append("c"))
    try:
        monkeypatch.delenv(accel.SWITCH, raising=False)
        assert accel.enabled()
        probe()
        with accel.pure_python():
            with accel.pure_python():
                probe()
            assert not accel.enabled()
            probe()
        assert accel.enabled()
        monkeypatch.setenv(accel.SWITCH, "1")
        assert not accel.enabled()
        probe()
        assert calls == ["c", "python", "python", "python"]
    finally:
        del accel.TWINS["_probe"]


def test_a_name_is_one_kernel() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        accel.twin("csr", lambda: None, lambda: None)


def test_no_stage_decides_by_itself() -> None:
    """Only the seam reads the switch or loads the extension: every stage asks `accel.twin`."""
    seam = SRC / "accel" / "__init__.py"
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if path != seam:
            for word in (accel.SWITCH, "accel._native", "import _native", "accel.enabled", "accel.available",
                         "accel.pure_python"):
                assert word not in text, f"{path.relative_to(SRC)} says {word!r}: only accel/__init__.py decides"


def test_the_c_side_numbers_are_opcodes_py() -> None:
    """The immediate kinds, events and use classes decode.c names are opcodes.py's numbers."""
    consts = {k: v for k, v in vars(accel.native).items() if isinstance(v, int)}
    assert len(consts) > 40
    for k, v in consts.items():
        assert getattr(op, k) == v, k


def test_every_use_class_is_noted_alike(wat_dir: Path) -> None:
    """tests/wat/uses.wat holds an instruction or type of most classes: both scanners note exactly
    those, at the same first offsets (data section and constant expressions included)."""
    data = build_wat("uses", wat_dir).read_bytes()
    fast = decode(data)
    with accel.pure_python():
        slow = decode(data)
    assert (fast.code, fast.data_uses) == (slow.code, slow.data_uses)
    assert fast.code is not None and fast.data_uses is not None
    noted = {k for k, _ in fast.code.uses.in_order()} | {k for k, _ in fast.data_uses.in_order()}
    unseen = {op.U_CUSTOM_DESCRIPTORS, op.U_SHARED_ATOMICS, op.U_STACK_SWITCHING, op.U_MEMORY_CONTROL}
    assert noted == set(range(op.NUM_USES)) - unseen
    assert {op.U_PASSIVE_DATA, op.U_DATA_MEMORY, op.U_EXTENDED_CONST} == {k for k, _ in fast.data_uses.in_order()}


# --- whole stages both ways ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["features", "funcref_exprs", "cycles"])
def test_accelerated_and_pure_python_analyses_are_identical(shape: str, wat_dir: Path) -> None:
    data = extreme.recursion_cycles(2000) if shape == "cycles" else build_wat(shape, wat_dir).read_bytes()

    def run() -> tuple:
        m = decode(data, "x.wasm")
        g = CallGraph(m)
        imports = list(range(m.num_imported_functions))
        out = []
        for mode in ("typed", "all", "ignore"):
            an = analyze(g, imports, mode)
            out.append((an.names(), [[(s.function, s.via) for s in an.chain(f)] for f in an.members[:40]],
                        [list(r) for r in g.reverse(mode)]))
        return tuple(out), [g.callees(f) for f in range(g.n)]

    fast = run()
    with accel.pure_python():
        assert run() == fast


def test_the_name_section_reads_alike_for_every_release() -> None:
    """binaryen_names reads the function names with the decoder's `name_map`: both twins, every case."""
    from test_binaryen_names import CASES, VERSIONS, craft

    from asyncify_doctor.lists.binaryen_names import binaryen_names
    for case, (imports, defined, entries) in CASES.items():
        data = craft(imports, defined, entries, names_first=case == "name section before code")
        for version in VERSIONS:
            fast = binaryen_names(decode(data), version)
            with accel.pure_python():
                slow = binaryen_names(decode(data), version)
            assert (fast.names, fast.refused) == (slow.names, slow.refused), case
