"""`asyncify-doctor analyze`: the minimal onlylist, in the format the build reads; with `--current`, what
the list in use lacks and what it can lose."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..render import report
from .common import add_analysis_args, add_output_arg, analyze_from, output, warn

if TYPE_CHECKING:
    from ..analysis.closure import Analysis

LIST_FORMATS = ("list", "emscripten", "binaryen", "json")


def run(args: argparse.Namespace) -> int:
    if args.update and not args.current:
        raise UsageError("--update needs --current LIST: the list file to rewrite")
    result = analyze_from(args)
    an = result.analysis
    if args.current:
        return _current(args, an)
    names = an.names()
    dupes = len(names) - len(set(names))
    if dupes:
        warn(f"warning: {dupes} listed function(s) share their name with another function; the list names "
              "each once, and Binaryen renames duplicates when it reads the name section, so check them")
    unnamed = an.unnamed_members()
    if unnamed:
        warn(f"warning: {len(unnamed)} function(s) in the list have no name in the name section and are "
              f"written as wasm-function[N], which Binaryen cannot match; rebuild with names "
              f"(emcc -g2 or --profiling-funcs; wasm-ld without --strip-all)")
    if args.format == "json":
        data = report.json_report(an, with_stats=True)
        if result.selection.glue is not None:
            from ..render.glue import glue_json
            data["glue"] = glue_json(result.selection.glue, result.module)
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    else:
        from ..lists import BINARYEN, EMCC, format_names, list_warnings, parse_list, warning_sample
        # names only: what made the list is said here, on stderr, since Binaryen reads every line of a
        # list file as a name (a `#` header included)
        unique = list(dict.fromkeys(names))
        text = format_names(unique, args.format, binaryen_version=args.binaryen_version,
                            mangle=args.emscripten_mangle)
        if args.format == "emscripten":
            from ..lists import emcc_entry
            patterned = [n for n in unique if emcc_entry(n) != n]
            if patterned:
                warn(f"note: {len(patterned)} name(s) are written as `*` patterns that select them, since emcc "
                      "turns `.`, `#`, `?` into other characters and splits entries on commas: e.g. "
                      f"{patterned[0]} → {emcc_entry(patterned[0])}")
                everyone = {f.name for f in result.module.functions}
                risky = [emcc_entry(n) for n in patterned if "*" in emcc_entry(n).strip("*")
                         and emcc_entry(n).split("*")[0] in everyone]
                if risky:
                    warn(f"warning: Binaryen 124 and older abort on a pattern with an inner `*` when a function is "
                          f"named exactly its part before the `*` (String::wildcardMatch): {', '.join(risky[:3])}; "
                          "use Binaryen 125+ or pass the list with --pass-arg")
        consumer = {"binaryen": BINARYEN, "emscripten": EMCC}.get(args.format)
        sample = warning_sample(unique)   # the names a consumer could misread
        written = parse_list(format_names(sample, args.format, binaryen_version=args.binaryen_version,
                                          mangle=args.emscripten_mangle),
                             source=args.output if args.output not in (None, "-") else "the list")
        for warning in list_warnings(written, consumer, binaryen_version=args.binaryen_version):
            warn(f"warning: {warning}")
    output(text, args.output)
    if args.stats:
        print(report.stats_text(report.stats(an)), file=sys.stderr)
    else:
        where = f"wrote them to {args.output} ({args.format} format)" if args.output not in (None, "-") else ""
        warn(f"{len(an.listed)} functions can be on the stack at an async import of "
              f"{Path(result.module.path).name} (--indirect {an.mode}){'; ' + where if where else ''}")
    return 0


def _current(args: argparse.Namespace, an: "Analysis") -> int:
    """`--current LIST`: what to add and what can go; with `--update`, LIST rewritten in its own layout."""
    from ..analysis.current import diff_current, updated_text
    from ..render.current import diff_text
    from ..lists import read_list
    from ..system.outputs import write_atomic
    lf = read_list(args.current)
    diff = diff_current(an, lf)
    output(diff_text(diff, an, args.current), args.output)
    if args.update and not diff.in_sync:
        write_atomic(args.current, updated_text(lf, diff), backup=True)
        warn(f"updated {args.current}: added {len(diff.add)}, removed {len(diff.can_go)} (the old list is in "
              f"{args.current}.bak)")
        return 0
    return 1 if diff.add else 0


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("analyze", formatter_class=fmt, help=summary,
                       description="Print the functions that can be on the stack when an async import is called.")
    add_analysis_args(p)
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
    add_output_arg(p)
    p.add_argument("--current", metavar="LIST", help="the list in use (any layout): print what to add, with a chain\n"
                   "each, and what can go, with the bytes it costs, instead of the list;\n"
                   "exit status 1 when something must be added")
    p.add_argument("--update", action="store_true", help="with --current: rewrite LIST in its own layout (comments and\n"
                   "order kept, atomically, the old one kept as LIST.bak)")
    p.add_argument("--stats", action="store_true", help="print counts to stderr: the list's size under each --indirect mode, and per\n"
                        "async import the list's size if it alone were async (the list still goes to -o/stdout)")
    p.set_defaults(run=run)
