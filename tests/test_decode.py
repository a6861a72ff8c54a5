"""The decoder against an independent one (wasmparser via `wasm-tools dump`), and both scanners
against each other."""
from __future__ import annotations

import random
import subprocess
from contextlib import nullcontext
from pathlib import Path

import pytest

from asyncify_doctor import accel
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.decode import decode, read_module
from asyncify_doctor.decode.writer import name as wname
from asyncify_doctor.decode.writer import section, uleb, vec
from asyncify_doctor.errors import DecodeError
from conftest import build_wat, php_wasm
from independent import dump_bodies, validate, wasm_tools

NEW_PROPOSALS = ["funcref_exprs", "shared_everything", "custom_descriptors"]


def ours(path: Path) -> dict[int, tuple]:
    m = read_module(path)
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


@pytest.mark.parametrize("name", ["features_wasm", "memory64_wasm"])
def test_every_proposal_matches_wasmparser(name: str, request: pytest.FixtureRequest) -> None:
    assert_same_as_wasmparser(request.getfixturevalue(name))


def assert_scanners_agree(path: Path) -> None:
    """The whole decode with the C twins and in pure Python: the same code scan (events, counts, uses)."""
    assert accel.enabled()
    fast = read_module(path)
    with accel.pure_python():
        slow = read_module(path)
    if fast.code is None:  # no code section: nothing for the scanners to disagree on
        assert slow.code is None
        return
    assert fast.code == slow.code and fast.data_uses == slow.data_uses


@pytest.mark.parametrize("name", NEW_PROPOSALS)
def test_newer_proposals_match_wasmparser(name: str, wat_dir: Path) -> None:
    """Shared-everything threads, custom descriptors, exact types, table initializers, element items
    given as expressions: decoded (not rejected), exactly as wasmparser reads them, by both scanners."""
    path = build_wat(name, wat_dir)
    assert_same_as_wasmparser(path)
    assert_scanners_agree(path)


SMITH_FEATURES = ["shared-everything-threads", "custom-descriptors", "gc", "exceptions", "tail-call", "threads",
                  "memory64", "custom-page-sizes", "wide-arithmetic", "extended-const", "relaxed-simd", "simd",
                  "compact-imports"]


@pytest.mark.parametrize("seed", range(40))
def test_random_modules_with_every_proposal_match_wasmparser(seed: int, tmp_path: Path) -> None:
    """`wasm-tools smith` (an independent generator) with every proposal wasm-tools validates: each
    module decodes, both scanners agree, and every body matches wasmparser's reading of it."""
    flags = [a for f in SMITH_FEATURES for a in (f"--{f}-enabled", "true")]
    seed_bytes = random.Random(seed).randbytes(4000)
    out = subprocess.run([wasm_tools(), "smith", *flags], input=seed_bytes, capture_output=True, check=True).stdout
    path = tmp_path / f"smith{seed}.wasm"
    path.write_bytes(out)
    assert validate(path) is None
    assert_same_as_wasmparser(path)
    assert_scanners_agree(path)


# --- byte sequences the spec does not allow: rejected in one line, as wasm-tools rejects them ---------

def _module(*sections: bytes) -> bytes:
    return b"\0asm\1\0\0\0" + b"".join(sections)


def _func_module(body: bytes, locals_: bytes = b"\x00", extra: tuple[bytes, ...] = ()) -> bytes:
    """(type (func)) (func <locals> <body> end), plus `extra` sections placed before the code section."""
    code = locals_ + body + b"\x0b"
    return _module(section(1, vec([b"\x60\x00\x00"])), section(3, vec([b"\x00"])), *extra,
                   section(10, vec([uleb(len(code)) + code])))


