"""The `asyncify-doctor` command: a thin layer over `api`, `report` and `lists`.

Every error a user can cause prints one line and exits 2; no tracebacks, no half-written files.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

from . import __version__, report
from .api import AnalysisResult, run_analysis
from .errors import DoctorError, InputError, UsageError

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
    p.add_argument("--observed", action="append", default=[], metavar="STACKS.json",
                   help="stacks recorded by `trace`: observed frames join the list, observed calls become edges")
    p.add_argument("--max-size", type=float, default=2048, metavar="MB",
                   help="refuse binaries larger than this many MB (default 2048), so a wrong path fails fast")


def _analyze_from(args: argparse.Namespace) -> AnalysisResult:
    _check_size(args.wasm, args.max_size)
    if args.observed:
        from .trace import read_observed
        stacks = [s for path in args.observed for s in read_observed(path)]
        result = run_analysis(args.wasm, args.imports, args.indirect, args.host_table, observed=stacks)
    else:
        result = run_analysis(args.wasm, args.imports, args.indirect, args.host_table)
    _warn_imports(result)
    return result


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


def _warn_imports(result: AnalysisResult) -> None:
    sel = result.selection
    if sel.unmatched:
        shown = ", ".join(sel.unmatched[:8]) + (f", … ({len(sel.unmatched) - 8} more)" if len(sel.unmatched) > 8 else "")
        _warn(f"warning: {len(sel.unmatched)} --imports pattern(s) match no import of {result.module.path} "
              f"(typos, or imports this build does not have): {shown}")
    if sel.all_by_default and sel.functions:
        contrib = report.import_contributions(result.graph, sel.functions, result.analysis.mode)
        top = sorted(contrib.items(), key=lambda kv: -kv[1])[:5]
        names = ", ".join(f"{report.display_name(result.module, i)} ({n})" for i, n in top if n)
        _warn("note: no --imports given, so every import is treated as async (Binaryen's default); "
              "that is rarely what you want." + (f" Imports pulling in the most functions: {names}" if names else ""))


def _output(text: str, out: str | None) -> None:
    if out is None or out == "-":
        sys.stdout.write(text)
        return
    from .lists import write_atomic
    write_atomic(Path(out), text)


def cmd_analyze(args: argparse.Namespace) -> int:
    result = _analyze_from(args)
    an = result.analysis
    names = an.names()
    dupes = len(names) - len(set(names))
    if dupes:
        _warn(f"warning: {dupes} listed function(s) share their name with another function; the list names "
              "each once, and Binaryen renames duplicates when it reads the name section, so check them")
    unnamed = an.unnamed_members()
    if unnamed:
        _warn(f"warning: {len(unnamed)} function(s) in the list have no name in the name section and are "
              f"written as wasm-function[N], which Binaryen cannot match; rebuild with names "
              f"(emcc -g2 or --profiling-funcs; wasm-ld without --strip-all)")
    if args.format == "json":
        text = json.dumps(report.json_report(an, with_stats=True), indent=1, ensure_ascii=False) + "\n"
    else:
        from .lists import format_names
        header = (f"asyncify-doctor {__version__}: {len(an.members)} functions can be on the stack at an async "
                  f"import of {Path(result.module.path).name} (--indirect {an.mode})")
        text = format_names(list(dict.fromkeys(names)), args.format, binaryen_version=args.binaryen_version,
                            mangle=args.emscripten_mangle,
                            header=header if args.format == "list" else None)
    _output(text, args.output)
    if args.stats:
        print(report.stats_text(report.stats(an)), file=sys.stderr)
    elif args.output not in (None, "-"):
        _warn(f"wrote {len(an.members)} function names to {args.output} ({args.format} format)")
    return 0


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
    g = CallGraph(load_module(args.wasm), args.host_table)
    parts = report.graph_json_parts(g, args.indirect) if args.format == "json" else report.graph_dot_parts(g, args.indirect)
    if args.output in (None, "-"):
        for part in parts:  # written as it is made: a big graph is never held whole
            sys.stdout.write(part)
    else:
        _output("".join(parts), args.output)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from . import audit as auditmod
    from .lists import read_list
    result = _analyze_from(args)
    entries = read_list(args.list).entries if args.list else None
    rep = auditmod.audit(result.graph, result.selection.functions, args.indirect, entries, result.analysis)
    if args.format == "json":
        text = json.dumps(auditmod.report_json(rep), indent=1, ensure_ascii=False) + "\n"
    elif args.format == "sarif":
        text = json.dumps(auditmod.report_sarif(rep, __version__), indent=1, ensure_ascii=False) + "\n"
    else:
        text = auditmod.report_text(rep)
    _output(text, args.output)
    return 1 if rep.missing else 0


def cmd_jspi(args: argparse.Namespace) -> int:
    from . import jspi
    from .lists import format_names, read_list
    result = _analyze_from(args)
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
    cfg = FixConfig(Path(args.list), args.build, args.test, Path(args.wasm) if args.wasm else None,
                    args.imports, args.indirect, args.max_rounds, args.timeout, args.dry_run)
    return run_fix(cfg)


def cmd_parse_trace(args: argparse.Namespace) -> int:
    from .traces import parse_log, resolve
    text = Path(args.log).read_text(errors="replace") if args.log and args.log != "-" else sys.stdin.read()
    crashes = parse_log(text)
    module = None
    if args.wasm:
        from .api import load_module
        module = load_module(args.wasm)
    out = []
    for c in crashes:
        names = ([module.functions[i].name for i in resolve(c, module)] if module is not None
                 else [f.label() for f in c.frames])
        out.append({"message": c.message, "line": c.line, "asyncify_like": c.looks_like_asyncify, "frames": names})
    if args.format == "json":
        print(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        for c in out:
            print(f"line {c['line']}: {c['message']}" + ("" if c["asyncify_like"] else "  (does not look like Asyncify)"))
            for n in c["frames"]:
                print(f"    {n}")
    return 0 if crashes else 1


def cmd_trace(args: argparse.Namespace) -> int:
    from .patterns import expand_args
    from .trace import run_trace
    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if args.wasmtime:
        return _trace_wasmtime(args)
    if not command:
        raise UsageError("trace needs the command to run after --, e.g. trace --imports env.sleep_ms -o s.json -- npm test")
    patterns = expand_args(args.imports)
    if not patterns:
        raise UsageError("trace needs --imports: the imports at which to record stacks")
    run = run_trace(command, patterns, args.timeout)
    doc = {"tool": "asyncify-doctor trace", "command": command, "imports": patterns, "exit_status": run.returncode,
           "processes": run.files, "stacks": run.stacks}
    _output(json.dumps(doc, indent=1) + "\n", args.output)
    frames = {f["name"] or f"wasm-function[{f['index']}]" for st in run.stacks for f in st["frames"]}
    _warn(f"recorded {len(run.stacks)} distinct stacks ({sum(st['count'] for st in run.stacks)} calls) with "
          f"{len(frames)} distinct functions, from {run.files} process(es); the command exited with "
          f"{'a timeout' if run.returncode is None else run.returncode}")
    return 0 if run.stacks else 1


def _trace_wasmtime(args: argparse.Namespace) -> int:
    from .host.common import STANDARD_ASYNC, TRAP, AsyncifyRunError
    from .host.wasmtime_trace import WasmtimeTracer
    from .patterns import expand_args
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncify-doctor", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Minimal, provably safe Asyncify lists for WebAssembly. Reads a .wasm, builds its call "
                    "graph and tells which functions can be on the stack when an async import is called: "
                    "exactly what ASYNCIFY_ONLY / asyncify-onlylist must contain.")
    parser.add_argument("--version", action="version", version=f"asyncify-doctor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawTextHelpFormatter

    p = sub.add_parser("analyze", formatter_class=fmt, help="print the minimal onlylist for the given async imports",
                       description="Print the functions that can be on the stack when an async import is called.")
    _add_analysis_args(p)
    p.add_argument("--format", choices=LIST_FORMATS, default="list",
                   help="list: one name per line (# header)\n"
                        "emscripten: JSON array for -sASYNCIFY_ONLY=@file (real names, as emcc passes them on)\n"
                        "binaryen: for wasm-opt --pass-arg=asyncify-onlylist@@file (see --binaryen-version)\n"
                        "json: names, witness chains and stats")
    p.add_argument("--binaryen-version", type=int, default=None, metavar="N",
                   help="with --format binaryen: the wasm-opt version that will read the file; old versions "
                        "split list files on commas only (default: current Binaryen)")
    p.add_argument("--emscripten-mangle", action="store_true",
                   help="with --format emscripten: write the legacy mangled form (space → ., & → #, , → ?)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--stats", action="store_true", help="print counts to stderr: per import, and the three --indirect modes side by side")
    p.set_defaults(run=cmd_analyze)

    p = sub.add_parser("why", formatter_class=fmt, help="show the chain that forces a function into the list",
                       description="Explain why FUNCTION must be instrumented (a shortest chain to an async import),\n"
                                   "or why it need not be. Exit status 0 if it is in the list, 1 if not.")
    _add_analysis_args(p)
    p.add_argument("function", help="function name, module.name of an import, or index")
    p.set_defaults(run=cmd_why)

    p = sub.add_parser("graph", formatter_class=fmt, help="print the call graph as JSON or graphviz dot",
                       description="Every function in index order with its callees under the --indirect mode.\n"
                                   "In `all` mode an indirect call may reach every function in any table.")
    p.add_argument("wasm")
    p.add_argument("--format", choices=("json", "dot"), default="json")
    _add_mode_args(p)
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser("audit", formatter_class=fmt, help="find functions an asyncified binary should have instrumented",
                       description="Read an already-asyncified binary: recognise which functions Binaryen instrumented,\n"
                                   "recompute which can be on the stack at an async import, and report the\n"
                                   "missing ones (crashes waiting to happen) with a chain each, the unneeded ones\n"
                                   "(size paid for nothing), and, with --list, list entries that match nothing.\n"
                                   "Exit status 1 when anything is missing, so CI can gate a release on it.")
    _add_analysis_args(p)
    p.add_argument("--list", metavar="FILE", help="the ASYNCIFY_ONLY list the binary was built with (any layout)")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(run=cmd_audit)

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
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(run=cmd_jspi)

    p = sub.add_parser("fix", formatter_class=fmt, help="the crash-driven repair loop: test, add crashed functions, rebuild",
                       description="Run the tests; take every wasm crash trace in their output; add the functions\n"
                                   "they implicate to the list (its own layout, a comment per round, a .bak of the\n"
                                   "original); rebuild; repeat until the tests pass or a round adds nothing.\n"
                                   "With --wasm, each crash adds every function below the crashed frames that can\n"
                                   "reach an async import: the frame that traps is usually the caller of the\n"
                                   "missing function, which a trace alone cannot name.")
    p.add_argument("--list", required=True, help="the list file to repair (plain, JSON, Binaryen, or inside a Makefile/Dockerfile)")
    p.add_argument("--build", metavar="CMD", help="shell command that rebuilds the binary from the list")
    p.add_argument("--test", metavar="CMD", help="shell command that runs the tests (non-zero exit on failure)")
    p.add_argument("--undo", action="store_true", help="put the list back as it was before fix first changed it (from its .bak)")
    p.add_argument("--wasm", metavar="FILE", help="the binary the build produces: enables whole-path repairs")
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN", help="async imports, as for analyze (with --wasm)")
    p.add_argument("--indirect", choices=("typed", "all", "ignore"), default="typed")
    p.add_argument("--max-rounds", type=int, default=20)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per test or build run before it is killed (default 600)")
    p.add_argument("--dry-run", action="store_true", help="show what the first round would add; change nothing")
    p.set_defaults(run=cmd_fix)

    p = sub.add_parser("parse-trace", help="extract wasm crash frames from a log (node, browsers, wasmtime, Emscripten)")
    p.add_argument("log", nargs="?", help="the log file (default: stdin)")
    p.add_argument("--wasm", metavar="FILE", help="map frames without usable names through this binary")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_parse_trace)

    p = sub.add_parser("trace", formatter_class=fmt, help="record every real stack at an async import from one run of your tests",
                       description="Run COMMAND (node programs: plain or JSPI builds, before asyncify) with a preload that\n"
                                   "records the whole wasm stack at every call of the matching imports, across child\n"
                                   "processes and worker threads. Feed the result to analyze/why with --observed.")
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN", help="imports to watch (module.name, *, @file)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the stacks (JSON)")
    p.add_argument("--timeout", type=float, default=None, help="kill the command (and its children) after this many seconds")
    p.add_argument("--wasmtime", metavar="WASM", help="instead of a command: run WASM's exports on wasmtime with the\n"
                   "standard fixture imports, its stack recorded by a shadow stack written into\n"
                   "a copy of the binary (Python API: host.wasmtime_trace.WasmtimeTracer for your own imports)")
    p.add_argument("--export", action="append", default=[], help="with --wasmtime: exports to run (default: run)")
    p.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    p.set_defaults(run=cmd_trace)

    p = sub.add_parser("demo", help="the whole story on a small program shipped in the package",
                       description="Analyze a shipped example, asyncify it with Binaryen using our list, run it, then "
                                   "drop one needed function and show the crash and how `why` explains it.")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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


if __name__ == "__main__":
    sys.exit(main())
