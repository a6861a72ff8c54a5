"""Binaryen's names for functions the name section does not name (binaryen_names.py), checked against
real Binaryen: 110, 123 and 132 (npm's wasm-opt) and 116 (libbinaryen from PyPI).

- the names themselves: `--print-function-map` of crafted binaries (no names, partial names, a function
  really named "2", duplicates, an import's invented name given to another function, escapes, an
  out-of-range index, the same index twice) and of random name sections, against the model;
- what they are for: a C fixture with its name section stripped, `analyze --format binaryen`, the
  real asyncify pass given that list with `--pass-arg=asyncify-onlylist@@FILE`: no "non-existing
  function name" warning, exactly the listed functions instrumented (recognize, as `audit` reads
  it), and the program still runs on wasmtime; list formats emcc reads stop with exit status 2.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from independent import wasm_tools
from proof import ASYNC, EXPECTS, SRC, failure

from asyncify_doctor.runtime.binaryen import wasm_opt_path
from asyncify_doctor.lists.binaryen_names import (
    EMCC,
    UnnameableFunctions,
    binaryen_name,
    binaryen_names,
    internal_name,
    list_names,
)
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.decode import decode
from asyncify_doctor.decode.writer import name as wname
from asyncify_doctor.decode.writer import section, uleb, vec
from asyncify_doctor.analysis.recognize import recognize
from asyncify_doctor.runtime.toolchain import compile_c

TESTS = Path(__file__).parent
VERSIONS = (110, 116, 123, 132)


def binaryen_cmd(version: int) -> list[str]:
    """How to run Binaryen `version` like wasm-opt: npm's packages, or libbinaryen (116) in a child;
    other releases from the npm registry, cached (opt-in)."""
    if version == 116:
        return [sys.executable, str(TESTS / "libbinaryen_run.py")]
    if version not in VERSIONS:
        return npm_release(version).split("\0")
    exe = wasm_opt_path(None if version == 132 else version)
    if exe is None:
        pytest.skip(f"npm's binaryen {version} is not installed (npm ci)")
    return [exe]


def npm_release(version: int) -> str:
    """npm's `binaryen@VERSION` wasm-opt (one self-contained node script, 10 MB of a 22 MB tarball),
    kept in the cache (opt-in: ASYNCIFY_DOCTOR_SLOW=1)."""
    import os
    import tarfile
    import tempfile
    if not os.environ.get("ASYNCIFY_DOCTOR_SLOW"):
        pytest.skip("more Binaryen releases are opt-in (npm downloads): set ASYNCIFY_DOCTOR_SLOW=1")
    from conftest import CACHE
    exe = CACHE / "binaryen" / str(version) / "wasm-opt"
    if not exe.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", f"binaryen@{version}.0.0", "--pack-destination", tmp, "--silent"],
                           check=True, stdout=subprocess.DEVNULL)
            with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
                data = tar.extractfile("package/bin/wasm-opt").read()   # type: ignore[union-attr]
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.with_suffix(".part").write_bytes(data)
        exe.with_suffix(".part").replace(exe)
    from asyncify_doctor.runtime.host.node_host import find_node
    return f"{find_node()}\0{exe}"   # node, the script


def function_map(path: Path, version: int) -> list[str] | str:
    """Binaryen's own names for the functions (`print-function-map`), or its error line."""
    cmd = binaryen_cmd(version) + [str(path), "--print-function-map" if version != 116 else "print-function-map"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["?"])[-1]
    return [line.split(":", 1)[1] for line in proc.stdout.splitlines()]


def craft(imports: int, defined: int, entries: list[tuple[int, str]] | None, names_first: bool = False) -> bytes:
    """A module of `imports` imported and `defined` empty functions, with a function-names subsection
    listing `entries` in this order (None: no name section)."""
    out = b"\0asm\x01\0\0\0" + section(1, vec([b"\x60\x00\x00"]))
    if imports:
        out += section(2, vec([wname("env") + wname(f"i{k}") + b"\x00" + uleb(0) for k in range(imports)]))
    out += section(3, vec([uleb(0)] * defined))
    code = section(10, vec([uleb(2) + b"\x00\x0b"] * defined))
    names = b""
    if entries is not None:
        sub = vec([uleb(i) + wname(s) for i, s in entries])
        names = section(0, wname("name") + b"\x01" + uleb(len(sub)) + sub)
    return out + (names + code if names_first else code + names)


def model(data: bytes, version: int) -> list[str | None] | str:
    naming = binaryen_names(decode(data), version)
    if naming.refused:
        return naming.refused
    return [None if n is None else internal_name(n, version) for n in naming.names]


