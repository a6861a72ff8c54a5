"""`asyncify-doctor audit`: read an asyncified binary and report what it should have instrumented."""
from __future__ import annotations

import argparse
import json

from ..version import __version__
from ..errors import InputError, UsageError
from ..schemas import dumps
from .common import (add_analysis_args, add_format_arg, add_list_arg, add_output_arg, check_imports, glue_for, load,
                     number, observed, only_with, output, spare, warn, warn_glue, warn_list_files, warn_unmatched)

TOP = 10


def run(args: argparse.Namespace) -> int:
    from ..analysis import audit as auditmod
    from ..render import audit as auditrender
    from ..analysis.binaryen_lists import BinaryenLists
    from ..lists import read_list
    if args.top < 0:
        raise UsageError(f"--top must be 0 (everything) or more, not {args.top}")
    only_with(args.top != TOP, "--top", args.format == "text", "--format text (the other formats hold every finding)")
    only_with(args.propagate_add, "--propagate-add", bool(args.add_list), "--add-list")
    check_imports(args.imports)
    warn_list_files(args.imports)
    files = [read_list(f, kind=kind) if f else None
             for f, kind in ((args.list, "onlylist"), (args.remove_list, "removelist"), (args.add_list, "addlist"))]
    for lf in files:
        from ..lists import list_warnings
        for warning in list_warnings(lf) if lf is not None else []:
            warn(f"warning: {warning}")
    only, remove, add = (lf.entries if lf is not None else None for lf in files)
    lists = BinaryenLists(only, remove, add, propagate_add=args.propagate_add)
    module = load(args.wasm, args.max_size)
    glue = glue_for(args, module, args.wasm)
    rep = spare(auditmod.run_audit(module, args.imports, args.indirect, args.host_table, lists=lists,
                                    observed=observed(args), emscripten=args.emscripten,
                                    trampolines=args.trampolines, ignore_imports=args.ignore_imports, glue=glue,
                                    host_memory=args.host_memory, async_when=args.async_when))
    warn_glue(glue, module, findings=False)   # the report says what the glue and the binary disagree on
    if rep.info.problems:
        raise InputError(args.wasm, None, f"looks asyncified but cannot be audited: {rep.info.problems[0]}")
    if rep.analysis is not None and args.imports:
        from ..analysis.selection import refuse_empty_selection
        if rep.selection is not None:
            refuse_empty_selection(rep.selection, args.imports, args.wasm)
        if rep.selection is not None:
            warn_unmatched(rep.analysis.module, rep.selection)
    if args.format == "json":
        text = dumps(auditrender.report_json(rep))
    elif args.format == "sarif":
        text = json.dumps(auditrender.report_sarif(rep, __version__), indent=1, ensure_ascii=False) + "\n"
    elif args.format == "html":
        from ..render.html import report_html
        text = report_html(rep, __version__)
    else:
        text = auditrender.report_text(rep, args.top)
    output(text, args.output, report=args.format == "text")
    return 1 if rep.missing or rep.unchecked_calls else 0


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("audit", formatter_class=fmt, help=summary,
                       description="Read an already-asyncified binary: recognise which functions Binaryen instrumented,\n"
                                   "recompute which can be on the stack at an async import, and report the\n"
                                   "missing ones (crashes waiting to happen) with a chain each, the unneeded ones\n"
                                   "(size paid for nothing), and, with --list, list entries that match nothing.\n"
                                   "Exit status 1 when anything is missing, so CI can gate a release on it.")
    add_analysis_args(p)
    add_list_arg(p, "the onlylist (ASYNCIFY_ONLY) the binary was built with (any layout):\n"
                    "says which entries had no effect and why")
    p.add_argument("--remove-list", metavar="FILE", help="the removelist (ASYNCIFY_REMOVE) it was built with")
    p.add_argument("--add-list", metavar="FILE", help="the addlist (ASYNCIFY_ADD) it was built with")
    p.add_argument("--propagate-add", action="store_true", help="the build used asyncify-propagate-addlist "
                   "(ASYNCIFY_PROPAGATE_ADD)")
    add_format_arg(p, {"text": "the ranked groups of missing functions, one chain each, and the totals",
                       "json": "a document (schema asyncify-doctor/audit/1): every finding with its chain and group",
                       "sarif": "SARIF 2.1.0 for code scanning: one result per group of missing functions",
                       "html": "one self-contained page (-o FILE)"}, "text")
    p.add_argument("--top", type=number(int, "groups; 0: all", zero=True), default=TOP, metavar="N",
                   help=f"text: show the first N groups (0: all; default {TOP})")
    add_output_arg(p)
    p.set_defaults(run=run)
