"""`fix`: the crash-driven repair loop, for any build command, test command, runtime and list layout.

Each round: run the tests (output streamed and kept); if they fail, every wasm stack in their output
is evidence, whatever runtime printed it and whatever it says (known messages only refine the
diagnosis); add the functions it implicates to the list, in the list's own layout; rebuild; repeat —
until the tests pass, a round finds nothing new, or `--max-rounds`.

With `--wasm` (the binary *before* asyncify, whose names the list needs) a crash fixes a path, not a
frame: for every crashed frame, every function below it that can reach an async import and is not
listed yet is added. That matters because the frame that traps is usually the *instrumented caller*
of the function that is missing (the missing one has already returned, unwinding nothing) — a trace
alone cannot name it. The crashed frames are named from the binary that ran (`--built`) by its name
section, or mapped by index only where `traces.mapping` shows the two binaries number their
functions alike; a frame that cannot be named stops the loop with the reason, never a guess, and
nothing Binaryen cannot match (no `wasm-function[N]`) is ever written. A function the binary before
asyncify does not name either is written as wasm-opt names it when it reads that binary
(`lists.binaryen_names`: `"12"`, `fimport$3`) when wasm-opt reads the list; a list emcc reads cannot
name it (emcc matches link-time names), so fix stops with exit status 2 and how to keep names.

Nothing is lost: list edits are atomic with a `.bak` of the original; a round whose build fails is
rolled back; a hang is killed with its whole process group. Provenance (which crash added what) is
printed, not written into the list: Binaryen reads every line of a list file as a name.
"""
from __future__ import annotations

import re
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..lists import BINARYEN, EMCC, add_entries, emscripten_mangle, entry_matches, list_warnings, read_list
from ..system.inputs import read_input, text_head
from ..system.outputs import write_atomic
from ..system.process import run_command
from ..traces import BUG, Crash, FrameMapper, Mapped, parse_log


@dataclass
class FixConfig:
    list_path: Path
    build: str
    test: str
    wasm: Path | None = None        # the binary before asyncify: the call graph and the names a list needs
    imports: list[str] = field(default_factory=list)
    indirect: str = "typed"
    max_rounds: int = 20
    timeout: float = 600.0
    dry_run: bool = False
    built: Path | None = None       # the binary the tests ran (after asyncify): whose frames they print
    host_table: str = "sound"
    emscripten: bool | None = None  # emcc's import rules (None: when the binary is an Emscripten build; False with the glue's imports)
    host_memory: str = "sound"
    async_when: list[str] = field(default_factory=list)   # IMPORT:ARG=V statements (analysis.async_when)
    binaryen_version: int | None = None   # the wasm-opt release that reads the list (its names for nameless functions)
    reader: str | None = None             # who reads the list: wasm-opt, emcc, or None (not known; see list_reader)


@dataclass
class Plan:
    """What a round would add, and what it found out otherwise (for the explanation when nothing)."""

    new: list[str]
    how: str
    mapped: list[tuple[Crash, Mapped]]
    not_async: list[str] = field(default_factory=list)    # crashed frames that cannot reach an async import
    refusal: str | None = None                            # nothing may be written: why (one line)
    invented: list[str] = field(default_factory=list)     # of `new`: Binaryen's names for functions without one


def is_listed(name: str, entries: list[str], exact: set[str] | None = None) -> bool:
    """Does the list already select `name`: exactly, in Emscripten's mangled spelling, or by a `*`
    pattern (Binaryen's wildcard)?"""
    exact = set(entries) if exact is None else exact
    if name in exact or emscripten_mangle(name) in exact:
        return True
    return any(entry_matches(e, name) for e in entries if "*" in e)


def is_asyncified(module) -> bool:  # noqa: ANN001 - decode.Module
    """Asyncify's runtime is in it, recognised by its bodies (`recognize`), not by export names: a
    minified build exports it as `a`, `b`, … or not at all."""
    from ..graph.callgraph import CallGraph
    from ..analysis.recognize import recognize
    build = recognize(CallGraph(module))
    return build.asyncified or bool(build.helpers or build.signs)


def _load(path: Path | None):  # noqa: ANN202 - decode.Module | None
    if path is None:
        return None
    from ..analysis.pipeline import load_module
    from ..system.progress import with_progress
    return with_progress(f"decoding {Path(path).name}", lambda progress: load_module(path, progress=progress))


