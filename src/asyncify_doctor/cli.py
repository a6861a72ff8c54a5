"""The `asyncify-doctor` command: a thin layer over `api`, `report` and `lists`.

Every error a user can cause prints one line and exits 2; no tracebacks, no half-written files.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from . import __version__, report
from .api import AnalysisResult, run_analysis
from .errors import DoctorError, InputError, UsageError

if TYPE_CHECKING:
    from .analysis import Analysis
    from .decode import Module
    from .patterns import ImportSelection

T = TypeVar("T")
LIST_FORMATS = ("list", "emscripten", "binaryen", "json")

INDIRECT_HELP = """how indirect calls (call_indirect, call_ref) count:
  typed  (default) an indirect call may reach any function that may be in that table
         (or, for call_ref, any address-taken function) whose type matches. Sound.
  all    Binaryen's own assumption: any function containing an indirect call may unwind.
  ignore Binaryen's asyncify-ignore-indirect / Emscripten ASYNCIFY_IGNORE_INDIRECT:
         indirect calls never unwind. Smallest, and unsound unless you know it holds."""

HOST_TABLE_HELP = """what an imported or exported table may hold (Emscripten always exports its table):
  sound  (default) the host may put there any exported or address-taken function.
  module only what the module itself puts there (element segments, table.set/init/copy);
         right when JS never adds this module's own functions (addFunction) to the table."""

EPILOG = """examples:
  asyncify-doctor analyze php.wasm --imports 'env.js_*' --imports @asyncify-imports.list -o asyncify-only.list
  asyncify-doctor analyze app.wasm --imports env.sleep_ms --format emscripten -o only.json   # -sASYNCIFY_ONLY=@only.json
  asyncify-doctor why php.wasm zend_call_function --imports @asyncify-imports.list
  asyncify-doctor graph app.wasm --format dot | dot -Tsvg > graph.svg
  asyncify-doctor demo            # the whole story on a program shipped in the package"""


OUTPUT_HELP = ("write here instead of stdout (`-` is stdout): a file is replaced atomically, keeping its mode;\n"
               "a symlink's target is replaced and the link kept; a device or FIFO is written, never replaced")


def _add_output_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="FILE", help=OUTPUT_HELP)


def _check_imports(values: list[str]) -> None:
    """`--imports ''` (or `,`, or an @file listing nothing) names no import: an error, never the silent
    'every import is async' that leaving --imports out means."""
    from .patterns import expand_args
    for value in values:
        if not expand_args([value]):
            what = "lists no import pattern" if value.startswith("@") else "names no import"
            raise UsageError(f"--imports {value!r} {what}; give module.name patterns (e.g. env.sleep_ms), or leave "
                             "--imports out to treat every import as async (Binaryen's default)")


def _add_mode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--indirect", choices=("typed", "all", "ignore"), default="typed", help=INDIRECT_HELP)
    p.add_argument("--host-table", choices=("sound", "module"), default="sound", help=HOST_TABLE_HELP)


def _add_analysis_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("wasm", help="the .wasm binary (with a name section: build with -g2 or --profiling-funcs)")
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN",
                   help="async imports as module.name, `*` wildcards, comma-separated or repeated; "
                        "@FILE reads a list file (one per line, JSON array, or Binaryen commas). "
                        "Default: every import is async (Binaryen's default; rarely what you want)")
    _add_mode_args(p)
    p.add_argument("--ignore-imports", action="store_true",
                   help="no import is async (Binaryen's asyncify-ignore-imports): only code that calls the\n"
                        "asyncify.* imports itself (setjmp/longjmp, fibers, coroutines) unwinds")
    p.add_argument("--observed", action="append", default=[], metavar="STACKS.json",
                   help="stacks recorded by `trace`: observed frames join the list, observed calls become edges")
    p.add_argument("--emscripten", action=argparse.BooleanOptionalAction, default=None,
                   help="apply Emscripten's own import rules: bare names are env.NAME, and the imports emcc\n"
                        "makes async by itself are added (__asyncjs__*, emscripten_sleep, …; printed).\n"
                        "Default: when the binary looks like an Emscripten build")
    p.add_argument("--trampolines", choices=("typed", "async"), default="typed",
                   help="Emscripten's invoke_X imports call back into the table:\n"
                        "  typed (default) they can unwind exactly when a table function of signature X can\n"
                        "        (under --indirect all they count as async, like any indirect call)\n"
                        "  async  the old model: async when --imports names them (emcc adds invoke_*\n"
                        "        unless ASYNCIFY_IGNORE_INDIRECT)")
    p.add_argument("--max-size", type=float, default=2048, metavar="MB",
                   help="refuse binaries larger than this many MB (default 2048), so a wrong path fails fast")


