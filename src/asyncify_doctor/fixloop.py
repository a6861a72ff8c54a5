"""`fix`: the crash-driven repair loop, for any build command, test command and list layout.

Each round: run the tests (output streamed and kept), parse every wasm crash trace in it, add the
functions they implicate to the list (in the list's own layout, with a comment naming the crash),
rebuild, repeat — until the tests pass, a round finds nothing new, or `--max-rounds`.

With `--wasm` (the built binary) a crash fixes a path, not a frame: for every crashed frame, every
function below it that can reach an async import and is not listed yet is added. That matters
because the frame that traps is usually the *instrumented caller* of the function that is missing
(the missing one has already returned, unwinding nothing) — a trace alone cannot name it.

Nothing is lost: list edits are atomic with a `.bak` of the original; a round whose build fails is
rolled back; a hang is killed with its whole process group.
"""
from __future__ import annotations

import re
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .lists import add_entries, read_list
from .outputs import write_atomic
from .process import run_command
from .traces import Crash, parse_log, resolve


@dataclass
class FixConfig:
    list_path: Path
    build: str
    test: str
    wasm: Path | None = None
    imports: list[str] = field(default_factory=list)
    indirect: str = "typed"
    max_rounds: int = 20
    timeout: float = 600.0
    dry_run: bool = False


def implicated(crashes: list[Crash], cfg: FixConfig, listed: set[str]) -> tuple[list[str], str]:
    """Names a round should add, and how they were found."""
    if cfg.wasm is None:
        names = [f.name for c in crashes for f in c.frames if f.name]
        return [n for n in dict.fromkeys(names) if n not in listed], "frames of the crash traces"
    from .api import run_analysis

    res = run_analysis(cfg.wasm, cfg.imports, cfg.indirect)  # type: ignore[arg-type]
    g, an, m = res.graph, res.analysis, res.module
    out: list[str] = []
    for crash in crashes:
        for f in resolve(crash, m):
            for h in _below(g, f, cfg.indirect):
                name = m.functions[h].name
                if an.contains(h) and name not in listed and name not in out:
                    out.append(name)
    return out, "functions below the crashed frames that can reach an async import (--wasm)"


def _below(graph, start: int, mode: str) -> list[int]:  # noqa: ANN001 - CallGraph
    seen = {start}
    order = [start]
    queue = deque([start])
    while queue:
        for nxt in graph.successors(queue.popleft(), mode):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
                if not graph.is_site(nxt):
                    order.append(nxt)
    return order


AT_FILE = re.compile(r"ASYNCIFY_ONLY=['\"]?@([^\s'\"]+)")


def list_target(path: Path) -> Path:
    """The file that really holds the names: a Makefile or Dockerfile may say
    `-sASYNCIFY_ONLY=@asyncify-only.list`, and then that file is the one to edit."""
    text = path.read_text(errors="replace")
    m = AT_FILE.search(text)
    if m:
        return (path.parent / m.group(1)).resolve()
    return path


def undo(list_path: Path, say: TextIO = sys.stderr) -> int:
    """Restore the list from the `.bak` fix kept of the original (itself kept, for a second thought)."""
    target = list_target(list_path)
    bak = target.with_name(target.name + ".bak")
    if not bak.exists():
        print(f"asyncify-doctor fix: no backup {bak} to restore (fix keeps one when it first edits a list)", file=say)
        return 1
    write_atomic(target, bak.read_text(encoding="utf-8"))
    print(f"asyncify-doctor fix: {target} restored from {bak}", file=say)
    return 0


def run_fix(cfg: FixConfig, say: TextIO = sys.stderr) -> int:
    def note(msg: str) -> None:
        print(f"asyncify-doctor fix: {msg}", file=say, flush=True)

    target = list_target(cfg.list_path)
    if target != cfg.list_path:
        note(f"{cfg.list_path} refers to {target} (ASYNCIFY_ONLY=@…): editing that file")
        cfg = FixConfig(**{**cfg.__dict__, "list_path": target})

    added_total: list[str] = []
    backed_up = False
    for rnd in range(1, cfg.max_rounds + 1):
        note(f"round {rnd}: running tests: {cfg.test}")
        res = run_command(cfg.test, cfg.timeout)
        if res.returncode is None:
            note(f"the test command did not finish in {cfg.timeout:g} s and was killed (with its children); "
                 "the list is as it was. Raise --timeout, or make the test stop on a crash.")
            return 2
        if res.returncode == 0:
            note(f"tests pass after {rnd - 1} repair round(s); added {len(added_total)} function(s)"
                 + (f": {', '.join(added_total)}" if added_total else ""))
            return 0
        crashes = [c for c in parse_log(res.output) if c.looks_like_asyncify and c.frames]
        if not crashes:
            note(f"the tests failed (exit {res.returncode}) but their output has no wasm crash trace that "
                 "looks like Asyncify's (unreachable, out of bounds, signature mismatch…): this is not an "
                 "Asyncify crash, or the trace is not printed. The list is untouched.")
            return 1
        lf = read_list(cfg.list_path)
        new, how = implicated(crashes, cfg, set(lf.entries))
        if not new:
            c = crashes[0]
            note(f"round {rnd} found nothing new to add: the crash `{c.message}` (log line {c.line}) is in "
                 f"{', '.join(f.label() for f in c.frames[:6])}, all already listed."
                 + ("" if cfg.wasm else " The missing function is probably a callee of these frames, which "
                    "has already returned; rerun with --wasm BUILT.wasm so the call graph can name it, or use "
                    "`asyncify-doctor trace`."))
            return 1
        note(f"round {rnd}: {len(crashes)} crash(es); adding {len(new)} ({how}): {', '.join(new)}")
        if cfg.dry_run:
            note("--dry-run: the list is not changed")
            return 0
        before = lf.text
        comment = f"added by asyncify-doctor fix, round {rnd}: {crashes[0].message} (test: {cfg.test})"
        write_atomic(cfg.list_path, add_entries(lf, new, comment=comment), backup=not backed_up)
        backed_up = True
        added_total += new
        note(f"round {rnd}: rebuilding: {cfg.build}")
        build = run_command(cfg.build, cfg.timeout)
        if build.returncode != 0:
            write_atomic(cfg.list_path, before)
            what = "timed out" if build.returncode is None else f"failed (exit {build.returncode})"
            note(f"the build {what}; this round's additions were taken back out of {cfg.list_path}. "
                 "Fix the build, then run fix again.")
            return 2
        if build.seconds > 120 and cfg.wasm is None:
            note(f"the rebuild took {build.seconds:.0f} s: --wasm repairs whole paths per crash, and "
                 "`asyncify-doctor analyze` gives the whole list without rebuilding at all")
    note(f"gave up after {cfg.max_rounds} rounds; added so far: {', '.join(added_total)}. "
         "Consider `asyncify-doctor analyze` for the whole list at once.")
    return 1