MALFORMED = {
    "local of type 0x45 (inside the old 0x40..0x7F range)": (_func_module(b"", b"\x01\x01\x45"), "invalid value type 0x45"),
    "exact outside a heap type": (_func_module(b"", b"\x01\x01\x62\x00"), "invalid value type 0x62"),
    "shared before a numeric type": (_func_module(b"", b"\x01\x01\x65\x7f"), "after `shared`"),
    "packed i8 as a local": (_func_module(b"", b"\x01\x01\x78"), "invalid value type 0x78"),
    "ref null of a bad heap type": (_func_module(b"\xd0\x45\x1a"), "invalid heap type 0x45"),
    "ref.null shared of a numeric": (_func_module(b"\xd0\x65\x7f\x1a"), "invalid heap type 0x7f after `shared`"),
    "overlong negative heap type": (_func_module(b"\xd0\xf0\x7f\x1a"), "invalid heap type (overlong encoding)"),
    "atomic.fence with a nonzero byte": (_func_module(b"\xfe\x03\x01"), "atomic.fence must be 0x00"),
    "atomic ordering 2": (_func_module(b"\x41\x00\xfe\x4f\x02\x00\x1a", extra=(section(6, vec([b"\x7f\x03\x41\x00\x0b"])),)),
                          "invalid atomic ordering 2"),
    "global flags 0x04": (_module(section(6, vec([b"\x7f\x04\x41\x00\x0b"]))), "invalid global flags 0x04"),
    "table limits flag 0x08 (memory-only page size)": (_module(section(4, vec([b"\x70\x08\x00"]))),
                                                       "invalid table limits flags 0x08"),
    "table of i32": (_module(section(4, vec([b"\x7f\x00\x00"]))), "must have a reference type"),
    "element kind 0x01": (_func_module(b"", extra=(section(4, vec([b"\x70\x00\x01"])),
                                                  section(9, vec([b"\x02\x00\x41\x00\x0b\x01\x01\x00"])))),
                          "invalid element kind 0x01"),
    "tag attribute 1": (_module(section(1, vec([b"\x60\x00\x00"])), section(13, vec([b"\x01\x00"]))), "invalid tag attribute"),
    "exact function export": (_func_module(b"", extra=(section(7, vec([wname("f") + b"\x20\x00"])),)),
                              "exact function types are not allowed in exports"),
    "composite type 0x5c": (_module(section(1, vec([b"\x5c"]))), "invalid type form 0x5c"),
    "data segment flags 3": (_module(section(11, vec([b"\x03\x00"]))), "invalid data segment flags 3"),
    "a second type section": (_module(section(1, vec([])), section(1, vec([]))), "type section out of order or repeated"),
    "import section after the function section": (_module(section(3, vec([])), section(2, vec([]))),
                                                  "import section out of order or repeated (after the function section)"),
    "i32.const 0 with unused bits set": (_func_module(b"\x41\x80\x80\x80\x80\x70\x1a"), "does not fit in 32 bits"),
    "i64.const -1 with unused bits unset": (_func_module(b"\x42" + b"\xff" * 9 + b"\x01\x1a"), "does not fit in 64 bits"),
    "memarg flags 0x80": (_func_module(b"\x41\x00\x28\x80\x01\x00\x1a", extra=(section(5, vec([b"\x00\x01"])),)),
                          "malformed memarg flags 0x80"),
    "too many locals": (_func_module(b"", b"\x02\xff\xff\xff\xff\x0f\x7f\x02\x7e"), "too many locals"),
    "data.drop without a data count section": (_func_module(b"\xfc\x09\x00", extra=(section(5, vec([b"\x00\x01"])),)),
                                               "need the data count section"),
    "data count 2, one data segment": (_module(section(5, vec([b"\x00\x01"])), section(12, b"\x02"),
                                               section(11, vec([b"\x01\x00"]))), "the data count section says 2"),
    "field mutability 2": (_module(section(1, vec([b"\x5f\x01\x7f\x02"]))), "invalid field mutability 0x02"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_bytes_the_spec_does_not_allow_are_rejected(case: str, tmp_path: Path) -> None:
    data, message = MALFORMED[case]
    path = tmp_path / "bad.wasm"
    path.write_bytes(data)
    assert validate(path) is not None, "wasm-tools accepts it: the case is wrong, not the decoder"
    outcomes = []
    for pure in (False, True):
        with accel.pure_python() if pure else nullcontext(), pytest.raises(DecodeError) as exc:
            decode(data, "bad.wasm")
        assert message in exc.value.message and "\n" not in str(exc.value)
        outcomes.append((exc.value.offset, exc.value.message))
    assert outcomes[0] == outcomes[1]


VALID_PREFIXED = {  # the prefixes read as prefixes, never as an opcode or a second type
    "ref.null (shared func)": _func_module(b"\xd0\x65\x70\x1a"),
    "ref.null (exact 0)": _module(section(1, vec([b"\x5f\x00", b"\x60\x00\x00"])), section(3, vec([b"\x01"])),
                                  section(10, vec([b"\x06\x00\xd0\x62\x00\x1a\x0b"]))),
    "local (shared funcref)": _func_module(b"", b"\x01\x01\x65\x70"),
    "local (ref null (shared any))": _func_module(b"", b"\x01\x01\x63\x65\x6e"),
}


@pytest.mark.parametrize("case", sorted(VALID_PREFIXED))
def test_shared_and_exact_prefixes_are_read_whole(case: str, tmp_path: Path) -> None:
    path = tmp_path / "ok.wasm"
    path.write_bytes(VALID_PREFIXED[case])
    assert validate(path) is None
    assert_same_as_wasmparser(path)
    assert_scanners_agree(path)


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


def test_the_spec_test_suite() -> None:
    """bench/spec_testsuite.py: every valid module of the WebAssembly test suite (core and proposals)
    decodes, every assert_malformed binary is rejected, both scanners alike."""
    import os
    if not os.environ.get("ASYNCIFY_DOCTOR_SLOW"):
        pytest.skip("downloads the spec test suite: set ASYNCIFY_DOCTOR_SLOW=1")
    import sys
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    import spec_testsuite
    stats = spec_testsuite.run()
    assert stats["valid decoded"] > 2000 and stats["malformed rejected"] > 900
    assert not stats["valid rejected"] and not stats["malformed accepted"] and not stats["scanners disagree"], stats


def test_bodies_are_read_again_from_the_file_and_a_changed_file_is_refused(features_wasm: Path, tmp_path: Path) -> None:
    """A module read from a file lets go of its bytes; bodies are read again (`span`), many through
    one open file under `rereading`, and a file that changed or went away since is an InputError."""
    from asyncify_doctor.errors import InputError
    wasm = tmp_path / "copy.wasm"
    raw = features_wasm.read_bytes()
    wasm.write_bytes(raw)
    m = read_module(wasm)
    assert not m.data
    bodies = [(m.code.bodies[i], m.code.bodies[i + 1]) for i in range(0, len(m.code.bodies), 2)]
    assert [m.span(a, n) for a, n in bodies] == [raw[a:a + n] for a, n in bodies]
    with m.rereading():
        assert [m.span(a, n) for a, n in bodies] == [raw[a:a + n] for a, n in bodies]
        assert m.body_ops(m.num_imported_functions) == decode(raw).body_ops(m.num_imported_functions)
    wasm.write_bytes(raw + b"\0")
    with pytest.raises(InputError, match="the file changed while it was being read"):
        m.span(*bodies[0])
    wasm.unlink()
    with pytest.raises(InputError, match="cannot read again"):
        with m.rereading():
            pass