def _observed(args: argparse.Namespace) -> list[dict] | None:
    if not args.observed:
        return None
    from .trace import read_observed
    return [s for path in args.observed for s in read_observed(path)]


def _analyze_from(args: argparse.Namespace, trampolines: str | None = None) -> AnalysisResult:
    _check_size(args.wasm, args.max_size)
    _check_imports(args.imports)
    _warn_list_files(args.imports)
    result = run_analysis(args.wasm, args.imports, args.indirect, args.host_table, observed=_observed(args),
                          emscripten=args.emscripten, trampolines=trampolines or args.trampolines,  # type: ignore[arg-type]
                          ignore_imports=args.ignore_imports)
    _warn_imports(result)
    return _spare(result)


_SPARED: list[object] | None = None   # under `run`: what the process leaves to the OS at exit


def _spare(built: T) -> T:
    """Keep what a command built until the process ends, under `run`, which then exits without freeing
    it: a module's worth of small objects takes 15–20 ms to free one by one (as mypy's fast exit)."""
    if _SPARED is not None:
        _SPARED.append(built)
    return built


def _check_size(path: str, max_mb: float) -> None:
    try:
        size = Path(path).stat().st_size
    except OSError:
        return  # the reader reports a missing file itself
    if size > max_mb * 1e6:
        raise InputError(path, None, f"the file is {size / 1e6:.0f} MB, over --max-size {max_mb:g} MB; "
                                     "raise --max-size if it really is the binary you mean")


def _warn(msg: str) -> None:
    print(f"asyncify-doctor: {msg}", file=sys.stderr)


def _warn_unmatched(module: "Module", sel: "ImportSelection") -> None:
    """Patterns that match nothing, with the import each probably meant; and Emscripten's own additions."""
    if sel.unmatched:
        shown = ", ".join(p + (f" (did you mean {' or '.join(sel.suggestions[p])}?)" if p in sel.suggestions else "")
                          for p in sel.unmatched[:8]) + (f", … ({len(sel.unmatched) - 8} more)" if len(sel.unmatched) > 8 else "")
        _warn(f"warning: {len(sel.unmatched)} --imports pattern(s) match no import of {module.path} "
              f"(typos, or imports this build does not have): {shown}")
    if sel.emscripten and sel.added:
        added = [report.display_name(module, f) for fs in sel.added.values() for f in fs]
        _warn(f"note: an Emscripten build ({sel.emscripten[0]}; --no-emscripten to turn off): emcc also makes these "
              f"imports async by itself: {', '.join(added[:10])}{', …' if len(added) > 10 else ''}")


def _warn_list_files(imports: list[str]) -> None:
    """`--imports @FILE`: say where Binaryen would read the file otherwise (empty, `#` lines…)."""
    from .lists import list_warnings, read_list
    for arg in imports:
        if arg.startswith("@") and Path(arg[1:]).is_file():
            for warning in list_warnings(read_list(arg[1:]), kind="imports"):
                _warn(f"warning: {warning}")


def _warn_imports(result: AnalysisResult) -> None:
    sel = result.selection
    _warn_unmatched(result.module, sel)
    if sel.trampolines:
        live = [report.display_name(result.module, f) for f in sel.trampolines if result.analysis.reached(f)]
        if live:
            _warn(f"note: {len(live)} trampoline(s) can unwind, so the build must keep them async (ASYNCIFY_IMPORTS): "
                  f"{', '.join(live[:8])}{', …' if len(live) > 8 else ''}")
    if sel.listed_trampolines:
        an = result.analysis
        idle = [report.display_name(result.module, f) for f in sel.listed_trampolines if not an.reached(f)]
        if idle:
            _warn(f"note: {len(idle)} trampoline(s) named in --imports can never unwind (no table function of their "
                  f"signature can reach an async import; --trampolines async for the old model): {', '.join(idle[:8])}"
                  + (", …" if len(idle) > 8 else ""))
    if sel.emscripten and not sel.all_by_default and not sel.added and not sel.functions and not sel.unmatched:
        _warn("note: no --imports given and this Emscripten build imports none of the functions emcc makes async "
              "by itself: nothing can unwind")
    if sel.all_by_default and sel.functions:
        contrib = report.import_contributions(result.graph, sel.functions, result.analysis.mode)
        top = sorted(contrib.items(), key=lambda kv: -kv[1])[:5]
        names = ", ".join(f"{report.display_name(result.module, i)} ({n})" for i, n in top if n)
        _warn("note: no --imports given, so every import is treated as async (Binaryen's default); "
              "that is rarely what you want." + (f" Imports pulling in the most functions: {names}" if names else ""))


