"""features.py: the `--enable-*` flags wasm-opt needs, checked against real Binaryen 110, 123, 132 (npm)
and 116 (libbinaryen, its validator with 116's feature bits):

- a C fixture built with SIMD, relaxed SIMD, bulk memory, non-trapping float-to-int, sign-ext, tail
  calls, reference types and atomics (shared memory), its `target_features` section stripped as
  Emscripten strips it: every release rejects it without flags, accepts it with ours, and every flag
  its validator asks for ("[--enable-…]") is among ours; with the section, no flag is needed;
- the flag names exist in each release's own `--help`;
- what the code scan finds is within what LLVM declared in the section, on every C fixture (no
  feature is invented);
- opt-in: the real nameless quickjs-emscripten release build (no section) the same way.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_binaryen_names import binaryen_cmd, npm_member

from asyncify_doctor.decode import decode
from asyncify_doctor.decode.module import sections
from asyncify_doctor.decode.reader import Reader
from asyncify_doctor.decode.features import (
    BINARYEN_NAME,
    Features,
    UnsupportedFeature,
    binaryen_flag,
    features_of,
    target_features,
    wasm_opt_flags,
)
from asyncify_doctor.runtime.toolchain import compile_c

FIXTURES = Path(__file__).parent / "fixtures"
VERSIONS = (110, 116, 123, 132)


def without_section(data: bytes, name: str) -> bytes:
    out = bytearray(data[:8])
    for sid, at, sec in sections(Reader(data, 8)):
        if not (sid == 0 and Reader(data, sec.pos, sec.end).name() == name):
            out += data[at:sec.end]
    return bytes(out)


def wasm_opt(version: int, wasm: Path, flags: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """Read, validate and write `wasm` with wasm-opt `version` (116: libbinaryen's validator)."""
    if version == 116:
        cmd = binaryen_cmd(116) + [str(wasm), *flags, "validate"]
    else:
        cmd = binaryen_cmd(version) + [str(wasm), *flags, "-o", str(tmp / "out.wasm")]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def asked(stderr: str) -> set[str]:
    """The flags Binaryen's validator names in its errors."""
    return set(re.findall(r"\[(--enable-[a-z0-9-]+)\]", stderr))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("features")
    full = compile_c(FIXTURES / "features" / "features.c", tmp / "features.wasm")
    bare = tmp / "features.bare.wasm"
    bare.write_bytes(without_section(full.read_bytes(), "target_features"))
    return full, bare


@pytest.mark.parametrize("version", VERSIONS)
def test_the_flags_make_wasm_opt_accept_what_it_rejected(version: int, built: tuple[Path, Path], tmp_path: Path) -> None:
    full, bare = built
    m = decode(bare.read_bytes())
    feats = features_of(m, scan_code=True)
    assert feats.source == "module and code"
    assert {"simd128", "relaxed-simd", "bulk-memory", "nontrapping-fptoint", "sign-ext", "tail-call",
            "reference-types", "atomics"} <= feats.used
    flags = wasm_opt_flags(feats, version)
    rejected = wasm_opt(version, bare, [], tmp_path)
    assert rejected.returncode != 0
    assert asked(rejected.stderr) <= set(flags), (asked(rejected.stderr), flags)
    accepted = wasm_opt(version, bare, flags, tmp_path)
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    assert wasm_opt(version, full, [], tmp_path).returncode == 0      # it reads target_features itself


def test_the_section_is_what_binaryen_reads(built: tuple[Path, Path]) -> None:
    full, bare = built
    section = target_features(decode(full.read_bytes()))
    assert section is not None and section.get("simd128") == "+"
    feats = features_of(decode(full.read_bytes()))
    assert feats.source == "target_features" and "simd128" in feats.used
    assert target_features(decode(bare.read_bytes())) is None


@pytest.mark.parametrize("version", [110, 123, 132])
def test_flag_names_are_the_releases_own(version: int) -> None:
    """Every flag we would print for a release is one its `wasm-opt --help` lists."""
    help_text = subprocess.run(binaryen_cmd(version) + ["--help"], capture_output=True, text=True, check=True).stdout
    theirs = set(re.findall(r"--enable-[a-z0-9-]+", help_text))
    ours = {flag for feature in BINARYEN_NAME for flag in binaryen_flag(feature, version)}
    assert ours <= theirs, ours - theirs
    assert theirs - ours <= {"--enable-gc-nn-locals", "--enable-typed-function-references"}   # nothing forgotten


def test_features_a_release_cannot_read_stop_with_a_reason() -> None:
    feats = Features()
    feats.add("wide-arithmetic", "opcode 0xfc 0x13")
    assert wasm_opt_flags(feats, 132) == ["--enable-wide-arithmetic"]
    with pytest.raises(UnsupportedFeature, match="wasm-opt 116 cannot read this binary.*wide-arithmetic"):
        wasm_opt_flags(feats, 116)
    feats = Features()
    feats.add("bulk-memory-opt", "memory.copy")
    assert wasm_opt_flags(feats, 116) == ["--enable-bulk-memory"] and wasm_opt_flags(feats, 121) == ["--enable-bulk-memory-opt"]


def c_fixtures() -> list[Path]:
    return sorted((FIXTURES / "src").glob("*.c")) + [FIXTURES / "features" / "features.c", FIXTURES / "thunks" / "similar.c"]


@pytest.mark.parametrize("source", c_fixtures(), ids=lambda p: p.stem)
def test_the_code_scan_finds_nothing_llvm_did_not_enable(source: Path, tmp_path: Path) -> None:
    m = decode(compile_c(source, tmp_path / "x.wasm").read_bytes())
    declared = {name for name, prefix in (target_features(m) or {}).items() if prefix == "+"}
    bare = decode(without_section((tmp_path / "x.wasm").read_bytes(), "target_features"))
    found = features_of(bare, scan_code=True).used
    assert declared and found <= declared | {"bulk-memory-opt"}, found - declared


def test_quickjs_release_needs_exactly_what_wasm_opt_asks(tmp_path: Path) -> None:
    """The real nameless quickjs-emscripten release build (Emscripten strips target_features)."""
    wasm = npm_member("@jitl/quickjs-wasmfile-release-sync@0.32.0", "package/dist/emscripten-module.wasm")
    feats = features_of(decode(wasm.read_bytes()), scan_code=True)
    assert feats.source == "module and code"
    for version in (110, 123, 132):
        flags = wasm_opt_flags(feats, version)
        rejected = wasm_opt(version, wasm, [], tmp_path)
        assert rejected.returncode != 0 and asked(rejected.stderr) <= set(flags)
        assert wasm_opt(version, wasm, flags, tmp_path).returncode == 0
    assert wasm_opt_flags(feats, 132) == ["--enable-bulk-memory-opt", "--enable-nontrapping-float-to-int"]


def test_the_note_says_where_the_flags_come_from(built: tuple[Path, Path]) -> None:
    from asyncify_doctor.decode.features import flags_note
    full, bare = built
    with_section, without = flags_note(decode(full.read_bytes()), 132), flags_note(decode(bare.read_bytes()), 132)
    assert "reads this binary's target_features section itself" in with_section
    assert without.startswith("note: give wasm-opt 132 these flags") and "--enable-simd" in without
    assert without.split(": ")[-1] in with_section   # the same flags, from the code


def test_quickjs_release_list_and_flags_drive_wasm_opt(tmp_path: Path) -> None:
    """Names and flags together, on the real release build (no names, no target_features): the list
    `analyze --format binaryen` writes plus the flags `flags_note` gives make wasm-opt 132 instrument
    exactly the listed functions (the imports are the minified `a.*` ones: any set does for this)."""
    from asyncify_doctor.runtime.binaryen import wasm_opt_path
    from asyncify_doctor.graph.callgraph import CallGraph
    from asyncify_doctor.decode.features import flags_note
    from asyncify_doctor.analysis.recognize import recognize
    wasm = npm_member("@jitl/quickjs-wasmfile-release-sync@0.32.0", "package/dist/emscripten-module.wasm")
    m = decode(wasm.read_bytes())
    listfile, out = tmp_path / "only.txt", tmp_path / "out.wasm"
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", "a.f,a.g,a.i",
                    "--format", "binaryen", "-o", str(listfile)], check=True, capture_output=True)
    flags = flags_note(m, 132).split(": ")[-1].split()
    done = subprocess.run([wasm_opt_path() or "wasm-opt", str(wasm), *flags, "--asyncify",
                           "--pass-arg=asyncify-imports@a.f,a.g,a.i", f"--pass-arg=asyncify-onlylist@@{listfile}",
                           "-o", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "non-existing" not in done.stderr, done.stderr[-2000:]
    want = sorted(int(n) + m.num_imported_functions for n in listfile.read_text().split())
    assert len(want) > 500 and sorted(recognize(CallGraph(decode(out.read_bytes()))).instrumented) == want


def test_the_code_features_come_from_the_one_scan(wat_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/wat/uses.wat holds an instruction or type of most classes the scanners note: each gives its
    feature, saying where it was first used. No class lacks a feature, and reading the features walks
    no body again: only the few constant expressions of the module sections."""
    from conftest import build_wat

    from asyncify_doctor.decode import code as codemod
    from asyncify_doctor.decode import opcodes as op
    from asyncify_doctor.decode.features import USE_FEATURES, module_features
    assert sorted(USE_FEATURES) == list(range(op.NUM_USES))
    feats = features_of(decode(build_wat("uses", wat_dir).read_bytes()), scan_code=True)
    assert feats.used == {"atomics", "bulk-memory", "bulk-memory-opt", "exception-handling", "extended-const", "gc",
                          "multimemory", "multivalue", "nontrapping-fptoint", "reference-types", "relaxed-simd",
                          "sign-ext", "simd128", "tail-call", "wide-arithmetic"}
    assert feats.why["simd128"].startswith("a v128 local") and "(function 3, byte offset" in feats.why["simd128"]
    assert feats.why["extended-const"].startswith("add, sub or mul in a constant expression (byte offset")
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    import extreme
    m = decode(extreme.emscripten_like(2000))
    walked = []
    scan_expr = codemod.scan_expr
    monkeypatch.setattr(codemod, "scan_expr", lambda ctx, f=None: walked.append(f) or scan_expr(ctx, f))
    assert "reference-types" not in module_features(m, scan_code=True).used   # one table, funcref: MVP
    assert len(walked) == 1   # the element segment's offset; none of the 2,000 bodies


@pytest.mark.parametrize("seed", range(12))
def test_features_of_any_module(seed: int) -> None:
    """`wasm-tools smith` modules with every proposal, compact imports included (grouped imports once
    broke the section walk): the features are read, and each class the code scan noted gives its own."""
    import random

    from independent import wasm_tools

    from asyncify_doctor.decode.features import USE_FEATURES
    smith = ["shared-everything-threads", "custom-descriptors", "gc", "exceptions", "tail-call", "threads", "memory64",
             "wide-arithmetic", "extended-const", "relaxed-simd", "simd", "compact-imports", "bulk-memory",
             "reference-types", "multi-value"]
    flags = [a for f in smith for a in (f"--{f}-enabled", "true")] + ["--max-memories", "3", "--max-tables", "3"]
    data = subprocess.run([wasm_tools(), "smith", *flags], input=random.Random(1000 + seed).randbytes(6000),
                          capture_output=True, check=True).stdout
    m = decode(data)
    feats = features_of(m, scan_code=True)
    assert m.code is None or all(set(USE_FEATURES[k][0]) <= feats.used for k, _ in m.code.uses.in_order())


@pytest.mark.parametrize("version", [132, 116])
def test_flags_printed_with_a_list_for_a_stripped_nameless_binary_drive_wasm_opt(version: int, tmp_path: Path) -> None:
    """The taskrunner with every custom section stripped (no names, no target_features; its code uses
    memory.copy): `analyze --format binaryen` prints the flags next to the list (stderr: wasm-opt reads
    every line of a list file as a name), wasm-opt `version` rejects the binary without them, and with
    them and the list instruments exactly the listed functions, no "non-existing function name"; the
    tests of the project then pass."""
    from independent import wasm_tools
    sys.path.insert(0, str(FIXTURES / "taskrunner"))
    from taskrunner_project import HERE, Project, compiled
    bare = tmp_path / "app.wasm"
    subprocess.run([wasm_tools(), "strip", "--all", str(compiled(tmp_path / "cache")), "-o", str(bare)], check=True)
    m = decode(bare.read_bytes())
    assert target_features(m) is None and not any(f.has_name for f in m.functions)
    listfile, out = tmp_path / "only.list", tmp_path / "app.async.wasm"
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(bare), "--imports", f"@{HERE / 'imports.list'}",
                           "--format", "binaryen", "--binaryen-version", str(version), "-o", str(listfile)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    note = next(line for line in proc.stderr.splitlines() if "--enable-" in line)
    assert note.startswith(f"asyncify-doctor: note: give wasm-opt {version} these flags with the list")
    flags = note.split(": ")[-1].split()
    assert flags == (["--enable-bulk-memory-opt"] if version >= 121 else ["--enable-bulk-memory"])
    assert "--enable-" not in listfile.read_text()
    imports = ",".join((HERE / "imports.list").read_text().split())
    pass_args = [f"asyncify-imports@{imports}", f"asyncify-onlylist@@{listfile}"]
    if version == 116:
        bare_run = binaryen_cmd(116) + [str(bare), "validate"]
        run = binaryen_cmd(116) + [str(bare), "-o", str(out), *flags, *(x for a in pass_args for x in ("--pass-arg", a)),
                                   "validate", "asyncify"]
    else:
        bare_run = binaryen_cmd(version) + [str(bare), "-o", str(tmp_path / "x.wasm")]
        run = binaryen_cmd(version) + [str(bare), *flags, "--asyncify", *(f"--pass-arg={a}" for a in pass_args), "-o", str(out)]
    assert subprocess.run(bare_run, capture_output=True, text=True).returncode != 0
    done = subprocess.run(run, capture_output=True, text=True)
    assert done.returncode == 0 and "non-existing" not in done.stderr, done.stderr[-2000:]
    from asyncify_doctor.analysis.recognize import recognize
    from asyncify_doctor.graph.callgraph import CallGraph
    sep = "," if version < 117 else "\n"
    want = sorted(int(n) + m.num_imported_functions for n in listfile.read_text().strip().split(sep))
    assert sorted(recognize(CallGraph(decode(out.read_bytes()))).instrumented) == want
    assert Project(tmp_path, "-O0", False).run_tests("asyncify-wasm").returncode == 0
    doc = json.loads(subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(bare), "--imports",
                                     f"@{HERE / 'imports.list'}", "--format", "json"], capture_output=True, text=True).stdout)
    assert doc["wasm_opt"] == {"version": 132, "reads_target_features": False, "flags": ["--enable-bulk-memory-opt"],
                               "note": note.removeprefix("asyncify-doctor: ").replace(f"wasm-opt {version}", "wasm-opt 132")
                               .replace(" ".join(flags), "--enable-bulk-memory-opt")}
    assert [f["binaryen_name"] for f in doc["functions"]] == [str(f["index"] - m.num_imported_functions) for f in doc["functions"]]
