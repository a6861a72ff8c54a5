"""`asyncify-doctor trace`: record every real stack at an async import from one run of the user's
command (node, through a preload), or of a binary's exports on wasmtime (through a shadow stack)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..schemas import dumps
from ..traces.stacks import stacks_document
from .common import OUTPUT_HELP, check_imports, number, output, warn


def run(args: argparse.Namespace) -> int:
    from ..analysis.selection import expand_args
    from ..runtime.recorder import run_trace
    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if args.wasmtime:
        return _trace_wasmtime(args)
    if not command:
        raise UsageError("trace needs the command to run after --, e.g. trace --imports env.sleep_ms -o s.json -- npm test")
    check_imports(args.imports)
    patterns = expand_args(args.imports)
    if not patterns:
        raise UsageError("trace needs --imports: the imports at which to record stacks")
    run = run_trace(command, patterns, args.timeout)
    doc = stacks_document({"command": command, "imports": patterns, "exit_status": run.returncode,
                           "processes": run.files}, run.stacks)
    output(dumps(doc), args.output)
    frames = {f["name"] or f"wasm-function[{f['index']}]" for st in run.stacks for f in st["frames"]}
    status = _exit_status(run.returncode)
    if run.returncode is None:
        ended = f"was killed after --timeout {args.timeout:g} s (exit status 124)"
    else:
        ended = f"exited with {status}" + {127: " (command not found)", 126: " (not executable)"}.get(status, "")
    warn(f"recorded {len(run.stacks)} distinct stacks ({sum(st['count'] for st in run.stacks)} calls) with "
          f"{len(frames)} distinct functions, from {run.files} process(es); the command {ended}")
    if status == 0 and not run.stacks:
        warn("nothing was recorded: the preload only sees node processes (is the command a node program?), "
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
    from ..runtime.host.common import STANDARD_ASYNC, TRAP, AsyncifyRunError
    from ..runtime.host.wasmtime_trace import WasmtimeTracer
    from ..analysis.selection import expand_args
    check_imports(args.imports)
    asyncs = tuple(expand_args(args.imports)) or STANDARD_ASYNC
    tracer = WasmtimeTracer(Path(args.wasmtime), async_imports=asyncs)
    if tracer.unmatched and args.imports:
        warn(f"--imports patterns matching no import of {args.wasmtime}: {', '.join(tracer.unmatched)}")
    exports, failures = args.export or ["run"], {}
    for export in exports:
        try:
            tracer.run(export)
        except AsyncifyRunError as exc:
            if exc.kind != TRAP:
                raise
            failures[export] = exc.message
            warn(str(exc))
    stacks = tracer.stacks
    doc = stacks_document({"wasmtime": args.wasmtime, "exports": exports, "imports": list(asyncs),
                           "exit_status": 1 if failures else 0, "failures": failures, "processes": 1}, stacks)
    output(dumps(doc), args.output)
    frames = {f["index"] for st in stacks for f in st["frames"]}
    warn(f"recorded {len(stacks)} distinct stacks ({sum(st['count'] for st in stacks)} calls) with {len(frames)} "
          f"distinct functions under wasmtime, the deepest {max((len(st['frames']) for st in stacks), default=0)} frames")
    return 0 if stacks and not failures else 1


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("trace", formatter_class=fmt, help=summary,
                       description="Run COMMAND (node programs: plain or JSPI builds, before asyncify) with a preload that\n"
                                   "records the whole wasm stack at every call of the matching imports, across child\n"
                                   "processes and worker threads. Feed the result to analyze/why with --observed.")
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN", help="imports to watch (module.name, *, @file)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the stacks (a document, schema asyncify-doctor/stacks/1;\n"
                   "default stdout). " + OUTPUT_HELP)
    p.add_argument("--timeout", type=number(float, "seconds"), default=None, help="kill the command (and its children) after this many seconds")
    p.add_argument("--wasmtime", metavar="WASM", help="instead of a command: run WASM's exports on wasmtime with the\n"
                   "standard fixture imports, its stack recorded by a shadow stack written into\n"
                   "a copy of the binary (Python API: host.wasmtime_trace.WasmtimeTracer for your own imports)")
    p.add_argument("--export", action="append", default=[], help="with --wasmtime: exports to run (default: run)")
    p.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the command to run, after --; trace exits with its exit status (124 after --timeout)")
    p.set_defaults(run=run)