def implicated(crashes: list[Crash], cfg: FixConfig, entries: list[str]) -> Plan:
    """The names a round should add, and how they were found."""
    exact = set(entries)
    crashed = _load(cfg.built)
    if cfg.wasm is None:
        mapper = FrameMapper(None, crashed)
        mapped = [(c, mapper.map(c)) for c in crashes]
        names = [n for c, mp in mapped if c.kind != BUG for n in mp.names]   # a plain bug's frames: no evidence
        new = [n for n in dict.fromkeys(names) if not is_listed(n, entries, exact)]
        return Plan(new, "frames of the crash traces", mapped)
    from ..analysis.pipeline import run_analysis

    res = run_analysis(cfg.wasm, cfg.imports, cfg.indirect, cfg.host_table, emscripten=cfg.emscripten,  # type: ignore[arg-type]
                       host_memory=cfg.host_memory, async_when=cfg.async_when)  # type: ignore[arg-type]
    g, an, m = res.graph, res.analysis, res.module
    mapper = FrameMapper(m, crashed, g, cfg.binaryen_version)
    mapped = [(c, mapper.map(c)) for c in crashes]
    out: list[int] = []
    not_async: list[str] = []
    for _, mp in mapped:
        for f in mp.functions:
            if not an.contains(f):
                not_async.append(m.functions[f].name)
            out += [h for h in _below(g, f, cfg.indirect) if an.contains(h) and h not in out]
    how = f"functions below the crashed frames that can reach an async import (--wasm {cfg.wasm.name})"
    plan = Plan([], how, mapped, list(dict.fromkeys(not_async)))
    unnamed = [h for h in out if not m.functions[h].has_name]
    if unnamed and is_asyncified(m):
        plan.refusal = (f"{cfg.wasm.name} has no name for {len(unnamed)} of the functions to add (function "
                        f"{unnamed[0]}, …) and it is already asyncified, so Binaryen's names for it are not those of "
                        "the binary the list is for: pass the binary before asyncify as --wasm and this one as --built")
        return plan
    names = nameless_entries(m, out, cfg) if unnamed else [m.functions[h].name for h in out]
    plan.new = [n for n in dict.fromkeys(names) if not is_listed(n, entries, exact)]
    plan.invented = [n for h, n in zip(out, names) if not m.functions[h].has_name and n in plan.new]
    return plan


def nameless_entries(m, funcs: list[int], cfg: FixConfig) -> list[str]:  # noqa: ANN001 - decode.Module
    """The entries naming `funcs` when some have no name in `--wasm`: the names wasm-opt gives them when
    it reads that binary (`binaryen_names`); for a list emcc reads, `UnnameableFunctions` (exit 2)."""
    from ..lists.binaryen_names import UnnameableFunctions, list_names
    assert cfg.wasm is not None
    unnamed = [f for f in funcs if not m.functions[f].has_name]
    if cfg.reader == EMCC:
        raise UnnameableFunctions(
            f"{cfg.wasm.name} has no name for {len(unnamed)} of the functions to add ({m.functions[unnamed[0]].name}, …), "
            f"and emcc reads {cfg.list_path.name}: it matches ASYNCIFY_ONLY against link-time symbol names, which "
            f"this binary does not carry: rebuild with names (emcc --profiling-funcs or -g2: the same code, names "
            "kept) and pass that binary as WASM. This round changed nothing")
    return list_names(m, funcs, BINARYEN, cfg.binaryen_version)


def list_reader(lf, build: str, referenced: bool) -> str | None:  # noqa: ANN001 - lists.ListFile
    """Who reads the list: the tool a build-file setting is passed to, else the build command's
    (`consumer_of`), else emcc for a JSON array (wasm-opt has no JSON lists); None: not known."""
    if lf.embedded is not None:
        return str(lf.embedded.consumer)
    return consumer_of(build, referenced) or (EMCC if lf.format == "json" else None)


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


