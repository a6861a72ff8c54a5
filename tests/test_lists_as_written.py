"""List and import files as people write them — a UTF-8 byte-order mark, inline `# comments`, the list
inside a Makefile, CMake or Dockerfile line — are read as meant, edited in their own syntax, or refused
(exit 2, the file byte-identical). What the consumers make of them is checked on the real thing: GNU
make and bash hand the flag on (a recipe that prints its arguments), emcc's parser of that argument is
`emcc_setting_reads` (tools/cmdline.py), and Binaryen 132 (npm's wasm-opt) and 116 (libbinaryen) read
the files."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asyncify_doctor.analysis.audit import instrumented_names
from asyncify_doctor.commands.demo import demo_wasm
from asyncify_doctor.lists import (BINARYEN, EMCC, ListFormatError, add_entries, binaryen_reads, emcc_reads,
                                   emcc_setting_reads, list_warnings, parse_list, read_list)
from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify, backends
from asyncify_doctor.runtime.toolchain import compile_c
from proof import SRC
from test_lists import PLAYGROUND_DOCKERFILE

DEMO_IMPORTS = "env.sleep_ms,env.fetch_value"


def doctor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncify_doctor", *args], capture_output=True, text=True, cwd=cwd)


def demo_list() -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(demo_wasm()), "--imports", DEMO_IMPORTS],
                          capture_output=True, text=True, check=True)
    return proc.stdout.split()


# --- a byte-order mark, inline comments ----------------------------------------------------------

def test_bom_and_inline_comments_are_read_as_meant_and_kept() -> None:
    text = "\ufeff# async path\nread_value  # waits on fetch_value\nload_config\t# and this\nrun\n"
    lf = parse_list(text, source="only.list")
    assert lf.entries == ["read_value", "load_config", "run"] and lf.bom
    assert add_entries(lf, ["main"]) == text + "main\n"                     # the mark and the comments kept
    assert parse_list("\ufeff[\"a\", \"b\"]\n").entries == ["a", "b"]        # JSON after a mark
    assert parse_list("\ufeffa,b # x\n").entries == ["a", "b"]               # commas, then a comment
    assert parse_list("x#y\nf(int?.A#)\n").entries == ["x#y", "f(int?.A#)"]  # mangled names keep their `#`
    with pytest.raises(ListFormatError, match="byte offset 3: a JSON list"):  # offsets count the mark's 3 bytes
        parse_list('\ufeff["a", 1]')


def test_consumers_read_the_mark_and_inline_comments_as_names_and_we_say_so() -> None:
    """Binaryen's read_file and emcc's read_file ('utf-8', not 'utf-8-sig') keep U+FEFF; neither has
    inline comments (emcc turns the `#` into `&`)."""
    text = "\ufeffread_value  # waits\nload_config\nrun\n"
    assert binaryen_reads(text).names == ["\ufeffread_value  # waits", "load_config", "run"]
    assert emcc_reads(text).names == ["\ufeffread_value  & waits", "load_config", "run"]
    assert emcc_reads('\ufeff["a", "b"]').names == ['\ufeff["a", "b"]']   # the mark hides the `[`: one name
    warnings = list_warnings(parse_list(text, source="only.list"))
    assert any("byte-order mark, which wasm-opt reads as part of the first name ('\\ufeffread_value  # waits'" in w
               for w in warnings), warnings
    assert any("wasm-opt reads 'read_value' as 'read_value  # waits': an inline comment is part of the name" in w
               for w in warnings), warnings
    assert any("emcc reads 'read_value' as 'read_value  & waits'" in w for w in warnings), warnings
    json_bom = list_warnings(parse_list('\ufeff["a", "b"]\n', source="only.json"), EMCC)
    assert json_bom and "hides the `[` from emcc: it reads this JSON file as one name per line" in json_bom[0]


@pytest.mark.parametrize("backend", ["wasm-opt", "libbinaryen"])
def test_real_binaryen_reads_the_mark_and_inline_comments_as_part_of_a_name(backend: str, tmp_path: Path) -> None:
    """Binaryen 132 (one name per line) and 116 (commas only, so a one-line list) on such files: the
    entry with the mark or the comment matches no function and is not instrumented; `binaryen_reads`
    says exactly which names it took."""
    if backend not in backends():
        pytest.skip(f"{backend} is not installed")
    version = int(backends()[backend])
    wasm = compile_c(SRC / "direct_chain.c", tmp_path / "dc.wasm").read_bytes()
    texts = (["\ufeffread_value\nload_config\nrun\n", "read_value  # waits on fetch_value\nload_config\nrun\n"]
             if version >= 117 else   # before 117 a file is one comma-separated line: the comment ends it
             ["\ufeffread_value,load_config,run\n", "load_config,run,read_value  # waits on fetch_value\n"])
    for text in texts:
        first = next(n for n in binaryen_reads(text, version).names or [] if "read_value" in n)
        (tmp_path / "only.list").write_text(text, encoding="utf-8")
        assert sorted(parse_list(text).entries) == ["load_config", "read_value", "run"]   # what it means
        got = instrumented_names(asyncify(wasm, AsyncifyOptions(imports=tuple(DEMO_IMPORTS.split(",")),
                                                                onlylist=(f"@{tmp_path / 'only.list'}",)), backend))
        assert got == {"load_config", "run"}, (backend, first, got)                # what Binaryen does
        assert first != "read_value" and got == set(binaryen_reads(text, version).names or []) - {first}


def test_imports_file_with_a_mark_and_inline_comments_selects_what_it_means(tmp_path: Path) -> None:
    (tmp_path / "imports.list").write_text("\ufeffenv.sleep_ms   # the timer\nenv.fetch_value\n", encoding="utf-8")
    proc = doctor("analyze", str(demo_wasm()), "--imports", "@imports.list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == demo_list()
    assert "byte-order mark, which wasm-opt reads as part of the first name" in proc.stderr
    assert "an inline comment is part of the name to wasm-opt" in proc.stderr


# --- lists inside build files, through real make and bash -----------------------------------------

MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")


def make_args(tmp: Path) -> list[str]:
    """The arguments the Makefile's recipe hands on, after make and the shell: printed one per line."""
    proc = subprocess.run([MAKE or "make", "-s", "-C", str(tmp)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def emcc_view(args: list[str]) -> list[str] | None:
    """What emcc hands Binaryen for the ASYNCIFY_ONLY argument among `args` (None: it stops)."""
    value = next(a.split("=", 1)[1] for a in args if a.startswith(("-sASYNCIFY_ONLY=", "ASYNCIFY_ONLY=")))
    read = emcc_setting_reads(value)
    return None if read.fatal else read.names


RECIPE = "\nall:\n\t@printf '%s\\n' $(LDFLAGS)\n"


@needs_make
@pytest.mark.parametrize("line", [
    "LDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=['fetch_page'] -O2",
    "LDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=fetch_page -O2",
    "LDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY='[\"fetch_page\"]' -O2",
    "ONLY := fetch_page\nLDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=$(ONLY) -O2",
    "LDFLAGS += -sASYNCIFY -s ASYNCIFY_ONLY=[\"fetch_page\"] -O2",
])
def test_update_edits_the_makefile_line_in_its_own_syntax(line: str, tmp_path: Path) -> None:
    """`--current Makefile --update` puts the new names inside the setting, quoted as its entries are;
    make still runs, and emcc (its parser, on what make hands on) gets exactly the list, which real
    wasm-opt then instruments exactly."""
    makefile = tmp_path / "Makefile"
    makefile.write_text(line + RECIPE)
    assert emcc_view(make_args(tmp_path)) == ["fetch_page"]
    proc = doctor("analyze", str(demo_wasm()), "--imports", DEMO_IMPORTS, "--current", "Makefile", "--update", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "Makefile.bak").read_text() == line + RECIPE
    text = makefile.read_text()
    assert text.endswith(RECIPE) and text.count("\n") == (line + RECIPE).count("\n")   # the same lines, one edited
    want = demo_list()
    assert sorted(read_list(makefile).entries) == sorted(want)
    emcc = emcc_view(make_args(tmp_path))
    assert emcc is not None and sorted(emcc) == sorted(want)
    got = instrumented_names(asyncify(demo_wasm().read_bytes(), AsyncifyOptions(
        imports=tuple(DEMO_IMPORTS.split(",")), onlylist=tuple(emcc)), "wasm-opt"))
    assert got == set(want)
    assert "warning" not in proc.stderr


@needs_make
def test_makefile_at_file_reference_is_followed(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("LDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=@only.list" + RECIPE)
    (tmp_path / "only.list").write_text("fetch_page\n")
    proc = doctor("analyze", str(demo_wasm()), "--imports", DEMO_IMPORTS, "--current", "Makefile", "--update", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "note: Makefile takes its list from" in proc.stderr and "updated " in proc.stderr
    assert (tmp_path / "Makefile").read_text() == "LDFLAGS += -sASYNCIFY -sASYNCIFY_ONLY=@only.list" + RECIPE
    assert sorted(read_list(tmp_path / "only.list").entries) == sorted(demo_list())
    assert binaryen_reads((tmp_path / "only.list").read_text()).names == read_list(tmp_path / "only.list").entries


@needs_make
def test_an_unquoted_list_with_spaces_is_split_by_the_shell_and_we_say_so(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text('LDFLAGS += -sASYNCIFY_ONLY=["fetch_page", "backoff"]' + RECIPE)
    args = make_args(tmp_path)
    assert "-sASYNCIFY_ONLY=[fetch_page," in args and "backoff]" in args      # two words
    assert emcc_setting_reads("[fetch_page,").fatal == 'unterminated string list. expected final character to be "]"'
    proc = doctor("analyze", str(demo_wasm()), "--imports", DEMO_IMPORTS, "--current", "Makefile", cwd=tmp_path)
    assert "the shell splits ASYNCIFY_ONLY=[…] at its spaces" in proc.stderr


@needs_make
@pytest.mark.parametrize("text, why", [
    ("all:\n\temcc -O2 app.c -o app.js\n", "a build file with no ASYNCIFY_ONLY or asyncify-onlylist list"),
    ("LDFLAGS += -sASYNCIFY_ADD=['fetch_page']" + RECIPE, "(it names ASYNCIFY_ADD)"),
    ("A = -sASYNCIFY_ONLY=['a']\nB = -sASYNCIFY_ONLY=['b']" + RECIPE, "2 ASYNCIFY_ONLY lists (lines 1, 2)"),
    ("ONLY := a\nONLY += b\nLDFLAGS += -sASYNCIFY_ONLY=$(ONLY)" + RECIPE, "ONLY is appended to (+=)"),
    ('LDFLAGS += "-sASYNCIFY_ONLY=[\\"a\\"]"' + RECIPE, "escaped quotes or backslashes"),
])
def test_a_build_file_we_cannot_edit_exactly_is_refused_untouched(text: str, why: str, tmp_path: Path) -> None:
    """Before: read line by line as names, and `--update` appended bare lines that broke `make` (exit 0)."""
    makefile = tmp_path / "Makefile"
    makefile.write_bytes(text.encode())
    proc = doctor("analyze", str(demo_wasm()), "--imports", DEMO_IMPORTS, "--current", "Makefile", "--update", cwd=tmp_path)
    assert proc.returncode == 2 and why in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert makefile.read_bytes() == text.encode() and not (tmp_path / "Makefile.bak").exists()


def test_names_the_shell_or_make_would_take_are_written_as_patterns() -> None:
    lf = parse_list("LDFLAGS += -sASYNCIFY_ONLY=['fetch_page']\n", source="Makefile")
    new = add_entries(lf, ["f(int, char)", "foo.llvm.123", "a$b#c"])
    assert new == "LDFLAGS += -sASYNCIFY_ONLY=['fetch_page','f*int*char*','foo*llvm*123','a*b*c']\n"
    quoted = parse_list("RUN emcc -sASYNCIFY_ONLY='[\"fetch_page\"]'\n", source="Dockerfile")   # a JSON string in '…'
    assert add_entries(quoted, ["f(int, char)"]) == "RUN emcc -sASYNCIFY_ONLY='[\"fetch_page\",\"f(int, char)\"]'\n"
    with pytest.raises(ListFormatError, match="cannot write 'a.b' into ASYNCIFY_ONLY"):   # `a*b` would select too much
        add_entries(lf, ["a.b"])


def test_playground_dockerfile_through_docker_line_joining_and_bash(tmp_path: Path) -> None:
    """The WordPress Playground style: Docker joins the `\\` lines, bash reads `$'[...]'`; emcc then
    gets the list — before and after an edit."""
    def emcc_gets(dockerfile: str) -> list[str] | None:
        run = re.sub(r"\\\n", "", dockerfile).removeprefix("RUN ").replace("source /root/emsdk/emsdk_env.sh && ", "")
        args = subprocess.run(["bash", "-c", run.replace("emcc", "printf '%s\\n'", 1)], capture_output=True,
                              text=True, check=True).stdout.splitlines()
        return emcc_view(args)
    assert emcc_gets(PLAYGROUND_DOCKERFILE) == ["zend_call_function", "php_stream_read", "zend_execute_scripts"]
    (tmp_path / "Dockerfile").write_text(PLAYGROUND_DOCKERFILE)
    edited = add_entries(read_list(tmp_path / "Dockerfile"), ["php_pollfd_for", "_php_stream_fopen"])
    assert emcc_gets(edited) == ["zend_call_function", "php_stream_read", "zend_execute_scripts", "php_pollfd_for",
                                 "_php_stream_fopen"]


def test_imports_from_a_makefile_are_its_asyncify_imports(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("LDFLAGS += -sASYNCIFY_ONLY=['main'] -sASYNCIFY_IMPORTS=['sleep_ms','fetch_value']"
                                       + RECIPE)
    proc = doctor("analyze", str(demo_wasm()), "--imports", "@Makefile", "--emscripten", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == demo_list()


def test_emcc_setting_reads_as_cmdline_py() -> None:
    """tools/cmdline.py parse_value for a list setting (6.0.8; emcc.py since 3.1.0): JSON first, then
    its own syntax."""
    assert emcc_setting_reads('["a", "b"]').names == ["a", "b"]
    # emcc's own syntax repeats the first part of a quoted member that holds a comma: `d, "d,e` (as
    # tools/cmdline.py's parse_value of 6.0.8 does, run on this value), which Binaryen splits again
    assert emcc_setting_reads("[a, 'b c', \"d,e\"]").names == ["a", "b c", "d", ' "d', "e"]
    assert emcc_setting_reads("a,b").names == ["a", "b"]
    assert emcc_setting_reads("a.b").names == ["a b"]                                  # unmangled
    assert emcc_setting_reads("a.b", unmangle=False).names == ["a.b"]
    assert emcc_setting_reads("[]").names is None                                      # no list: everything
    assert emcc_setting_reads("a,,b").fatal == "empty value in string list"
    assert emcc_setting_reads("['a").fatal == 'unterminated string list. expected final character to be "]"'
    assert emcc_setting_reads("[a\\b]").names == ["a\\\\b"]                             # backslashes doubled first
    assert list_warnings(parse_list("x --pass-arg=asyncify-onlylist@a,b\n", source="build.sh"), BINARYEN) == []