def agrees(real: list[str] | str, ours: list[str | None] | str, version: int) -> bool:
    """Equal maps; or where the model refuses, Binaryen really cannot give those functions a name."""
    if isinstance(ours, str):
        if "aborts reading" in ours:
            return isinstance(real, str) and "already exists" in real
        return "before the code section" in ours and version < 121
    if isinstance(real, str):
        return False
    for r, o in zip(real, ours):
        if o is None:   # 100-112: two functions share a name
            if real.count(r) < 2:
                return False
        elif r != o:
            return False
    return len(real) == len(ours)


CASES = {
    "no name section": (2, 3, None),
    "partial names": (2, 4, [(2, "main"), (4, "g")]),
    "a function really named 2, the unnamed defined function 2": (1, 4, [(1, "2"), (4, "x")]),
    "duplicates": (0, 5, [(0, "foo"), (1, "foo"), (2, "foo"), (3, "foo_3")]),
    "an import's invented name taken": (2, 3, [(3, "fimport$1"), (0, "a")]),
    "escapes": (0, 4, [(0, "a b"), (1, "é"), (2, "x\\y")]),
    "index out of range": (0, 3, [(0, "a"), (7, "1")]),
    "the same index twice": (0, 3, [(0, "a"), (0, "b"), (1, "1")]),
    "suffix clashes": (0, 6, [(0, "1"), (1, "1_5"), (3, "1_6")]),
    "name section before code": (0, 3, [(0, "z")]),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_names_match_binaryens_function_map(case: str, version: int, tmp_path: Path) -> None:
    imports, defined, entries = CASES[case]
    data = craft(imports, defined, entries, names_first=case == "name section before code")
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    real, ours = function_map(path, version), model(data, version)
    assert agrees(real, ours, version), (real, ours)


def test_the_cases_show_every_difference_between_releases() -> None:
    """The crafted cases are not vacuous: they separate the schemes the model tells apart."""
    def names(case: str, v: int) -> object:
        imports, defined, entries = CASES[case]
        return model(craft(imports, defined, entries), v)
    assert names("duplicates", 116) != names("duplicates", 132)                       # foo.1 / foo_1
    assert isinstance(names("an import's invented name taken", 123), str)            # Binaryen aborts
    assert names("an import's invented name taken", 110)[1] is None                  # two share a name
    assert names("an import's invented name taken", 116)[1] == "fimport$1.1"
    assert names("an import's invented name taken", 132)[1] == "fimport$1_2"
    assert names("index out of range", 110) == ["a", "1", "2"] != names("index out of range", 116)
    assert names("escapes", 116) != names("escapes", 132)                            # a\20b / a b


ALPHABET = ["0", "1", "2", "fimport$0", "fimport$1", "foo", "foo.1", "foo_2", "foo_3", "1_3", "a b"]


@settings(max_examples=8, deadline=None)
@given(imports=st.integers(0, 2), defined=st.integers(1, 4),
       entries=st.lists(st.tuples(st.integers(0, 6), st.sampled_from(ALPHABET)), max_size=6))
def test_random_name_sections_against_every_release(imports: int, defined: int, entries: list[tuple[int, str]],
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    data = craft(imports, defined, entries)
    path = tmp_path_factory.mktemp("random") / "m.wasm"
    path.write_bytes(data)
    for version in VERSIONS:
        real, ours = function_map(path, version), model(data, version)
        assert agrees(real, ours, version), (version, real, ours)


# --- the point of it: a list for wasm-opt on a binary without names ------------------------------

def stripped(name: str, tmp: Path) -> tuple[Path, Path]:
    named = compile_c(SRC / f"{name}.c", tmp / f"{name}.wasm")
    bare = tmp / f"{name}.stripped.wasm"
    subprocess.run([wasm_tools(), "strip", "--all", str(named), "-o", str(bare)], check=True)
    assert not any(f.has_name for f in decode(bare.read_bytes()).functions)
    return named, bare


def analyze(wasm: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`analyze` with the proof's async imports that this binary has (a pattern matching nothing is warned of)."""
    have = {f.import_key for f in decode(wasm.read_bytes()).functions if f.imported}
    imports = [a for a in ASYNC if a in have] or list(ASYNC)
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", ",".join(imports),
                           "-o", str(out), *args], capture_output=True, text=True, check=False)


def asyncify_with(version: int, wasm: Path, listfile: Path, out: Path) -> str:
    """The real pass with the list as users pass it (`@@FILE`); returns Binaryen's stderr."""
    args = [f"asyncify-imports@{','.join(ASYNC)}", f"asyncify-onlylist@@{listfile}"]
    if version == 116:
        cmd = binaryen_cmd(116) + [str(wasm), "-o", str(out)] + [x for a in args for x in ("--pass-arg", a)] + ["asyncify"]
    else:
        cmd = binaryen_cmd(version) + [str(wasm), "--asyncify", *(f"--pass-arg={a}" for a in args), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["direct_chain", "table_types", "callbacks", "vtable"])
def test_a_list_for_a_nameless_binary_instruments_exactly_its_functions(name: str, version: int, tmp_path: Path) -> None:
    named, bare = stripped(name, tmp_path)
    listfile, out = tmp_path / "only.txt", tmp_path / "out.wasm"
    proc = analyze(bare, listfile, "--format", "binaryen", "--binaryen-version", str(version))
    assert proc.returncode == 0, proc.stderr
    assert "have no name in the name section" in proc.stderr
    exp = EXPECTS[name]
    index = {f.name: f.index for f in decode(named.read_bytes()).functions}
    want = sorted(index[n] for n in exp.instrument)
    bare_module = decode(bare.read_bytes())
    entries = [binaryen_name(bare_module, f, version) for f in want]
    sep = "," if version < 117 else "\n"
    assert listfile.read_text() == sep.join(entries) + "\n"      # e.g. "2,3,4,5" for run, load_config, …
    warnings = asyncify_with(version, bare, listfile, out)
    assert "non-existing" not in warnings, warnings
    assert sorted(recognize(CallGraph(decode(out.read_bytes()))).instrumented) == want
    assert failure("wasmtime", out, exp) is None


def test_the_old_placeholder_names_instrument_nothing(tmp_path: Path) -> None:
    """The control: `wasm-function[N]` entries (what analyze wrote before) match nothing in wasm-opt."""
    _, bare = stripped("direct_chain", tmp_path)
    m = decode(bare.read_bytes())
    listfile, out = tmp_path / "old.txt", tmp_path / "out.wasm"
    listfile.write_text("".join(f"wasm-function[{f}]\n" for f in range(m.num_imported_functions, len(m.functions))))
    warnings = asyncify_with(132, bare, listfile, out)
    assert "non-existing function name" in warnings
    assert recognize(CallGraph(decode(out.read_bytes()))).instrumented == set()


@pytest.mark.parametrize("fmt", ["list", "emscripten"])
def test_lists_emcc_reads_stop_with_exit_2(fmt: str, tmp_path: Path) -> None:
    _, bare = stripped("direct_chain", tmp_path)
    out = tmp_path / "only.txt"
    proc = analyze(bare, out, "--format", fmt)
    assert proc.returncode == 2 and not out.exists()
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "emcc matches ASYNCIFY_ONLY against link-time symbol names" in proc.stderr
    assert "--profiling-funcs" in proc.stderr and "--format binaryen" in proc.stderr


def test_emcc_reader_takes_only_name_section_names(tmp_path: Path) -> None:
    named, bare = stripped("direct_chain", tmp_path)
    m, b = decode(named.read_bytes()), decode(bare.read_bytes())
    run = next(f.index for f in m.functions if f.name == "run")
    assert binaryen_name(m, run, reader=EMCC) == "run" == binaryen_name(m, run)
    assert binaryen_name(b, run, reader=EMCC) is None and binaryen_name(b, run) == str(run - b.num_imported_functions)
    with pytest.raises(UnnameableFunctions):
        list_names(b, [run], EMCC)


def test_names_that_depend_on_the_release_are_said(tmp_path: Path) -> None:
    """Two functions named alike: Binaryen 116 lists the second as `foo.1`, 132 as `foo_1`."""
    wasm = tmp_path / "dups.wasm"
    body = (b"\0asm\x01\0\0\0" + section(1, vec([b"\x60\x00\x00"])) + section(2, vec([wname("env") + wname("sleep_ms") + b"\x00\x00"]))
            + section(3, vec([b"\x00", b"\x00"])) + section(7, vec([wname("a") + b"\x00\x01", wname("b") + b"\x00\x02"]))
            + section(10, vec([b"\x04\x00\x10\x00\x0b", b"\x04\x00\x10\x00\x0b"])))
    sub = vec([uleb(1) + wname("foo"), uleb(2) + wname("foo")])
    wasm.write_bytes(body + section(0, wname("name") + b"\x01" + uleb(len(sub)) + sub))
    run = [sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", "env.sleep_ms", "--format", "binaryen"]
    latest = subprocess.run(run, capture_output=True, text=True, check=False)
    assert latest.returncode == 0 and latest.stdout == "foo\nfoo_1\n"
    assert "name some of these functions differently" in latest.stderr and "116" in latest.stderr
    old = subprocess.run(run + ["--binaryen-version", "116"], capture_output=True, text=True, check=False)
    assert old.stdout == "foo,foo.1\n" and "differently" not in old.stderr
    assert function_map(wasm, 116) == ["fimport$0", "foo", "foo.1"]
    assert function_map(wasm, 132) == ["fimport$0", "foo", "foo_1"]


# --- a real nameless build (opt-in: downloads from npm) -----------------------------------------

QJS_DEBUG_SYNC = ("@jitl/quickjs-wasmfile-debug-sync@0.32.0", "package/dist/emscripten-module.wasm")
QJS_ASYNC = "env.qts_host_call_function,env.qts_host_load_module_source,env.qts_host_normalize_module"


def npm_member(package: str, member: str) -> Path:
    """One file of an npm package, cached as bench/real_binaries.py caches them."""
    import os
    import re
    import tarfile
    import tempfile
    if not os.environ.get("ASYNCIFY_DOCTOR_SLOW"):
        pytest.skip("real npm builds are opt-in: set ASYNCIFY_DOCTOR_SLOW=1")
    from conftest import CACHE
    out = CACHE / "real" / re.sub(r"[^A-Za-z0-9._-]+", "_", package.lstrip("@")) / member
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", package, "--pack-destination", tmp, "--silent"], check=True,
                           stdout=subprocess.DEVNULL)
            with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
                data = tar.extractfile(member).read()   # type: ignore[union-attr]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".part").write_bytes(data)
        out.with_suffix(".part").replace(out)
    return out


def test_quickjs_without_names_gets_a_list_wasm_opt_132_matches(tmp_path: Path) -> None:
    """quickjs-emscripten's debug sync build (Emscripten, 2,550 functions, no name section), with the
    async imports of its asyncify variant: the list wasm-opt 132 is given instruments exactly its
    1,596 functions, with no warning."""
    wasm = npm_member(*QJS_DEBUG_SYNC)
    m = decode(wasm.read_bytes())
    assert not any(f.has_name for f in m.functions)
    listfile, out = tmp_path / "only.txt", tmp_path / "out.wasm"
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", QJS_ASYNC,
                           "--format", "binaryen", "-o", str(listfile)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    entries = listfile.read_text().split()
    want = sorted(int(e) + m.num_imported_functions for e in entries)
    assert len(want) > 1000
    cmd = [wasm_opt_path() or "wasm-opt", str(wasm), "--asyncify", f"--pass-arg=asyncify-imports@{QJS_ASYNC}",
           f"--pass-arg=asyncify-onlylist@@{listfile}", "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "non-existing" not in done.stderr, done.stderr
    build = recognize(CallGraph(decode(out.read_bytes())))
    assert not build.problems and sorted(build.instrumented) == want


def test_a_release_that_cannot_name_a_function_stops_with_a_way_out(tmp_path: Path) -> None:
    """Binaryen 123 aborts on an import whose invented name the name section gives another function;
    110 gives both that name. analyze refuses (exit 2, nothing written) and names a release that works."""
    wasm, out = tmp_path / "clash.wasm", tmp_path / "only.txt"
    sub = vec([uleb(3) + wname("fimport$1"), uleb(0) + wname("a")])
    body = (b"\0asm\x01\0\0\0" + section(1, vec([b"\x60\x00\x00"]))
            + section(2, vec([wname("env") + wname(f"i{k}") + b"\x00\x00" for k in range(2)]))
            + section(3, vec([b"\x00"] * 3)) + section(10, vec([b"\x04\x00\x10\x01\x0b"] * 3)))
    wasm.write_bytes(body + section(0, wname("name") + b"\x01" + uleb(len(sub)) + sub))
    for version, why in ((123, "aborts reading this binary"), (110, "which another function also gets")):
        proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", "env.i1",
                               "--format", "binaryen", "--binaryen-version", str(version), "-o", str(out)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 2 and not out.exists() and why in proc.stderr, proc.stderr
        assert "--binaryen-version 132" in proc.stderr
    assert "already exists" in function_map(wasm, 123)
    ok = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", "env.i1",
                         "--format", "binaryen", "-o", str(out)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and out.read_text().split() == ["0", "fimport$1", "2"]
    assert function_map(wasm, 132)[2:] == ["0", "fimport$1", "2"]


# one release of each scheme the four above do not cover: the first with deduplicated invented names
# (113), with `_K` suffixes (120), names read first (121), one set for imports and the rest (124), the
# last that escapes (130) and the first that does not (131)
MORE_RELEASES = (113, 120, 121, 124, 130, 131)


@pytest.mark.parametrize("version", MORE_RELEASES)
def test_names_on_more_releases(version: int, tmp_path: Path) -> None:
    import random
    rng = random.Random(version)
    cases = [CASES[c] for c in CASES if c != "name section before code"]
    cases += [(rng.randrange(3), rng.randrange(1, 5), [(rng.randrange(7), rng.choice(ALPHABET))
                                                       for _ in range(rng.randrange(7))]) for _ in range(12)]
    for imports, defined, entries in cases:
        data = craft(imports, defined, entries)
        path = tmp_path / "m.wasm"
        path.write_bytes(data)
        real, ours = function_map(path, version), model(data, version)
        assert agrees(real, ours, version), (imports, defined, entries, real, ours)
