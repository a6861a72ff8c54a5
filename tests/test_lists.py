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

from asyncify_doctor.lists import (ListFormatError, UnrepresentableName, add_entries, emscripten_mangle,
                                   entry_matches, format_names, parse_list, read_list, write_atomic)

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
    assert parse_list(format_names(names, "emscripten")).entries == names
    back = parse_list(format_names(names, "emscripten", mangle=True)).entries
    assert back == [emscripten_mangle(n) for n in names]
    assert all(entry_matches(e, n) for e, n in zip(back, names))


@settings(max_examples=200, deadline=None)
@given(NAMES.map(lambda ns: [n for n in ns if not any(c in n for c in ",()<>[]{}") and not n.startswith(("#", '"'))
                             and not n.endswith(",")]))
def test_list_and_binaryen_round_trip(names: list[str]) -> None:
    assert parse_list(format_names(names, "list", header="made by a test")).entries == names
    for version in (108, None):
        assert parse_list(format_names(names, "binaryen", binaryen_version=version)).entries == names


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
    code = (f"import os, asyncify_doctor.lists as l\n"
            f"orig = os.fsync\n"
            f"def slow(fd): os.kill(os.getpid(), 9)\n"
            f"os.fsync = slow\n"
            f"l.write_atomic({str(p)!r}, 'x' * 10_000_000)\n")
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -signal.SIGKILL
    assert p.read_text() == "original\n"