def _output(text: str | Iterable[str], out: str | None) -> None:
    """`-o FILE` through the safe writer (outputs.py); no `-o`, or `-o -`, is standard output."""
    from .outputs import write_output
    write_output(out, text)


def cmd_analyze(args: argparse.Namespace) -> int:
    if args.update and not args.current:
        raise UsageError("--update needs --current LIST: the list file to rewrite")
    result = _analyze_from(args)
    an = result.analysis
    if args.current:
        return _current(args, an)
    names = an.names()
    if args.format != "json":   # the names each list's reader matches (binaryen_names.py); exit 2 if none
        from .binaryen_names import list_names, naming_notes
        names = list_names(result.module, an.listed, "wasm-opt" if args.format == "binaryen" else "emcc",
                           args.binaryen_version)
        for note in naming_notes(result.module, an.listed, args.format, args.binaryen_version):
            _warn(note)
    dupes = len(names) - len(set(names))
    if dupes:
        _warn(f"warning: {dupes} listed function(s) share their name with another function; the list names "
              "each once, and Binaryen renames duplicates when it reads the name section, so check them")
    unnamed = an.unnamed_members() if args.format == "json" else []
    if unnamed:
        _warn(f"warning: {len(unnamed)} function(s) in the list have no name in the name section and are "
              f"written as wasm-function[N], which Binaryen cannot match; rebuild with names "
              f"(emcc -g2 or --profiling-funcs; wasm-ld without --strip-all)")
    if args.format == "json":
        text = json.dumps(report.json_report(an, with_stats=True), indent=1, ensure_ascii=False) + "\n"
    else:
        from .lists import BINARYEN, EMCC, format_names, list_warnings, parse_list, warning_sample
        # names only: what made the list is said here, on stderr, since Binaryen reads every line of a
        # list file as a name (a `#` header included)
        unique = list(dict.fromkeys(names))
        text = format_names(unique, args.format, binaryen_version=args.binaryen_version,
                            mangle=args.emscripten_mangle)
        if args.format == "emscripten":
            from .lists import emcc_entry
            patterned = [n for n in unique if emcc_entry(n) != n]
            if patterned:
                _warn(f"note: {len(patterned)} name(s) are written as `*` patterns that select them, since emcc "
                      "turns `.`, `#`, `?` into other characters and splits entries on commas: e.g. "
                      f"{patterned[0]} → {emcc_entry(patterned[0])}")
                everyone = {f.name for f in result.module.functions}
                risky = [emcc_entry(n) for n in patterned if "*" in emcc_entry(n).strip("*")
                         and emcc_entry(n).split("*")[0] in everyone]
                if risky:
                    _warn(f"warning: Binaryen 124 and older abort on a pattern with an inner `*` when a function is "
                          f"named exactly its part before the `*` (String::wildcardMatch): {', '.join(risky[:3])}; "
                          "use Binaryen 125+ or pass the list with --pass-arg")
        consumer = {"binaryen": BINARYEN, "emscripten": EMCC}.get(args.format)
        sample = warning_sample(unique)   # the names a consumer could misread
        written = parse_list(format_names(sample, args.format, binaryen_version=args.binaryen_version,
                                          mangle=args.emscripten_mangle),
                             source=args.output if args.output not in (None, "-") else "the list")
        for warning in list_warnings(written, consumer, binaryen_version=args.binaryen_version):
            _warn(f"warning: {warning}")
    _output(text, args.output)
    if args.stats:
        print(report.stats_text(report.stats(an)), file=sys.stderr)
    else:
        where = f"wrote them to {args.output} ({args.format} format)" if args.output not in (None, "-") else ""
        _warn(f"{len(an.listed)} functions can be on the stack at an async import of "
              f"{Path(result.module.path).name} (--indirect {an.mode}){'; ' + where if where else ''}")
    return 0


