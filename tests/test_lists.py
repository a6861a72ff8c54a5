"""List files: every layout read by one reader, every writer round-trips, edits keep the rest."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncify_doctor.lists import (BINARYEN, EMCC, ListFormatError, UnrepresentableName, add_entries,
                                   binaryen_reads, emcc_entry, emcc_reads, emscripten_mangle, entry_matches,
                                   format_names,
                                   list_warnings, parse_list, read_list)
from asyncify_doctor.system.outputs import write_atomic

PLAYGROUND_DOCKERFILE = textwrap.dedent('''\
    RUN source /root/emsdk/emsdk_env.sh && \\
        emcc -O3 \\
        -s ASYNCIFY=1 \\
        -s ASYNCIFY_IGNORE_INDIRECT=1 \\
        -s ASYNCIFY_ONLY=$'["zend_call_function",\\
    "php_stream_read",\\
    "zend_execute_scripts"]' \\
        -o /root/output/php.js
    ''')


def test_plain_with_comments() -> None:
    lf = parse_list("# async path\nfoo\n  # indented comment\nbar(int, char)\n\nx#y\n")
    assert lf.format == "list" and lf.entries == ["foo", "bar(int, char)", "x#y"]


def test_json_and_binaryen_and_makefile() -> None:
    assert parse_list('[\n  "a b",\n  "c"\n]\n').entries == ["a b", "c"]
    assert parse_list("a,b,c\n").entries == ["a", "b", "c"]
    lf = parse_list('CFLAGS += -sASYNCIFY_ONLY=["main","run_loop"] -O2\n')
    assert lf.format == "embedded" and lf.entries == ["main", "run_loop"]


def test_playground_dockerfile_layout_and_edit() -> None:
    lf = parse_list(PLAYGROUND_DOCKERFILE)
    assert lf.entries == ["zend_call_function", "php_stream_read", "zend_execute_scripts"]
    new = add_entries(lf, ["php_pollfd_for", "zend_call_function"])
    assert new == PLAYGROUND_DOCKERFILE.replace('"zend_execute_scripts"]', '"zend_execute_scripts",\\\n"php_pollfd_for"]')
    assert parse_list(new).entries == lf.entries + ["php_pollfd_for"]


@pytest.mark.parametrize("text, offset, message", [
    ('["a", "b"', 9, "bad JSON"),
    ('[1, 2]', 0, "array of strings"),
    ('-sASYNCIFY_ONLY=["a", "b" -O2', 16, "never closed"),
])
def test_errors_name_byte_offset(text: str, offset: int, message: str) -> None:
    with pytest.raises(ListFormatError) as exc:
        parse_list(text, source="x.list")
    assert exc.value.offset == offset and message in str(exc.value) and str(exc.value).startswith("x.list: byte offset")


def test_invalid_utf8_file(tmp_path: Path) -> None:
    p = tmp_path / "l.list"
    p.write_bytes(b"ok\n\xff\n")
    with pytest.raises(ListFormatError, match="byte offset 3: not valid UTF-8"):
        read_list(p)


def test_mangling_and_matching() -> None:
    assert emscripten_mangle("f(int, A&)") == "f(int?.A#)"
    assert entry_matches("f(int?.A#)", "f(int, A&)")
    assert entry_matches("zend_*", "zend_call_function") and not entry_matches("zend_*", "php_zend")


def test_binaryen_refuses_ambiguous_joins() -> None:
    with pytest.raises(UnrepresentableName, match="unbalanced"):
        format_names(["(", "0"], "binaryen", binaryen_version=108)
    assert parse_list(format_names(["(", "0"], "binaryen")).entries == ["(", "0"]


def test_binaryen_comma_rules_match_binaryen() -> None:
    """Binaryen keeps commas inside brackets whole (handleBracketingOperators); newline files since 117."""
    cxx = ["f(int, int)", "g<a, b>", "h"]
    assert parse_list(format_names(cxx, "binaryen", binaryen_version=108)).entries == cxx
    assert parse_list(format_names(cxx, "binaryen")).entries == cxx
    assert parse_list(format_names(["a,b", "c"], "binaryen")).entries == ["a,b", "c"]   # one per line: kept
    for version in (108, None):
        with pytest.raises(UnrepresentableName, match="comma"):
            format_names(["a,b"] if version is None else ["a,b", "c"], "binaryen", binaryen_version=version)
    assert format_names(["a", "b"], "binaryen", binaryen_version=108) == "a,b\n"
    assert format_names(["a", "b"], "binaryen") == "a\nb\n"
    with pytest.raises(ListFormatError, match="unbalanced"):
        parse_list("f(int, g\n")


NAMES = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
                 .filter(lambda s: s == s.strip()), max_size=20, unique=True)


@settings(max_examples=200, deadline=None)
@given(NAMES)
def test_emscripten_round_trip(names: list[str]) -> None:
    """What emcc hands Binaryen selects every name: as written where emcc keeps it, else as a `*`
    pattern (emcc turns `.#?` into other characters and splits entries on commas)."""
    from asyncify_doctor.analysis.selection import matches
    text = format_names(names, "emscripten")
    assert parse_list(text).entries == [emcc_entry(n) for n in names]
    read = emcc_reads(text).names or []
    assert len(read) == len(names) and all(matches(e, n) for e, n in zip(read, names))
    assert all(e == n for e, n in zip(read, names) if emcc_entry(n) == n)
    mangled = format_names(names, "emscripten", mangle=True)
    assert parse_list(mangled).entries == [emscripten_mangle(emcc_entry(n)) for n in names]
    assert (emcc_reads(mangled).names or []) == read


@settings(max_examples=200, deadline=None)
@given(NAMES.map(lambda ns: [n for n in ns if not any(c in n for c in ",()<>[]{}") and not n.startswith(("#", '"'))
                             and not n.endswith(",")]))
def test_list_and_binaryen_round_trip(names: list[str]) -> None:
    """What we write is what we read back, and exactly what the consumers read (their rules, from
    their sources: `binaryen_reads`, `emcc_reads`)."""
    text = format_names(names, "list")
    assert parse_list(text).entries == names
    assert binaryen_reads(text).names == (names or None)
    if not any(c in n for n in names for c in ".#?"):       # emcc unmangles those three
        assert emcc_reads(text).names == (names or None)
    for version in (108, None):
        written = format_names(names, "binaryen", binaryen_version=version)
        assert parse_list(written).entries == names
        assert binaryen_reads(written, version).names == (names or None)
    assert list_warnings(parse_list(text), BINARYEN) == ([] if names else [list_warnings(parse_list(""))[0]])


def test_write_atomic_keeps_mode_and_original_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "only.list"
    p.write_text("old\n")
    os.chmod(p, 0o640)
    write_atomic(p, "new\n", backup=True)
    assert p.read_text() == "new\n" and stat.S_IMODE(p.stat().st_mode) == 0o640
    assert (tmp_path / "only.list.bak").read_text() == "old\n"

    def boom(*_a: object) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(Exception, match="No space left"):
        write_atomic(p, "newer\n")
    assert p.read_text() == "new\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["only.list", "only.list.bak"]


def test_killed_writer_leaves_original(tmp_path: Path) -> None:
    p = tmp_path / "only.list"
    p.write_text("original\n")
    code = (f"import os, asyncify_doctor.system.outputs as l\n"
            f"orig = os.fsync\n"
            f"def slow(fd): os.kill(os.getpid(), 9)\n"
            f"os.fsync = slow\n"
            f"l.write_atomic({str(p)!r}, 'x' * 10_000_000)\n")
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -signal.SIGKILL
    assert p.read_text() == "original\n"


# --- what the consumers read (Binaryen's src/passes/Asyncify.cpp + support/string.cpp; emcc's
# tools/cmdline.py + tools/link.py), and the warnings where it differs from what a list means to us

def test_binaryen_reads_files_as_its_source_says() -> None:
    assert binaryen_reads("").names is None and binaryen_reads(" \n\t\n\0").names is None   # no list at all
    assert binaryen_reads("# made by x\nfoo\n").names == ["# made by x", "foo"]            # no comments
    assert binaryen_reads("a\n\nb\n").names == ["a", "", "b"]                             # a blank line is a name
    assert binaryen_reads(" a\r\nb\r\n").names == [" a\r", "b"]                            # lines kept verbatim
    assert binaryen_reads("f(int, char),g\n").names == ["f(int, char)", "g"]                # one line: commas
    assert binaryen_reads("a,,b,\n").names == ["a", "b"]                                    # empty parts dropped
    assert binaryen_reads("a\nb\n", 116).names == ["a\nb"]                                 # before 117: commas only
    assert binaryen_reads("f(a,b\n").fatal is not None                                      # unbalanced: Fatal()


def test_emcc_reads_files_as_its_source_says() -> None:
    assert emcc_reads("").fatal and emcc_reads("").names is None
    assert emcc_reads("# header\n  foo  \n\nbar\n").names == ["foo", "bar"]   # `#` in column 0 skipped
    assert emcc_reads("foo\n  # indented\n").names == ["foo", "& indented"]     # not a comment; `#` → `&`
    assert emcc_reads("  # first\nfoo\n").names == ["foo"]             # the file is stripped before its lines
    assert emcc_reads('["a.b", "f(int, char)"]').names == ["a b", "f(int, char)"]
    assert emcc_reads("a.b\n", unmangle=False).names == ["a.b"]                    # ASYNCIFY_IMPORTS are not unmangled


@pytest.mark.parametrize("text, consumer, expect", [
    ("", None, "the list is empty: Binaryen reads an empty onlylist as no list at all"),
    ("\n\n", BINARYEN, "asyncify-removelist@*"),
    ("# asyncify-doctor 0.1.0: 2 functions\nfoo\nbar\n", BINARYEN, "reads the comment '# asyncify-doctor 0.1.0: 2 functions'"),
    ("# added by fix, round 1: unreachable (test: a, b)\nfoo\nbar\n", None, "wasm-opt reads the comment"),
    ("foo\r\nbar\r\n", BINARYEN, "reads 'foo' as 'foo\\r': Windows line endings"),
    (" foo\nbar\n", BINARYEN, "reads 'foo' as ' foo'"),
    ('"foo",\n"bar"\n', BINARYEN, "reads 'foo' as '\"foo\",'"),
    ("foo\n\nbar\n", BINARYEN, "reads each blank line as a function name, an empty one"),
    ("foo\nbar\n", "116", "Binaryen 116 splits list files on commas only"),
    ('["foo", "bar"]\n', BINARYEN, "wasm-opt does not read JSON"),
    ('["a.b", "c"]\n', EMCC, "emcc reads 'a.b' as 'a b'"),
])
def test_list_warnings(text: str, consumer: str | None, expect: str) -> None:
    version = int(consumer) if consumer and consumer.isdigit() else None
    warnings = list_warnings(parse_list(text, source="only.list"), BINARYEN if version else consumer,
                             binaryen_version=version)
    assert any(expect in w for w in warnings), warnings
    assert all(w.startswith("only.list: ") and "\n" not in w for w in warnings)


def test_list_warnings_quiet_on_what_consumers_read_as_meant() -> None:
    for text in ("foo\nbar\n", "foo\n", "f(int, char)\ng\n", "a,b,c\n"):
        assert list_warnings(parse_list(text)) == [], text
    assert list_warnings(parse_list("# for emcc\nfoo\nbar\n"), EMCC) == []
    assert list_warnings(parse_list('["foo", "bar"]')) == []
    imports = list_warnings(parse_list("", source="imports.list"), kind="imports")
    assert imports and "every import may suspend" in imports[0]


def test_add_entries_writes_names_only_in_the_files_own_line_endings() -> None:
    assert add_entries(parse_list("a\r\nb\r\n"), ["c"]) == "a\r\nb\r\nc\r\n"
    assert add_entries(parse_list(""), ["a", "b"]) == "a\nb\n"
    assert add_entries(parse_list("a,b\n"), ["c"]) == "a,b,c\n"
    assert add_entries(parse_list("# mine\na\n"), ["b"]) == "# mine\na\nb\n"


def test_the_real_wasm_opt_reads_lists_as_binaryen_reads(tmp_path: Path) -> None:
    """npm's wasm-opt (Binaryen 132) on list files: `#` lines are names it cannot find, an empty file
    instruments everything, and what format_names writes is instrumented exactly."""
    from asyncify_doctor.analysis.audit import instrumented_names
    from asyncify_doctor.runtime.binaryen import wasm_opt_path
    from asyncify_doctor.runtime.toolchain import compile_c
    from proof import SRC
    wasm_opt = wasm_opt_path()
    if wasm_opt is None:
        pytest.skip("npm's wasm-opt is not installed (npm ci)")
    wasm = compile_c(SRC / "direct_chain.c", tmp_path / "dc.wasm")

    def asyncify(text: str) -> tuple[set[str], str]:
        (tmp_path / "only.list").write_text(text, newline="")
        proc = subprocess.run([wasm_opt, str(wasm), "--asyncify", "--pass-arg=asyncify-imports@env.fetch_value,env.sleep_ms",
                               "--pass-arg=asyncify-onlylist@@only.list", "-g", "-o", str(tmp_path / "out.wasm")],
                              capture_output=True, cwd=tmp_path)   # bytes: a "\r" in its warnings stays one
        assert proc.returncode == 0, proc.stderr
        return instrumented_names((tmp_path / "out.wasm").read_bytes()), proc.stderr.decode()

    wanted = ["read_value", "load_config", "run"]
    got, err = asyncify(format_names(wanted, "list"))
    assert got == set(wanted) and "warning" not in err
    got, err = asyncify("# asyncify-doctor header\n" + format_names(wanted, "list"))
    assert got == set(wanted) and "non-existing function name: '# asyncify-doctor header'" in err
    got, err = asyncify("read_value\r\nload_config\r\nrun\r\n")
    assert got == {"run"} and "non-existing function name: 'read_value\r'" in err
    everything, _ = asyncify("")
    assert set(wanted) < everything
    assert list_warnings(parse_list(""), BINARYEN)


def doctor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *args], capture_output=True, text=True, cwd=cwd)


def test_analyze_writes_names_only_and_says_what_made_them_on_stderr(tmp_path: Path) -> None:
    from asyncify_doctor.commands.demo import demo_wasm
    proc = doctor("analyze", str(demo_wasm()), "--imports", "env.sleep_ms,env.fetch_value", "-o", "only.list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "only.list").read_text()
    assert "#" not in text and binaryen_reads(text).names == read_list(tmp_path / "only.list").entries
    assert len(text.split()) == 6 and "6 functions can be on the stack at an async import of" in proc.stderr
    assert "warning" not in proc.stderr


def test_analyze_warns_about_an_empty_list_and_the_lists_it_reads(tmp_path: Path) -> None:
    from asyncify_doctor.commands.demo import demo_wasm
    (tmp_path / "imports.list").write_text("")
    proc = doctor("analyze", str(demo_wasm()), "--imports", "@imports.list", cwd=tmp_path)
    # Binaryen would read an empty imports file as "every import may suspend": refused, in one line
    assert proc.returncode == 2 and "lists no import pattern" in proc.stderr and proc.stderr.count("\n") == 1
    (tmp_path / "imports.list").write_text("# the host's async imports\nenv.nothing_like_this\n")
    (tmp_path / "only.list").write_text("kept\n")
    proc = doctor("analyze", str(demo_wasm()), "--imports", "@imports.list", "-o", "only.list", cwd=tmp_path)
    # a selection that selects nothing is a typo, never "nothing is async": refused, the old list kept
    assert proc.returncode == 2 and (tmp_path / "only.list").read_text() == "kept\n"
    assert "wasm-opt reads the comment" in proc.stderr and "async imports\" as an import pattern" in proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert error.startswith("asyncify-doctor: error: --imports env.nothing_like_this matches no import in @imports.list of")
    assert "instrument everything" in error


def test_analyze_emscripten_format_writes_patterns_for_names_emcc_would_change(tmp_path: Path) -> None:
    """The name section can hold `a.b` (LLVM's `.llvm.123` suffixes, Rust paths); emcc would hand
    Binaryen `a b`. Written as `a*b`, which emcc passes on unchanged and which selects `a.b`."""
    from independent import wasm_tools
    (tmp_path / "m.wat").write_text('(module (import "env" "sleep_ms" (func $sleep)) '
                                    '(func $a.b (export "run") call $sleep) (func $c#1 (export "go") call $a.b))')
    subprocess.run([wasm_tools(), "parse", "m.wat", "-o", "m.wasm"], check=True, cwd=tmp_path)
    proc = doctor("analyze", "m.wasm", "--imports", "env.sleep_ms", "--format", "emscripten", "-o", "only.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert read_list(tmp_path / "only.json").entries == ["a*b", "c*1"]
    assert emcc_reads((tmp_path / "only.json").read_text()).names == ["a*b", "c*1"]
    assert "2 name(s) are written as `*` patterns" in proc.stderr and "a.b → a*b" in proc.stderr
    assert "warning" not in proc.stderr


def test_audit_list_warns_in_one_line(tmp_path: Path) -> None:
    from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
    from asyncify_doctor.commands.demo import demo_wasm
    built = tmp_path / "demo.async.wasm"
    built.write_bytes(asyncify(demo_wasm().read_bytes(), AsyncifyOptions(imports=("env.sleep_ms", "env.fetch_value"))))
    (tmp_path / "only.list").write_text("# the list the build used\nmain_loop\n")
    proc = doctor("audit", str(built), "--imports", "env.sleep_ms,env.fetch_value", "--list", "only.list", cwd=tmp_path)
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "wasm-opt reads the comment '# the list the build used'" in warnings[0]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(["main", "php_execute", "$f", "a.b", "x#y", "q?", "foo(int, char)", "std::vector<int>",
                                 "a,b", "tab\there", "é", "", "x", "y", "z", "w1", "w2", "a(", "c)", " lead",
                                 "trail ", "#c", "q\"", "\r", "std::terminate()", "f(a, b)", "g<int>", "operator<",
                                 "h(x)y)", "(,)", "x,y", "q", "a", "b", "\"z\"", "z,"]), max_size=12),
       st.sampled_from(["list", "binaryen", "emscripten"]), st.sampled_from([None, 110, 116, 117]))
def test_warnings_on_the_sample_are_the_warnings_on_the_whole_list(names: list[str], fmt: str, version: int | None) -> None:
    """`analyze` checks only `warning_sample(names)` of its own output: it must say exactly what
    checking every name would."""
    from asyncify_doctor.lists import format_names, list_warnings, parse_list, warning_sample
    names = list(dict.fromkeys(names))
    consumer = {"binaryen": BINARYEN, "emscripten": EMCC}.get(fmt)

    def warnings(of: list[str]) -> list[str] | str:
        try:
            text = format_names(of, fmt, binaryen_version=version)
        except UnrepresentableName as exc:
            return str(exc)
        return list_warnings(parse_list(text, source="out"), consumer, binaryen_version=version)

    whole = warnings(names)
    if isinstance(whole, list):
        assert warnings(warning_sample(names)) == whole
