"""`asyncify-doctor graph`: the call graph as JSON or graphviz dot, written as it is made."""
from __future__ import annotations

import argparse

from ..render import report
from .common import WASM_HELP, add_format_arg, add_max_size_arg, add_mode_args, add_output_arg, add_wasm_arg, output, spare


def run(args: argparse.Namespace) -> int:
    from .common import load
    from ..graph.callgraph import CallGraph
    g = spare(CallGraph(load(args.wasm, args.max_size), args.host_table or "sound", host_memory=args.host_memory))
    parts = report.graph_json_parts(g, args.indirect) if args.format == "json" else report.graph_dot_parts(g, args.indirect)
    output(parts, args.output)   # written as it is made: a big graph is never held whole
    return 0


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("graph", formatter_class=fmt, help=summary,
                       description="Every function in index order with its callees under the --indirect mode.\n"
                                   "In `all` mode an indirect call may reach every function in any table.")
    add_wasm_arg(p, WASM_HELP + " (names come from its name section)")
    add_format_arg(p, {"json": "a document (schema asyncify-doctor/graph/1): functions with their callees and\n"
                               "indirect-call sites, the sites with their targets, the entry points",
                       "dot": "graphviz; indirect edges dotted, imports dashed"}, "json")
    add_max_size_arg(p)
    add_mode_args(p)
    add_output_arg(p)
    p.set_defaults(run=run)