def explain_nothing_new(plan: Plan, entries: list[str], rnd: int, cfg: FixConfig) -> str:
    """Why a round adds nothing, saying "already listed" only of frames that really are."""
    crash, mp = next(((c, mp) for c, mp in plan.mapped if mp.names), plan.mapped[0])
    where = f"the crash `{crash.message}` (log line {crash.line})"
    if not mp.names:
        return (f"round {rnd} cannot name the crashed frames ({', '.join(lbl for lbl, _ in mp.unresolved[:4])}) of "
                f"{where}: {mp.reason}. The list is untouched.")
    listed = [n for n in mp.names if is_listed(n, entries)]
    parts = [f"round {rnd} found nothing new to add: {where} is in {', '.join(mp.names[:6])}"]
    if listed:
        parts.append(f"{', '.join(listed[:6])} {'is' if len(listed) == 1 else 'are'} already listed")
    if plan.not_async:
        parts.append(f"{', '.join(plan.not_async[:6])} cannot reach an async import (--indirect {cfg.indirect}; "
                     "check --imports)")
    if mp.unresolved:
        parts.append(f"{len(mp.unresolved)} frame(s) could not be named: {mp.reason}")
    if crash.kind == BUG:
        parts.append("the message looks like a bug in the program rather than Asyncify's"
                     + (", so its frames alone are no evidence of a missing entry" if cfg.wasm is None else ""))
    if cfg.wasm is None and listed:
        parts.append("the missing function is probably a callee of these frames, which has already returned; "
                     "rerun with --wasm PRE.wasm (the binary before asyncify) so the call graph can name it, or "
                     "use `asyncify-doctor trace`")
    elif cfg.wasm is None:
        parts.append("rerun with --wasm PRE.wasm (the binary before asyncify) so the call graph can tell whether "
                     "a function on this stack is missing from the list")
    return "; ".join(parts) + ". The list is untouched."


def consumer_of(build: str, via_reference: bool) -> str | None:
    """Who reads the list, guessed from the build command, for the warnings: wasm-opt, emcc, or None."""
    if via_reference or "ASYNCIFY_ONLY" in build or re.search(r"\bem(?:cc|\+\+)\b", build):
        return EMCC
    if "asyncify-onlylist" in build or "wasm-opt" in build:
        return BINARYEN
    return None


def list_target(path: Path) -> Path:
    """The file that really holds the names: a Makefile or Dockerfile may say
    `-sASYNCIFY_ONLY=@asyncify-only.list`, and then that file is the one to edit (`lists.read_list`
    follows the reference; a build file without a list it can edit is refused there)."""
    lf = read_list(path)
    return Path(lf.source) if lf.via else path


def missing_outputs(cfg: FixConfig) -> list[str]:
    """`--wasm`/`--built` files that are not there: the build may create them, so they are checked
    before the first test run (building first) and after every build, never only at start."""
    return [f"{flag} {path}" for flag, path in (("--wasm", cfg.wasm), ("--built", cfg.built))
            if path is not None and not path.is_file()]


def undo(list_path: Path, say: TextIO | None = None) -> int:
    """Restore the list from the `.bak` fix kept of the original (itself kept, for a second thought)."""
    say = say or sys.stderr
    target = list_target(list_path)
    bak = target.with_name(target.name + ".bak")
    if not bak.exists():
        print(f"asyncify-doctor fix: no backup {bak} to restore (fix keeps one when it first edits a list)", file=say)
        return 1
    write_atomic(target, read_input(bak, head=text_head), expect=read_input(target))
    print(f"asyncify-doctor fix: {target} restored from {bak}", file=say)
    return 0