def _current(args: argparse.Namespace, an: "Analysis") -> int:
    """`--current LIST`: what to add and what can go; with `--update`, LIST rewritten in its own layout."""
    from .current import diff_current, diff_text, updated_text
    from .lists import read_list, write_atomic
    lf = read_list(args.current)
    diff = diff_current(an, lf)
    _output(diff_text(diff, an, args.current), args.output)
    if args.update and not diff.in_sync:
        write_atomic(args.current, updated_text(lf, diff), backup=True)
        _warn(f"updated {args.current}: added {len(diff.add)}, removed {len(diff.can_go)} (the old list is in "
              f"{args.current}.bak)")
        return 0
    return 1 if diff.add else 0


def cmd_why(args: argparse.Namespace) -> int:
    result = _analyze_from(args)
    f = report.find_function(result.module, args.function)
    if f is None:
        close = report.suggest(result.module, args.function)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"no function named {args.function!r} in {result.module.path}{hint}")
    text, member = report.why_text(result.analysis, f)
    print(text)
    return 0 if member else 1


def cmd_graph(args: argparse.Namespace) -> int:
    from .api import load_module
    from .callgraph import CallGraph
    g = _spare(CallGraph(load_module(args.wasm), args.host_table))
    parts = report.graph_json_parts(g, args.indirect) if args.format == "json" else report.graph_dot_parts(g, args.indirect)
    _output(parts, args.output)   # written as it is made: a big graph is never held whole
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from . import audit as auditmod
    from .binaryen_lists import BinaryenLists
    from .lists import read_list
    if args.top < 0:
        raise UsageError(f"--top must be 0 (everything) or more, not {args.top}")
    _check_imports(args.imports)
    _warn_list_files(args.imports)
    _check_size(args.wasm, args.max_size)
    files = [read_list(f) if f else None for f in (args.list, args.remove_list, args.add_list)]
    for lf in files:
        from .lists import list_warnings
        for warning in list_warnings(lf) if lf is not None else []:
            _warn(f"warning: {warning}")
    lists = BinaryenLists(*(lf.entries if lf is not None else None for lf in files), propagate_add=args.propagate_add)
    rep = _spare(auditmod.run_audit(args.wasm, args.imports, args.indirect, args.host_table, lists=lists,
                                    observed=_observed(args), emscripten=args.emscripten,
                                    trampolines=args.trampolines, ignore_imports=args.ignore_imports))
    if rep.info.problems:
        raise InputError(args.wasm, None, f"looks asyncified but cannot be audited: {rep.info.problems[0]}")
    if rep.analysis is not None and args.imports:
        _warn_unmatched(rep.analysis.module, rep.selection)
    if args.format == "json":
        text = json.dumps(auditmod.report_json(rep), indent=1, ensure_ascii=False) + "\n"
    elif args.format == "sarif":
        text = json.dumps(auditmod.report_sarif(rep, __version__), indent=1, ensure_ascii=False) + "\n"
    elif args.format == "html":
        from .report_html import report_html
        text = report_html(rep, __version__)
    else:
        text = auditmod.report_text(rep, args.top)
    _output(text, args.output)
    return 1 if rep.missing or rep.unchecked_calls else 0


def cmd_jspi(args: argparse.Namespace) -> int:
    from . import jspi
    from .lists import format_names, read_list
    result = _analyze_from(args, trampolines="async")   # jspi finds its own hazards through trampolines
    current = read_list(args.current).entries if args.current else None
    reenters = tuple(args.reenters) or jspi.DEFAULT_REENTERS
    rep = jspi.jspi_report(result.graph, result.selection.functions, args.indirect, reenters, current)
    if args.asyncify_build:
        rep.migration = jspi.migration(args.asyncify_build, result.module)
    if args.format == "json":
        text = json.dumps(jspi.report_json(rep), indent=1, ensure_ascii=False) + "\n"
    elif args.format in ("list", "emscripten"):
        text = format_names(rep.suspending_exports, args.format)
        if rep.hazards:
            _warn(f"warning: {len(rep.hazards)} JS-frame hazard(s): run with --format text to see them")
    else:
        text = jspi.report_text(rep)
    _output(text, args.output)
    return 1 if rep.hazards or rep.missing_wraps else 0


