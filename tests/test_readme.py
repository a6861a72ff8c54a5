"""Every command block of README.md and of docs/*.md runs, so the documentation cannot drift from the tool.

The rule, for whoever adds a block to the README or a page of docs/:

- A fenced block tagged `sh` or `python` is a command block. Other fences (untagged output, tables)
  are not run.
- A command block runs in a fresh temp folder holding
    app.wasm               the package's example (`asyncify-doctor demo`'s program: imports
                           env.fetch_value, env.sleep_ms, env.print_i32; exports main_loop),
    asyncify-imports.list  its async imports (env.sleep_ms, env.fetch_value),
    run-my-tests.mjs       a node program that runs app.wasm's main_loop with plain imports,
  with the installed `asyncify-doctor` and node (node_modules/.bin) first on PATH. `sh` blocks run
  under `bash -euo pipefail`: every command must succeed. `python` blocks run with this Python.
- An HTML comment on the line(s) right above the fence changes that:
    <!-- readme-test: skip: REASON -->  not run; REASON says why (the network, a big download, the
                                         user's own build, the test suite itself);
    <!-- readme-test: php -->           needs the real PHP build: runs only with ASYNCIFY_DOCTOR_SLOW=1,
                                         in a folder with php.wasm (the JSPI build, bench/php.py) and
                                         asyncify-imports.list (bench/php-async-imports.list);
    <!-- readme-test: synopsis -->      a command with `[optional]` parts and `a|b` choices: not run;
                                         every option must be one of that subcommand's, and every
                                         listed choice one it accepts.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
MARK = re.compile(r"<!--\s*readme-test:\s*(skip|php|synopsis)\b:?\s*(.*?)\s*-->")
RUN_MY_TESTS = """\
// The user's tests, as far as the README's trace example needs one: run app.wasm's main_loop
// with plain (synchronous) imports.
import { readFileSync } from "node:fs";
const imports = { env: { fetch_value: (k) => k * 2 + 1, sleep_ms: () => {}, print_i32: (v) => console.log(v) } };
const { instance } = await WebAssembly.instantiate(readFileSync(new URL("./app.wasm", import.meta.url)), imports);
console.log("main_loop() =", instance.exports.main_loop());
"""


@dataclass
class Block:
    file: str       # README.md or docs/NAME.md
    line: int
    lang: str
    code: str
    mark: str       # "" (run), skip, php or synopsis
    reason: str


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        if m.group(1) not in ("sh", "python"):
            continue
        above = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(above)
        out.append(Block(str(page.relative_to(ROOT)), text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2),
                         mark.group(1) if mark else "", mark.group(2) if mark else ""))
    return out


BLOCKS = [b for page in PAGES for b in blocks(page)]


def _id(b: Block) -> str:
    return f"{b.file}:{b.line}"


def test_the_readme_has_command_blocks_and_every_skip_says_why() -> None:
    assert sum(1 for b in BLOCKS if not b.mark and b.file == "README.md") >= 3
    assert len(README.read_bytes()) <= 30_000, "README.md is the user's page: keep it under 30 KB, details go to docs/"
    for b in BLOCKS:
        assert b.mark != "skip" or len(b.reason) > 10, f"{_id(b)}: a skip needs its reason"
    for page in PAGES:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("<!--") and "readme-test" in line:
                assert MARK.search(line), f"{page.name} line {i + 1}: not one of skip, php, synopsis"
                assert i + 1 < len(lines) and lines[i + 1] in ("```sh", "```python"), \
                    f"{page.name} line {i + 1}: a readme-test comment must stand right above a sh or python block"


def test_every_link_to_a_local_file_resolves() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: link to {target}, which does not exist"


def folder(tmp: Path, php: bool) -> dict[str, str]:
    """The block's folder, and its environment: the installed command and node first on PATH."""
    from asyncify_doctor.commands.demo import demo_wasm
    from asyncify_doctor.runtime.host.node_host import find_node
    if php:
        sys.path.insert(0, str(ROOT / "bench"))
        from php import php_wasm   # bench/php.py: downloads into the cache once
        os.symlink(php_wasm("jspi"), tmp / "php.wasm")
        shutil.copy(ROOT / "bench" / "php-async-imports.list", tmp / "asyncify-imports.list")
    else:
        shutil.copy(demo_wasm(), tmp / "app.wasm")
        (tmp / "asyncify-imports.list").write_text("env.sleep_ms\nenv.fetch_value\n")
        (tmp / "run-my-tests.mjs").write_text(RUN_MY_TESTS)
    path = os.pathsep.join([str(Path(sys.executable).parent), str(Path(find_node()).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path}


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark in ("", "php")], ids=_id)
def test_block_runs(block: Block, tmp_path: Path) -> None:
    if block.mark == "php" and not os.environ.get("ASYNCIFY_DOCTOR_SLOW"):
        pytest.skip("needs the real PHP build: set ASYNCIFY_DOCTOR_SLOW=1")
    env = folder(tmp_path, block.mark == "php")
    before = set(os.listdir(tmp_path))
    if block.lang == "sh":
        cmd = ["bash", "-euo", "pipefail", "-c", block.code]
    else:
        cmd = [sys.executable, "-c", block.code]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{_id(block)} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    commands = "\n".join(line.split(" # ")[0] for line in block.code.splitlines() if not line.lstrip().startswith("#"))
    for out in re.findall(r"(?:-o|>)\s+(\S+)", commands):   # every file a command writes is there, not empty
        assert out in set(os.listdir(tmp_path)) - before and (tmp_path / out).stat().st_size > 0, out


def _parser_for(sub: str) -> argparse.ArgumentParser:
    from asyncify_doctor.commands.cli import build_parser
    (subs,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return subs.choices[sub]


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mark == "synopsis"], ids=_id)
def test_synopsis_matches_the_parser(block: Block) -> None:
    line = block.code.replace("\\\n", " ")
    words = line.split()
    assert words[0] == "asyncify-doctor", line
    parser = _parser_for(words[1])
    options = {o: a for a in parser._actions for o in a.option_strings}
    for opt in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line):
        assert opt in options, f"{_id(block)}: {words[1]} has no option {opt}"
    for opt, choices in re.findall(r"(--[\w-]+) ([\w-]+(?:\|[\w-]+)+)", line):
        assert set(choices.split("|")) <= set(options[opt].choices or ()), f"{_id(block)}: {opt} {choices}"