def run_fix(cfg: FixConfig, say: TextIO | None = None) -> int:
    say = say or sys.stderr

    def note(msg: str) -> None:
        print(f"asyncify-doctor fix: {msg}", file=say, flush=True)

    target = list_target(cfg.list_path)
    referenced = target != cfg.list_path
    if referenced:
        note(f"{cfg.list_path} refers to {target} (ASYNCIFY_ONLY=@…): editing that file")
        cfg = FixConfig(**{**cfg.__dict__, "list_path": target})
    start = read_list(cfg.list_path)
    for warning in list_warnings(start, consumer_of(cfg.build, referenced)):
        note(f"warning: {warning}")
    if cfg.reader is None:
        cfg = FixConfig(**{**cfg.__dict__, "reader": list_reader(start, cfg.build, referenced)})
    if missing_outputs(cfg):
        note(f"{' and '.join(missing_outputs(cfg))} do{'es' if len(missing_outputs(cfg)) == 1 else ''} not exist yet: "
             f"building first: {cfg.build}")
        build = run_command(cfg.build, cfg.timeout)
        if build.returncode != 0 or missing_outputs(cfg):
            what = ("timed out" if build.returncode is None else f"failed (exit {build.returncode})" if build.returncode
                    else f"did not create {' and '.join(missing_outputs(cfg))}")
            note(f"the first build {what}; the list is untouched. Check --build and the paths given to fix.")
            return 2
    pre = _load(cfg.wasm)
    if pre is not None and cfg.imports:   # a typo in --imports: every crash would look "not async"
        from ..analysis.selection import expand_args, refuse_empty_selection, select_imports
        refuse_empty_selection(select_imports(pre, expand_args(cfg.imports)), cfg.imports, str(cfg.wasm))
    if cfg.wasm is not None and pre is not None and cfg.built is None and is_asyncified(pre):
        note(f"--wasm {cfg.wasm.name} is already asyncified: its call graph is the one after asyncify (and any "
             "optimisation), but the list applies to the binary before asyncify; pass that as --wasm and this "
             "one as --built")

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
            if rnd == 1 and not start.entries:
                note("the tests pass, but the list is empty, and Binaryen reads an empty onlylist as no list at all: "
                     "every function that can reach an async import was instrumented, so this run says nothing "
                     "about the list and nothing was added. For the minimal list run `asyncify-doctor analyze` on "
                     "the binary before asyncify; to repair from nothing, make the build pass "
                     "--pass-arg=asyncify-removelist@* while the list is empty.")
                return 1
            note(f"tests pass after {rnd - 1} repair round(s); added {len(added_total)} function(s)"
                 + (f": {', '.join(added_total)}" if added_total else ""))
            return 0
        crashes = [c for c in parse_log(res.output) if c.frames]
        if not crashes:
            note(f"the tests failed (exit {res.returncode}) but their output holds no wasm stack: nothing to repair "
                 "from (not an Asyncify crash, or the runtime does not print the stack). The list is untouched.")
            return 1
        lf = read_list(cfg.list_path)
        plan = implicated(crashes, cfg, lf.entries)
        if plan.refusal:
            note(f"round {rnd}: {plan.refusal}. The list is untouched.")
            return 1
        if not plan.new:
            note(explain_nothing_new(plan, lf.entries, rnd, cfg))
            return 1
        first = next(c for c, mp in plan.mapped if mp.names or mp.functions)
        note(f"round {rnd}: {len(crashes)} crash(es), the first `{first.message}` (log line {first.line}); "
             f"adding {len(plan.new)} ({plan.how}): {', '.join(plan.new)}")
        invented = plan.invented
        if invented:
            note(f"round {rnd}: {len(invented)} of them have no name in {cfg.wasm.name if cfg.wasm else 'the binary'}: "
                 f"written as wasm-opt names them when it reads that binary (e.g. {invented[0]}: the index among "
                 "defined functions), which only wasm-opt run on that very binary matches"
                 + ("" if cfg.reader == BINARYEN else " (the build command does not say who reads the list: "
                    "if it is emcc, rebuild with --profiling-funcs instead)"))
        unnamed = [(label, why) for _, mp in plan.mapped for label, why in mp.unresolved]
        if unnamed:
            note(f"round {rnd}: {len(unnamed)} frame(s) could not be named and were left out: {unnamed[0][1]}")
        if cfg.dry_run:
            note("--dry-run: the list is not changed")
            return 0
        before = lf.text
        after = add_entries(lf, plan.new)
        write_atomic(cfg.list_path, after, backup=not backed_up, expect=before.encode("utf-8"))
        backed_up = True
        added_total += plan.new
        note(f"round {rnd}: rebuilding: {cfg.build}")
        build = run_command(cfg.build, cfg.timeout)
        if build.returncode != 0 or missing_outputs(cfg):
            write_atomic(cfg.list_path, before, expect=after.encode("utf-8"))
            what = ("timed out" if build.returncode is None else f"failed (exit {build.returncode})" if build.returncode
                    else f"left no {' and no '.join(missing_outputs(cfg))}")
            note(f"the build {what}; this round's additions were taken back out of {cfg.list_path}. "
                 "Fix the build, then run fix again.")
            return 2
        if build.seconds > 120 and cfg.wasm is None:
            note(f"the rebuild took {build.seconds:.0f} s: --wasm repairs whole paths per crash, and "
                 "`asyncify-doctor analyze` gives the whole list without rebuilding at all")
    note(f"gave up after {cfg.max_rounds} rounds; added so far: {', '.join(added_total)}. "
         "Consider `asyncify-doctor analyze` for the whole list at once.")
    return 1