def cmd_fix(args: argparse.Namespace) -> int:
    from .fixloop import FixConfig, run_fix, undo
    if args.undo:
        return undo(Path(args.list))
    if not args.build or not args.test:
        raise UsageError("fix needs --build CMD and --test CMD (or --undo)")
    if not Path(args.list).exists():
        raise UsageError(f"{args.list}: no such list file (create an empty one to start from nothing)")
    _check_imports(args.imports)
    for flag, value in (("--wasm", args.wasm), ("--built", args.built)):
        if value and not Path(value).is_file():
            raise UsageError(f"{flag} {value}: no such file")
    cfg = FixConfig(Path(args.list), args.build, args.test, wasm=Path(args.wasm) if args.wasm else None,
                    imports=args.imports, indirect=args.indirect, max_rounds=args.max_rounds, timeout=args.timeout,
                    dry_run=args.dry_run, built=Path(args.built) if args.built else None, host_table=args.host_table)
    return run_fix(cfg)


def cmd_parse_trace(args: argparse.Namespace) -> int:
    from .traces import FrameMapper, parse_log
    source = args.log if args.log and args.log != "-" else "standard input"
    if source == "standard input":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.log).read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise InputError(args.log, None, f"cannot read: {exc.strerror or exc}") from None
    crashes = parse_log(text)
    from .api import load_module
    mapper = FrameMapper(load_module(args.wasm) if args.wasm else None, load_module(args.built) if args.built else None)
    out = []
    for c in crashes:
        mp = mapper.map(c)
        out.append({"message": c.message, "line": c.line, "kind": c.kind, "asyncify_like": c.looks_like_asyncify,
                    "frames": [name or label for label, name in mp.frames],
                    "unresolved": [{"frame": label, "reason": why} for label, why in mp.unresolved]})
    if args.format == "json":
        print(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        for c in out:
            print(f"line {c['line']}: {c['message']}" + ("" if c["asyncify_like"] else f"  ({c['kind']}: does not look like Asyncify)"))
            for n in c["frames"]:
                print(f"    {n}")
            if c["unresolved"]:
                print(f"    ({len(c['unresolved'])} frame(s) not named: {c['unresolved'][0]['reason']})")
    if not crashes:
        _warn(f"no wasm crash trace in {source} ({len(text.splitlines())} lines): no frames from node/V8, a browser, "
              "vitest/jest, wasmtime, Emscripten's Aborted(...) or any other runtime that names wasm frames")
    named_all = not (args.wasm or args.built) or not any(c["unresolved"] for c in out)
    return 0 if crashes and named_all else 1


def cmd_trace(args: argparse.Namespace) -> int:
    from .patterns import expand_args
    from .trace import run_trace
    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if args.wasmtime:
        return _trace_wasmtime(args)
    if not command:
        raise UsageError("trace needs the command to run after --, e.g. trace --imports env.sleep_ms -o s.json -- npm test")
    _check_imports(args.imports)
    patterns = expand_args(args.imports)
    if not patterns:
        raise UsageError("trace needs --imports: the imports at which to record stacks")
    run = run_trace(command, patterns, args.timeout)
    doc = {"tool": "asyncify-doctor trace", "command": command, "imports": patterns, "exit_status": run.returncode,
           "processes": run.files, "stacks": run.stacks}
    _output(json.dumps(doc, indent=1) + "\n", args.output)
    frames = {f["name"] or f"wasm-function[{f['index']}]" for st in run.stacks for f in st["frames"]}
    status = _exit_status(run.returncode)
    if run.returncode is None:
        ended = f"was killed after --timeout {args.timeout:g} s (exit status 124)"
    else:
        ended = f"exited with {status}" + {127: " (command not found)", 126: " (not executable)"}.get(status, "")
    _warn(f"recorded {len(run.stacks)} distinct stacks ({sum(st['count'] for st in run.stacks)} calls) with "
          f"{len(frames)} distinct functions, from {run.files} process(es); the command {ended}")
    if status == 0 and not run.stacks:
        _warn("nothing was recorded: the preload only sees node processes (is the command a node program?), "
              f"and only calls of imports matching --imports ({', '.join(patterns[:5])}{', …' if len(patterns) > 5 else ''})")
        return 1
    return status


def _exit_status(returncode: int | None) -> int:
    """The traced command's exit status, passed through as a shell would: 124 for our timeout (as
    coreutils `timeout`), 128+N for death by signal N."""
    if returncode is None:
        return 124
    return 128 - returncode if returncode < 0 else returncode


def _trace_wasmtime(args: argparse.Namespace) -> int:
    from .host.common import STANDARD_ASYNC, TRAP, AsyncifyRunError
    from .host.wasmtime_trace import WasmtimeTracer
    from .patterns import expand_args
    _check_imports(args.imports)
    asyncs = tuple(expand_args(args.imports)) or STANDARD_ASYNC
    tracer = WasmtimeTracer(Path(args.wasmtime), async_imports=asyncs)
    if tracer.unmatched and args.imports:
        _warn(f"--imports patterns matching no import of {args.wasmtime}: {', '.join(tracer.unmatched)}")
    exports, failures = args.export or ["run"], {}
    for export in exports:
        try:
            tracer.run(export)
        except AsyncifyRunError as exc:
            if exc.kind != TRAP:
                raise
            failures[export] = exc.message
            _warn(str(exc))
    stacks = tracer.stacks
    doc = {"tool": "asyncify-doctor trace", "wasmtime": args.wasmtime, "exports": exports, "imports": list(asyncs),
           "exit_status": 1 if failures else 0, "failures": failures, "processes": 1, "stacks": stacks}
    _output(json.dumps(doc, indent=1) + "\n", args.output)
    frames = {f["index"] for st in stacks for f in st["frames"]}
    _warn(f"recorded {len(stacks)} distinct stacks ({sum(st['count'] for st in stacks)} calls) with {len(frames)} "
          f"distinct functions under wasmtime, the deepest {max((len(st['frames']) for st in stacks), default=0)} frames")
    return 0 if stacks and not failures else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(color=args.color)


def _parser_analyze(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("analyze", formatter_class=fmt, help="print the minimal onlylist for the given async imports",
                       description="Print the functions that can be on the stack when an async import is called.")
    _add_analysis_args(p)
    p.add_argument("--format", choices=LIST_FORMATS, default="list",
                   help="list: one name per line, nothing else (read as meant by wasm-opt and emcc)\n"
                        "emscripten: JSON array for -sASYNCIFY_ONLY=@file (names; `*` patterns where emcc would change one)\n"
                        "binaryen: for wasm-opt --pass-arg=asyncify-onlylist@@file (see --binaryen-version)\n"
                        "json: names, witness chains and stats")
    p.add_argument("--binaryen-version", type=int, default=None, metavar="N",
                   help="with --format binaryen: the wasm-opt version that will read the file; old versions "
                        "split list files on commas only (default: current Binaryen)")
    p.add_argument("--emscripten-mangle", action="store_true",
                   help="with --format emscripten: write the legacy mangled form (space → ., & → #, , → ?)")
    _add_output_arg(p)
    p.add_argument("--current", metavar="LIST", help="the list in use (any layout): print what to add, with a chain\n"
                   "each, and what can go, with the bytes it costs, instead of the list;\n"
                   "exit status 1 when something must be added")
    p.add_argument("--update", action="store_true", help="with --current: rewrite LIST in its own layout (comments and\n"
                   "order kept, atomically, the old one kept as LIST.bak)")
    p.add_argument("--stats", action="store_true", help="print counts to stderr: the list's size under each --indirect mode, and per\n"
                        "async import the list's size if it alone were async (the list still goes to -o/stdout)")
    p.set_defaults(run=cmd_analyze)


def _parser_why(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("why", formatter_class=fmt, help="show the chain that forces a function into the list",
                       description="Explain why FUNCTION must be instrumented (a shortest chain to an async import),\n"
                                   "or why it need not be. Exit status 0 if it is in the list, 1 if not.")
    _add_analysis_args(p)
    p.add_argument("function", help="function name, module.name of an import, or index")
    p.set_defaults(run=cmd_why)


def _parser_graph(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("graph", formatter_class=fmt, help="print the call graph as JSON or graphviz dot",
                       description="Every function in index order with its callees under the --indirect mode.\n"
                                   "In `all` mode an indirect call may reach every function in any table.")
    p.add_argument("wasm", help="the .wasm binary (names come from its name section)")
    p.add_argument("--format", choices=("json", "dot"), default="json",
                   help="json: {\"functions\": [{index, name, imported, callees}]} (default)\n"
                        "dot: graphviz; indirect edges dotted, imports dashed")
    _add_mode_args(p)
    _add_output_arg(p)
    p.set_defaults(run=cmd_graph)


def _parser_audit(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("audit", formatter_class=fmt, help="find functions an asyncified binary should have instrumented",
                       description="Read an already-asyncified binary: recognise which functions Binaryen instrumented,\n"
                                   "recompute which can be on the stack at an async import, and report the\n"
                                   "missing ones (crashes waiting to happen) with a chain each, the unneeded ones\n"
                                   "(size paid for nothing), and, with --list, list entries that match nothing.\n"
                                   "Exit status 1 when anything is missing, so CI can gate a release on it.")
    _add_analysis_args(p)
    p.add_argument("--list", metavar="FILE", help="the onlylist (ASYNCIFY_ONLY) the binary was built with (any layout):\n"
                   "says which entries had no effect and why")
    p.add_argument("--remove-list", metavar="FILE", help="the removelist (ASYNCIFY_REMOVE) it was built with")
    p.add_argument("--add-list", metavar="FILE", help="the addlist (ASYNCIFY_ADD) it was built with")
    p.add_argument("--propagate-add", action="store_true", help="the build used asyncify-propagate-addlist "
                   "(ASYNCIFY_PROPAGATE_ADD)")
    p.add_argument("--format", choices=("text", "json", "sarif", "html"), default="text",
                   help="text: the ranked groups of missing functions, one chain each, and the totals;\n"
                        "json, sarif: every finding with its chain and group; html: one self-contained page")
    p.add_argument("--top", type=int, default=10, metavar="N", help="text: show the first N groups (0: all; default 10)")
    _add_output_arg(p)
    p.set_defaults(run=cmd_audit)


def _parser_jspi(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("jspi", formatter_class=fmt, help="what a JSPI build must mark, and its JS-frame hazards",
                       description="For a JSPI build: the exports to wrap with WebAssembly.promising (JSPI_EXPORTS), the\n"
                                   "imports that may suspend, and paths on which a suspension would cross a JS frame\n"
                                   "(an import that calls back into wasm, like Emscripten's invoke_* trampolines):\n"
                                   "those work under Asyncify and trap under JSPI. Exit status 1 when there are\n"
                                   "hazards or, with --current, exports missing from the current list.")
    _add_analysis_args(p)
    p.add_argument("--reenters", action="append", default=[], metavar="PATTERN",
                   help="imports that call back into wasm (default: env.invoke_*). invoke_X re-enters table\n"
                        "functions of X's signature; others any function in a host-visible table or export")
    p.add_argument("--current", metavar="FILE", help="the JSPI_EXPORTS list in use: report missing and needless wraps")
    p.add_argument("--asyncify-build", metavar="WASM", help="the Asyncify build of the same program (WASM is then the\n"
                   "JSPI build): adds a migration summary — what Asyncify instruments and what it costs")
    p.add_argument("--format", choices=("text", "list", "emscripten", "json"), default="text",
                   help="text: the report; list/emscripten: just the exports to wrap; json: everything")
    _add_output_arg(p)
    p.set_defaults(run=cmd_jspi)


def _parser_fix(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("fix", formatter_class=fmt, help="the crash-driven repair loop: test, add crashed functions, rebuild",
                       description="Run the tests; take every wasm stack in their output (any runtime, any message);\n"
                                   "add the functions they implicate to the list (its own layout, names only, a .bak\n"
                                   "of the original); rebuild; repeat until the tests pass or a round adds nothing.\n"
                                   "With --wasm (the binary before asyncify), each crash adds every function below the\n"
                                   "crashed frames that can reach an async import: the frame that traps is usually\n"
                                   "the caller of the missing function, which a trace alone cannot name.")
    p.add_argument("--list", required=True, help="the list file to repair (plain, JSON, Binaryen, or inside a Makefile/Dockerfile)")
    p.add_argument("--build", metavar="CMD", help="shell command that rebuilds the binary from the list")
    p.add_argument("--test", metavar="CMD", help="shell command that runs the tests (non-zero exit on failure)")
    p.add_argument("--undo", action="store_true", help="put the list back as it was before fix first changed it (from its .bak)")
    p.add_argument("--wasm", metavar="PRE.wasm", help="the binary before asyncify (the one Binaryen reads the list for):\n"
                   "its call graph enables whole-path repairs, and its names are what the list gets")
    p.add_argument("--built", metavar="OUT.wasm", help="the binary the tests run (after asyncify, perhaps optimised or\n"
                   "without names): frames without names are read in it, and mapped into --wasm only\n"
                   "where the two are shown to number their functions alike")
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN", help="async imports, as for analyze (with --wasm)")
    _add_mode_args(p)
    p.add_argument("--max-rounds", type=int, default=20, metavar="N",
                   help="stop after N rounds of test, add, rebuild (default 20)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per test or build run before it is killed (default 600)")
    p.add_argument("--dry-run", action="store_true", help="show what the first round would add; change nothing")
    p.set_defaults(run=cmd_fix)


def _parser_parse_trace(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("parse-trace", formatter_class=fmt,
                       help="extract wasm crash frames from a log (node, browsers, wasmtime, Emscripten, any runtime)",
                       description="Print every wasm crash trace in a log with its frames, innermost first, named the\n"
                                   "way Binaryen matches them (through --wasm/--built when the runtime printed no names).\n"
                                   "Exit status 1 when the log holds no trace, or frames stay unnamed.")
    p.add_argument("log", nargs="?", help="the log file (default, or -: standard input)")
    p.add_argument("--wasm", metavar="PRE.wasm", help="name frames as functions of this binary (the one before asyncify);\n"
                   "without --built, unnamed frames are read in it only if their byte offsets show\n"
                   "it is the binary that printed them")
    p.add_argument("--built", metavar="OUT.wasm", help="the binary that printed the trace: unnamed frames are read in it")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: one block per crash (default); json: [{message, line, asyncify_like, frames, ...}]")
    p.set_defaults(run=cmd_parse_trace)


def _parser_trace(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("trace", formatter_class=fmt, help="record every real stack at an async import from one run of your tests",
                       description="Run COMMAND (node programs: plain or JSPI builds, before asyncify) with a preload that\n"
                                   "records the whole wasm stack at every call of the matching imports, across child\n"
                                   "processes and worker threads. Feed the result to analyze/why with --observed.")
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN", help="imports to watch (module.name, *, @file)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the stacks (JSON; default stdout). " + OUTPUT_HELP)
    p.add_argument("--timeout", type=float, default=None, help="kill the command (and its children) after this many seconds")
    p.add_argument("--wasmtime", metavar="WASM", help="instead of a command: run WASM's exports on wasmtime with the\n"
                   "standard fixture imports, its stack recorded by a shadow stack written into\n"
                   "a copy of the binary (Python API: host.wasmtime_trace.WasmtimeTracer for your own imports)")
    p.add_argument("--export", action="append", default=[], help="with --wasmtime: exports to run (default: run)")
    p.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the command to run, after --; trace exits with its exit status (124 after --timeout)")
    p.set_defaults(run=cmd_trace)


def _parser_demo(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("demo", help="the whole story on a small program shipped in the package",
                       description="Analyze a shipped example, asyncify it with Binaryen using our list, run it, then "
                                   "drop one needed function and show the crash and how `why` explains it.")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the output: auto (default) when stdout is a terminal and NO_COLOR is unset")
    p.set_defaults(run=cmd_demo)


ONE_SHOT = {"analyze", "why", "graph", "audit", "jspi", "parse-trace"}
COMMANDS = {
    "analyze": _parser_analyze,
    "why": _parser_why,
    "graph": _parser_graph,
    "audit": _parser_audit,
    "jspi": _parser_jspi,
    "fix": _parser_fix,
    "parse-trace": _parser_parse_trace,
    "trace": _parser_trace,
    "demo": _parser_demo,
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the command line, only the subcommand it names (with `--help` and
    errors worded the same): the other eight cost every run 8 ms of start-up."""
    parser = argparse.ArgumentParser(
        prog="asyncify-doctor", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Minimal, provably safe Asyncify lists for WebAssembly. Reads a .wasm, builds its call "
                    "graph and tells which functions can be on the stack when an async import is called: "
                    "exactly what ASYNCIFY_ONLY / asyncify-onlylist must contain.")
    parser.add_argument("--version", action="version", version=f"asyncify-doctor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawTextHelpFormatter
    named = argv[0] if argv else None   # options before the command (-h, --version) need them all
    for name, add in COMMANDS.items():
        if named not in COMMANDS or name == named:
            add(sub, fmt)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args)
    except DoctorError as exc:
        print(f"asyncify-doctor: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("asyncify-doctor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: still one line, with how to get the details
        if os.environ.get("ASYNCIFY_DOCTOR_DEBUG"):
            raise
        print(f"asyncify-doctor: internal error: {type(exc).__name__}: {exc} "
              "(please report it; set ASYNCIFY_DOCTOR_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


def run() -> None:
    """The program (`asyncify-doctor`, `python -m asyncify_doctor`): `main`, then, after a one-shot
    command, out at once with its output flushed, leaving what it built to the OS."""
    global _SPARED
    argv = sys.argv[1:]
    one_shot = bool(argv) and argv[0] in ONE_SHOT
    if one_shot:
        _SPARED = []
        gc.disable()   # one analysis, then exit: no cycle outlives it, and collecting costs 20 ms a run
    code = main(argv)
    if not one_shot:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
