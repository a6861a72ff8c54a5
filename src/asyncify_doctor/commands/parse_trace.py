"""`asyncify-doctor parse-trace`: the wasm crash frames in a log, named as Binaryen matches them."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError
from .common import warn


def run(args: argparse.Namespace) -> int:
    from ..traces import FrameMapper, parse_log
    source = args.log if args.log and args.log != "-" else "standard input"
    if source == "standard input":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.log).read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise InputError(args.log, None, f"cannot read: {exc.strerror or exc}") from None
    crashes = parse_log(text)
    from .common import load
    mapper = FrameMapper(load(args.wasm) if args.wasm else None, load(args.built) if args.built else None)
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
        warn(f"no wasm crash trace in {source} ({len(text.splitlines())} lines): no frames from node/V8, a browser, "
              "vitest/jest, wasmtime, Emscripten's Aborted(...) or any other runtime that names wasm frames")
    named_all = not (args.wasm or args.built) or not any(c["unresolved"] for c in out)
    return 0 if crashes and named_all else 1


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("parse-trace", formatter_class=fmt,
                       help=summary,
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
    p.set_defaults(run=run)
