"""`asyncify-doctor jspi`: what a JSPI build must wrap, and its JS-frame hazards."""
from __future__ import annotations

import argparse

from ..errors import UsageError
from .common import load
from ..schemas import dumps
from .common import add_analysis_args, add_format_arg, add_list_arg, add_output_arg, analyze_from, output, warn


# js-promise-integration document/js-api/index.bs@5b247b10, "create a suspending function": the JS
# result goes through PromiseResolve and is awaited whatever it is, and a call outside a promising
# export throws SuspendError before the JS runs (node 24.9 does both: tests/test_jspi.py)
NO_ASYNC_WHEN = ("--async-when does not apply to JSPI: every call of a WebAssembly.Suspending import suspends, "
                 "even when its JS returns a plain value, and any call outside WebAssembly.promising throws "
                 "SuspendError; it is for Asyncify builds, whose imports choose per call whether to unwind")


def run(args: argparse.Namespace) -> int:
    from ..analysis import jspi
    from ..render import jspi as jspirender
    from ..lists import format_names, read_list
    if args.async_when:
        raise UsageError(NO_ASYNC_WHEN)
    # jspi finds its own hazards through trampolines; the report says what the glue says
    result = analyze_from(args, trampolines="async", glue_findings=False)
    current = read_list(args.list, kind="jspi_exports").entries if args.list else None
    reenters = tuple(args.reenters) or jspi.DEFAULT_REENTERS
    rep = jspi.jspi_report(result.graph, result.selection.functions, args.indirect, reenters, current)
    if result.selection.glue is not None:
        jspi.with_glue(rep, result.selection.glue)
    if args.asyncify_build:
        rep.migration = jspi.migration(load(args.asyncify_build), result.module)
    if args.format == "json":
        text = dumps(jspirender.report_json(rep))
    elif args.format in ("list", "emscripten"):
        text = format_names(rep.suspending_exports, args.format)
        if rep.hazards:
            warn(f"warning: {len(rep.hazards)} JS-frame hazard(s): run with --format text to see them")
        if rep.glue_wraps is not None and (rep.glue_wraps.missing or rep.glue_wraps.needless):
            warn(f"warning: the JS glue leaves {len(rep.glue_wraps.missing)} export(s) that can suspend unwrapped and "
                 f"wraps {len(rep.glue_wraps.needless)} that never do: run with --format text to see them")
    else:
        text = jspirender.report_text(rep)
    output(text, args.output, report=args.format == "text")
    return 1 if rep.failing else 0


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("jspi", formatter_class=fmt, help=summary,
                       description="For a JSPI build: the exports to wrap with WebAssembly.promising (JSPI_EXPORTS), the\n"
                                   "imports that may suspend, and paths on which a suspension would cross a JS frame\n"
                                   "(an import that calls back into wasm, like Emscripten's invoke_* trampolines):\n"
                                   "those work under Asyncify and trap under JSPI. Exit status 1 when there are\n"
                                   "hazards, or exports missing from the list in use (--list) or from the JS\n"
                                   "glue's wraps.")
    add_analysis_args(p, trampolines=False, observed=False)
    p.add_argument("--reenters", action="append", default=[], metavar="PATTERN",
                   help="imports that call back into wasm (default: env.invoke_*). invoke_X re-enters table\n"
                        "functions of X's signature; others any function in a host-visible table or export")
    add_list_arg(p, "the JSPI_EXPORTS list in use (--current is its older name): report missing and needless wraps")
    p.add_argument("--asyncify-build", metavar="WASM", help="the Asyncify build of the same program (WASM is then the\n"
                   "JSPI build): adds a migration summary — what Asyncify instruments and what it costs")
    add_format_arg(p, {"text": "the report", "list": "the exports to wrap, one per line",
                       "emscripten": "the exports to wrap as a JSON array for -sJSPI_EXPORTS=@file",
                       "json": "a document (schema asyncify-doctor/jspi/1): everything"}, "text")
    add_output_arg(p)
    p.set_defaults(run=run)
