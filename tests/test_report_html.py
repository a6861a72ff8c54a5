"""`audit --format html`: one self-contained page, checked in a real headless browser (Debian's
chromium, driven by playwright-core from npm; scripts/test installs both): it loads without a single
request beyond its own file, shows the ranked groups, the search box filters groups and functions,
a group's chain and a member's chain expand; and names that are markup, quotes or control
characters show as they are and run nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
from asyncify_doctor.decode import decode
from asyncify_doctor.runtime.host.node_host import find_node
from asyncify_doctor.runtime.toolchain import build_all

TRIAGE = Path(__file__).parent / "fixtures" / "triage"
BROWSER = TRIAGE / "browser.mjs"
CHROMIUM = Path("/usr/bin/chromium")
IMPORTS = "env.sleep_ms,env.fetch_value,env.invoke_vi"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(TRIAGE, tmp_path_factory.mktemp("html-fixtures"))


def cut_of(wasm: Path, names: tuple[str, ...], imports: str, backend: str = "libbinaryen") -> Path:
    out = wasm.with_name(f"{wasm.stem}.cut.wasm")
    out.write_bytes(asyncify(wasm.read_bytes(), AsyncifyOptions(onlylist=names, imports=tuple(imports.split(","))), backend))
    return out


def html_report(wasm: Path, out: Path, imports: str, *extra: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(wasm), "--imports", imports,
                           "--format", "html", "-o", str(out), *extra], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    return out.read_text(encoding="utf-8")


def browse(page: Path, query: str, open_rank: int) -> dict:
    """What chromium shows (see browser.mjs). No chromium is a failure, not a skip — scripts/test installs
    it — unless scripts/test could not (no root, no sudo) and said so."""
    if not CHROMIUM.exists() and os.environ.get("ASYNCIFY_DOCTOR_SKIP_BROWSER"):
        pytest.skip(os.environ["ASYNCIFY_DOCTOR_SKIP_BROWSER"])
    assert CHROMIUM.exists(), "Debian's chromium is missing: `bash scripts/test` installs it (apt-get install chromium)"
    proc = subprocess.run([find_node(), str(BROWSER), str(page), query, str(open_rank)],
                          capture_output=True, text=True, timeout=180, cwd=TRIAGE)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class Outside(HTMLParser):
    """Everything in a page that could make the browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [f"{tag} {k}={v}" for k, v in attrs if k in ("src", "href", "srcset", "action", "data", "poster")]
        if tag in ("link", "iframe", "object", "embed", "img", "base"):
            self.refs.append(tag)


def test_the_page_loads_groups_filter_and_chains_expand(built: dict[str, Path], tmp_path: Path) -> None:
    cut = cut_of(built["frontiers"], ("fetch_twice", "step", "op_fetch"), IMPORTS)
    page = tmp_path / "audit.html"
    text = html_report(cut, page, IMPORTS)
    parser = Outside()
    parser.feed(text)
    assert parser.refs == [] and "@import" not in text and "url(" not in text
    seen = browse(page, "only_apply", 4)
    assert seen["errors"] == [] and seen["requests"] == [page.as_uri()]
    assert seen["before"] == [["#1", "load"], ["#2", "nap"], ["#3", "guarded"], ["#4", "apply"]]
    assert seen["count"] == "4 of 4 groups shown"
    assert seen["filtered"] == [["#4", "apply"]] and seen["filteredMembers"] == ["only_apply"]
    assert seen["filteredCount"] == "1 of 4 groups shown"
    assert seen["cleared"] == seen["before"]
    assert not seen["chainVisibleBefore"] and seen["opened"]
    assert seen["chain"] == ["apply", "op_fetch (indirect via type (i32) -> i32, table 0)", "env.fetch_value"]
    assert seen["memberChain"] == "only_apply → apply → (indirect via type (i32) -> i32, table 0) op_fetch → env.fetch_value"
    by_chain = browse(page, "fetch_twice", 3)   # a name on a chain finds its group; the trampoline group expands
    assert by_chain["filtered"] == [["#1", "load"]]
    assert by_chain["chain"] == ["guarded", "env.invoke_vi", "step (re-entered through env.invoke_vi: a table function (i32))",
                                 "env.sleep_ms"] and by_chain["memberChain"].startswith("retry → guarded")


def test_names_are_shown_as_they_are_and_run_nothing(built: dict[str, Path], tmp_path: Path) -> None:
    """names.c names its functions `</script><script>…`, `<img onerror=…>&amp;'q'` and one with control
    characters; wasm-opt keeps the names byte for byte (libbinaryen 116 escapes non-ASCII)."""
    funcs = [f.name for f in decode(built["names"].read_bytes()).functions]
    leaf, tag, ctl = funcs[2], funcs[3], funcs[4]
    assert leaf.startswith("</script>") and tag.startswith("<img") and "\x01" in ctl
    cut = cut_of(built["names"], (leaf, ctl), "env.fetch_value", "wasm-opt")
    listfile = tmp_path / "only.json"
    listfile.write_text(json.dumps([leaf, ctl, "ghost</td><b>x"]))
    page = tmp_path / "names.html"
    html_report(cut, page, "env.fetch_value", "--list", str(listfile))
    seen = browse(page, "ünï", 1)
    assert seen["errors"] == [] and seen["pwned"] is None and len(seen["requests"]) == 1
    assert seen["before"] == [["#1", tag]]
    shown_ctl = ctl.replace("\x01", "\\x01").replace("\x7f", "\\x7f").replace("\t", "\\x09")
    assert {tag, leaf, shown_ctl, "ghost</td><b>x", "run", "env.fetch_value"} <= set(seen["names"])
    assert seen["filtered"] == [] and seen["filteredRows"] == [shown_ctl]
    assert seen["chain"] == [tag, leaf, "env.fetch_value"]


def test_not_asyncified_page(built: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plain.html"
    proc = subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(built["frontiers"]), "--imports", IMPORTS,
                           "--format", "html", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0 and "not asyncified" in out.read_text().lower().replace("<code>", "")


@pytest.mark.slow
def test_real_php_report_opens_in_the_browser(tmp_path: Path) -> None:
    from conftest import php_wasm
    imports = Path(__file__).parent.parent / "bench" / "php_trace" / "imports.list"
    page = tmp_path / "php.html"
    args = [f"@{imports}", "--imports", "invoke_*", "--indirect", "ignore"]
    html_report(php_wasm("asyncify"), page, *args)
    seen = browse(page, "zend_mm_safe_error", 1)
    assert seen["errors"] == [] and len(seen["requests"]) == 1 and len(seen["before"]) > 100
    # the filter shows exactly the groups that name it: its own (zend_mm_safe_error reaches an async
    # import through invoke_vii, which re-enters the zif_* handlers of its signature), and any chain
    rep = json.loads(subprocess.run([sys.executable, "-m", "asyncify_doctor", "audit", str(php_wasm("asyncify")),
                                     "--imports", *args, "--format", "json"], capture_output=True, text=True).stdout)
    members: dict[int, list[str]] = {}
    for m in rep["missing"]:
        members.setdefault(m["group"], []).append(m["name"])
    naming = [g["frontier"] for i, g in enumerate(rep["groups"], 1)
              if any("zend_mm_safe_error" in n for n in members.get(i, []) + [json.dumps(g)])]
    own = rep["groups"][next(m["group"] for m in rep["missing"] if m["name"] == "zend_mm_safe_error") - 1]["frontier"]
    assert own in naming and [name for _, name in seen["filtered"]] == naming
    assert seen["opened"] and len(seen["chain"]) >= 2
