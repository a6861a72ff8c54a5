"""`asyncify-doctor parse-trace`: the wasm crash frames in a log, named as Binaryen matches them."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError, UsageError
from ..schemas import dumps
from .common import WASM_HELP, add_format_arg, add_max_size_arg, add_output_arg, add_wasm_arg, load, only_with, output, warn


def _read_log(path: str | None) -> tuple[str, str]:
    """The log's text and how to name it: a file, or standard input (no --log, or `-`)."""
    from ..system.inputs import log_head, read_input
    if not path or path == "-":
        return read_input("-", _stdin_error, head=log_head).decode("utf-8", errors="replace"), "standard input"
    return read_input(path, head=log_head).decode("utf-8", errors="replace"), path


def _stdin_error(path: str, why: str) -> InputError:
    if "standard input is closed" in why:
        why = "standard input is closed: give the log with --log FILE"
    return InputError(path, None, why)


def _check_binary(path: str) -> None:
    """WASM is the binary; a log given in its place (the old `parse-trace LOG`) is said to be one.
    Only a regular file is looked into: a FIFO or device is opened once, by the reader."""
    try:
        if not Path(path).is_file():
            return
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError:
        return   # the reader reports it
    if magic != b"\0asm":
        raise UsageError(f"{path} is not a .wasm binary; give the log with --log {path} (or on standard input)")


def run(args: argparse.Namespace) -> int:
    from ..render.crashes import crash_records, crashes_json, crashes_text
    from ..traces import FrameMapper, parse_log
    if args.wasm and args.wasm_flag:
        raise UsageError("give the binary once: WASM or --wasm (its older spelling)")
    args.wasm = args.wasm or args.wasm_flag
    if "-" in (args.wasm, args.built) and (not args.log or args.log == "-"):
        raise UsageError("standard input can hold the binary or the log, not both: give the log with --log FILE")
    if args.wasm and args.wasm != "-":
        _check_binary(args.wasm)
    text, source = _read_log(args.log)
    crashes = parse_log(text)
    only_with(args.binaryen_version is not None, "--binaryen-version", bool(args.wasm and args.built),
              "WASM and --built (frames mapped by index into a binary without names)")
    mapper = FrameMapper(load(args.wasm) if args.wasm else None, load(args.built) if args.built else None,
                         binaryen_version=args.binaryen_version)
    records = crash_records(crashes, mapper)
    output(dumps(crashes_json(records, source)) if args.format == "json" else crashes_text(records), args.output,
           report=args.format != "json")
    invented = {i["name"]: i["frame"] for c in records for i in c.get("invented", [])}
    if invented:
        name, frame = next(iter(invented.items()))
        warn(f"note: {len(invented)} frame function(s) have no name in either binary; named as wasm-opt "
             f"{mapper.binaryen_version} names them when it reads {Path(args.wasm).name} (e.g. {frame} → {name}: the "
             "index among defined functions): only wasm-opt run on that very binary matches them in a list, emcc "
             "never (it matches link-time names: rebuild with --profiling-funcs)")
    if not crashes:
        warn(f"no wasm crash trace in {source} ({len(text.splitlines())} lines): no frames from node/V8, a browser, "
             "vitest/jest, wasmtime, Emscripten's Aborted(...) or any other runtime that names wasm frames")
    named_all = not (args.wasm or args.built) or not any(c["unresolved"] for c in records)
    return 0 if crashes and named_all else 1


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("parse-trace", formatter_class=fmt, help=summary,
                       description="Print every wasm crash trace in a log with its frames, innermost first, named the\n"
                                   "way Binaryen matches them (through WASM/--built when the runtime printed no names).\n"
                                   "Exit status 1 when the log holds no trace, or frames stay unnamed.")
    add_wasm_arg(p, WASM_HELP.replace("(`-`", "before asyncify: frames are named as its functions; without --built,\n"
                 "unnamed frames are read in it only if their byte offsets show it printed them (`-`"), optional=True)
    p.add_argument("--log", metavar="FILE", help="the log to read (default, or -: standard input)")
    p.add_argument("--wasm", dest="wasm_flag", metavar="PRE.wasm", help="the same as WASM (its older spelling)")
    p.add_argument("--built", metavar="OUT.wasm", help="the binary that printed the trace: unnamed frames are read in it")
    p.add_argument("--binaryen-version", type=int, default=None, metavar="N",
                   help="the wasm-opt release that will read a list of these frames: a frame whose function neither\n"
                        "binary names is given the name it gives it (default: current Binaryen)")
    add_format_arg(p, {"text": "one block per crash", "json": "a document (schema asyncify-doctor/parse-trace/1)"}, "text")
    add_max_size_arg(p)
    add_output_arg(p)
    p.set_defaults(run=run)
