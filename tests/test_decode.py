"""The decoder against an independent one (wasmparser via `wasm-tools dump`), and both scanners
against each other."""
from __future__ import annotations

from pathlib import Path

import pytest

from asyncify_doctor.callgraph import CallGraph
from asyncify_doctor.decode import accel, decode, read_module
from conftest import php_wasm
from independent import dump_bodies


def ours(path: Path, accelerate: bool = True) -> dict[int, tuple]:
    m = read_module(path, accelerate=accelerate)
    g = CallGraph(m)
    out = {}
    for f in range(m.num_imported_functions, len(m.functions)):
        i = f - m.num_imported_functions
        ff = g.facts(f)
        out[f] = (m.code.counts[3 * i], set(ff.calls) | set(ff.tail_calls), m.code.counts[3 * i + 1],
                  set(ff.indirect) | {(t, None) for t in ff.call_refs}, m.code.counts[3 * i + 2],
                  set(ff.ref_funcs), set(ff.globals_read), set(ff.globals_written))
    return out


def theirs(path: Path) -> dict[int, tuple]:
    return {f: (b.instructions, b.calls, b.n_calls, b.indirect, b.n_indirect, b.ref_funcs, b.globals_read,
                b.globals_written) for f, b in dump_bodies(path).items()}


def assert_same_as_wasmparser(path: Path) -> None:
    mine, ref = ours(path), theirs(path)
    assert mine.keys() == ref.keys()
    bad = [(f, mine[f], ref[f]) for f in mine if mine[f] != ref[f]]
    assert not bad, f"{len(bad)} functions differ, first: {bad[:3]}"


def test_accelerator_was_built() -> None:
    """CI installs with a C compiler: the fast scanner must be there (the fallback hides nothing)."""
    assert accel.available(), "the C scanner _scan was not built at install time"


@pytest.mark.parametrize("name", ["features_wasm", "memory64_wasm"])
def test_every_proposal_matches_wasmparser(name: str, request: pytest.FixtureRequest) -> None:
    assert_same_as_wasmparser(request.getfixturevalue(name))


@pytest.mark.parametrize("name", ["features_wasm", "memory64_wasm"])
def test_c_and_python_scanners_agree(name: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(name)
    fast, slow = read_module(path, accelerate=True), read_module(path, accelerate=False)
    assert fast.accelerated and not slow.accelerated
    assert (fast.code.bodies, fast.code.events, fast.code.counts) == (slow.code.bodies, slow.code.events, slow.code.counts)


def test_sections_and_names(features_wasm: Path) -> None:
    m = read_module(features_wasm)
    names = [f.name for f in m.functions]
    assert names[:3] == ["sleep_ms", "fetch_value", "print_i32"]
    assert [f.import_key for f in m.functions[:3]] == ["env.sleep_ms", "env.fetch_value", "env.print_i32"]
    assert names[3:6] == ["suspends", "pure", "pair_fn"]
    assert len(m.tables) == 2 and [e.name for e in m.exports] == ["dispatch", "run", "table"]
    assert [(s.mode, s.table, len(s.functions)) for s in m.elements] == [("active", 0, 4), ("passive", None, 1), ("declarative", None, 2)]
    assert m.globals[3].init_funcs == [m.function_named("via_global").index]
    assert m.start == m.function_named("start").index
    assert m.rec_groups[0] == (0, 2) and m.types[1].supertypes == (0,)
    assert m.tags and m.data_count == 2


def test_unnamed_functions_get_placeholders() -> None:
    # (module (func) (func (call 0))) with no name section
    wasm = bytes.fromhex("0061736d010000000104016000000303020000" "0a09020200" "0b" "0400" "10000b")
    m = decode(wasm)
    assert [f.name for f in m.functions] == ["wasm-function[0]", "wasm-function[1]"]
    assert not m.functions[1].has_name


@pytest.mark.parametrize("flavour", ["jspi", "asyncify"])
def test_real_php_matches_wasmparser(flavour: str) -> None:
    assert_same_as_wasmparser(php_wasm(flavour))
