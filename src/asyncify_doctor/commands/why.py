"""`asyncify-doctor why`: a shortest chain that forces a function into the list, or why it is not."""
from __future__ import annotations

import argparse

from ..errors import UsageError
from ..render import report
from ..schemas import dumps
from .common import add_analysis_args, add_format_arg, add_output_arg, analyze_from, output


def run(args: argparse.Namespace) -> int:
    result = analyze_from(args)
    f = report.find_function(result.module, args.function)
    if f is None:
        close = report.suggest(result.module, args.function)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"no function named {args.function!r} in {result.module.path}{hint}")
    if args.format == "json":
        doc = report.why_json(result.analysis, f)
        output(dumps(doc), args.output)
        return 0 if doc["member"] else 1
    text, member = report.why_text(result.analysis, f)
    if result.selection.glue is not None and result.module.functions[f].imported:
        from ..render.glue import why_line
        text += "\n" + why_line(result.selection.glue, result.module, f)
    output(text + "\n", args.output, report=True)
    return 0 if member else 1


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("why", formatter_class=fmt, help=summary,
                       description="Explain why FUNCTION must be instrumented (a shortest chain to an async import),\n"
                                   "or why it need not be. Exit status 0 if it is in the list, 1 if not.")
    add_analysis_args(p)
    p.add_argument("function", help="function name, module.name of an import, export name, index or wasm-function[N]")
    add_format_arg(p, {"text": "the chain and the explanation", "json": "a document (schema asyncify-doctor/why/1)"}, "text")
    add_output_arg(p)
    p.set_defaults(run=run)
