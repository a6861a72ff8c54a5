"""`asyncify-doctor analyze`: the minimal onlylist, in the format the build reads; with `--list`, what
the list in use lacks and what it can lose."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..render import report
from ..schemas import dumps
from .common import (
    add_analysis_args,
    add_format_arg,
    add_list_arg,
    add_output_arg,
    number,
    analyze_from,
    only_with,
    output,
    warn,
)

if TYPE_CHECKING:
    from ..analysis.closure import Analysis

FORMATS = {
    "list": "one name per line, nothing else (read as meant by wasm-opt >= 117 and emcc)",
    "emscripten": "JSON array for -sASYNCIFY_ONLY=@file (names; `*` patterns where emcc would change one)",
    "binaryen": "for wasm-opt --pass-arg=asyncify-onlylist@@file (see --binaryen-version)",
    "json": "a document (schema asyncify-doctor/analyze/1): names, a chain each, stats;\n"
            "with --list, what to add and what can go",
}


def _check(args: argparse.Namespace) -> None:
    """Flags that would be ignored in this combination are errors."""
    only_with(args.update, "--update", bool(args.list), "--list LIST (the list file to rewrite)")
    only_with(args.binaryen_version is not None, "--binaryen-version", args.format == "binaryen", "--format binaryen")
    only_with(args.emscripten_mangle, "--emscripten-mangle", args.format == "emscripten", "--format emscripten")
    only_with(args.stats, "--stats", not args.list, "a list to print (not with --list)")
    only_with(args.format != "list" and bool(args.list), f"--format {args.format}", args.format == "json",
              "the list itself (with --list the answer is text, or --format json)")


def _async_when_note(args: argparse.Namespace, an: Analysis) -> None:
    """--async-when without --observed: a trace of the program shows every call of the stated imports,
    and under JSPI each of them suspends (the JS API awaits any result), so its stacks may hold
    frames this list rightly leaves out; say so before someone takes them for missing entries."""
    pr = an.pruning
    if pr is None or not pr.edges or args.observed:
        return
    callers = sorted({u for u, _w in pr.edges})
    warn(f"note: --async-when left out {len(pr.edges)} call(s) proven never to suspend (in {len(callers)} function(s), "
         f"e.g. {report.display_name(an.module, callers[0])}). That holds for an Asyncify build whose imports unwind "
         "only for the stated values; `trace` records every call of an async import (and under JSPI every such "
         "call suspends), so traced stacks may show these callers: pass them with --observed to keep them, or "
         "check with `why` why a caller is left out", always=True)

EMPTY_LIST_TRAP = ("an empty onlylist is no list at all to Binaryen (it instruments every function that can reach an "
                   "import) and stops emcc (an empty @file). This build needs no Asyncify; to keep it and instrument "
                   "nothing, pass --pass-arg=asyncify-removelist@* (emcc: -sASYNCIFY_REMOVE=*) instead of a list")


def run(args: argparse.Namespace) -> int:
    _check(args)
    result = analyze_from(args)
    an = result.analysis
    _async_when_note(args, an)
    if args.list:
        return _current(args, an)
    names = an.names()
    if not names and args.format != "json":
        warn(f"nothing can be on the stack at an async import of {Path(result.module.path).name} (--indirect {an.mode}), "
             f"so the list is empty and {'nothing was written to ' + args.output if args.output not in (None, '-') else 'nothing is printed'}: "
             + EMPTY_LIST_TRAP)
        return 1
    if args.format != "json":   # the names each list's reader matches (lists/binaryen_names); exit 2 if none
        from ..lists.binaryen_names import list_names, naming_notes
        names = list_names(result.module, an.listed, "wasm-opt" if args.format == "binaryen" else "emcc",
                           args.binaryen_version)
        for note in naming_notes(result.module, an.listed, args.format, args.binaryen_version):
            warn(note)
    dupes = len(names) - len(set(names))
    if dupes:
        warn(f"warning: {dupes} listed function(s) share their name with another function; the list names "
             "each once, and Binaryen renames duplicates when it reads the name section, so check them")
    unnamed = an.unnamed_members() if args.format == "json" else []
    if unnamed:
        warn(f"warning: {len(unnamed)} function(s) in the list have no name in the name section: their \"name\" is "
             f"wasm-function[N], which no list reader matches; \"binaryen_name\" is the name wasm-opt gives them when "
             f"it reads this very binary (emcc never matches it: rebuild with --profiling-funcs)")
    if args.format == "json":
        text = dumps(report.json_report(an, with_stats=True, glue=result.selection.glue))
    else:
        from ..lists import format_names, written_list_notes
        # names only: what made the list is said here, on stderr, since Binaryen reads every line of a
        # list file as a name (a `#` header included)
        unique = list(dict.fromkeys(names))
        text = format_names(unique, args.format, binaryen_version=args.binaryen_version, mangle=args.emscripten_mangle)
        for note in written_list_notes(unique, args.format, binaryen_version=args.binaryen_version,
                                       mangle=args.emscripten_mangle,
                                       source=args.output if args.output not in (None, "-") else "the list",
                                       every_name={f.name for f in result.module.functions} if args.format == "emscripten" else set()):
            warn(note)
        if args.format == "binaryen":   # stderr: a list file has no comment syntax (wasm-opt reads every line as a name)
            from ..decode.features import wasm_opt_needs
            from ..lists.binaryen_names import LATEST
            warn(str(wasm_opt_needs(result.module, args.binaryen_version or LATEST)["note"]))
    output(text, args.output)
    if args.stats:
        print(report.stats_text(report.stats(an)), file=sys.stderr)
    else:
        where = f"wrote them to {args.output} ({args.format} format)" if args.output not in (None, "-") else ""
        warn(f"{len(an.listed)} functions can be on the stack at an async import of "
             f"{Path(result.module.path).name} (--indirect {an.mode}){'; ' + where if where else ''}")
    return 0


def _current(args: argparse.Namespace, an: Analysis) -> int:
    """`--list LIST`: what to add and what can go; with `--update`, LIST rewritten in its own layout."""
    from ..analysis.current import diff_current, updated_text
    from ..lists import list_warnings, read_list
    from ..render.current import diff_json, diff_text
    from ..system.outputs import write_atomic
    lf = read_list(args.list)
    if lf.via:
        warn(f"note: {lf.via} takes its list from {lf.source} ({lf.embedded.setting if lf.embedded else 'ASYNCIFY_ONLY'}"
             "=@…): reading that file")
    for warning in list_warnings(lf):
        warn(f"warning: {warning}")
    diff = diff_current(an, lf)
    output(dumps(diff_json(diff, an, lf.source)) if args.format == "json" else diff_text(diff, an, lf.source), args.output,
           report=args.format != "json")
    if args.update and not diff.in_sync and not diff.add and diff.kept == 0 and not diff.unmatched:
        warn(f"not updating {lf.source}: every entry can go, and the list would be empty: " + EMPTY_LIST_TRAP)
        return 1
    if args.update and not diff.in_sync:
        text = updated_text(lf, diff)   # refused (exit 2, nothing written) where an edit cannot be made exactly
        write_atomic(lf.source, text, backup=True, expect=lf.text.encode("utf-8"))
        warn(f"updated {lf.source}: added {len(diff.add)}, removed {len(diff.can_go)} (the old list is in "
             f"{lf.source}.bak)")
        return 0
    return 1 if diff.add else 0


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("analyze", formatter_class=fmt, help=summary,
                       description="Print the functions that can be on the stack when an async import is called:\n"
                                   "what ASYNCIFY_ONLY / asyncify-onlylist must hold. With --list, compare the list\n"
                                   "in use: what to add (exit status 1) and what can go.")
    add_analysis_args(p)
    add_format_arg(p, FORMATS, "list")
    p.add_argument("--binaryen-version", type=number(int, "a Binaryen release, e.g. 117"), default=None, metavar="N",
                   help="with --format binaryen: the wasm-opt version that will read the file; old versions "
                        "split list files on commas only (default: current Binaryen)")
    p.add_argument("--emscripten-mangle", action="store_true",
                   help="with --format emscripten: write the legacy mangled form (space → ., & → #, , → ?)")
    add_output_arg(p)
    add_list_arg(p, "the list in use (any layout; --current is its older name): print what to add, with a\n"
                    "chain each, and what can go, with the bytes it costs, instead of the list;\n"
                    "exit status 1 when something must be added")
    p.add_argument("--update", action="store_true", help="with --list: rewrite LIST in its own layout (comments and\n"
                   "order kept, atomically, the old one kept as LIST.bak)")
    p.add_argument("--stats", action="store_true", help="print counts to stderr: the list's size under each --indirect mode, and per\n"
                   "async import the list's size if it alone were async (the list still goes to -o/stdout)")
    p.set_defaults(run=run)
