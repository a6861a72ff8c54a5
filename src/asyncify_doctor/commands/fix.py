"""`asyncify-doctor fix`: the crash-driven repair loop (runtime/fixloop.py does the work)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from .common import (
    add_async_when_arg,
    add_glue_args,
    add_list_arg,
    add_max_size_arg,
    add_mode_args,
    number,
    add_wasm_arg,
    check_imports,
    glue_for,
    load,
    only_with,
    warn_glue,
)


def run(args: argparse.Namespace) -> int:
    from ..runtime.fixloop import FixConfig, run_fix, undo
    if args.wasm and args.wasm_flag:
        raise UsageError("give the binary once: WASM or --wasm (its older spelling)")
    args.wasm = args.wasm or args.wasm_flag
    check_imports(args.imports)
    for flag, used in (("--imports", bool(args.imports)), ("--async-when", bool(args.async_when)),
                       ("--host-memory module", args.host_memory != "sound"),
                       ("--binaryen-version", args.binaryen_version is not None)):
        only_with(used, flag, bool(args.wasm), "WASM (the binary before asyncify, whose graph they apply to)")
    if args.undo:
        return undo(Path(args.list))
    if not args.build or not args.test:
        raise UsageError("fix needs --build CMD and --test CMD (or --undo)")
    if not Path(args.list).exists():
        raise UsageError(f"{args.list}: no such list file (create an empty one to start from nothing)")
    check_imports(args.imports)
    for flag, value in (("--wasm", args.wasm), ("--built", args.built)):   # the build may create them: see run_fix
        if value and Path(value).exists() and not Path(value).is_file():
            raise UsageError(f"{flag} {value}: not a file")
    imports, emscripten, host_table = args.imports, None, args.host_table or "sound"
    if args.glue and not args.wasm:
        raise UsageError("--glue needs WASM (the binary before asyncify): the glue's async imports are used with its call graph")
    if args.wasm and not args.no_glue and Path(args.wasm).is_file():   # a WASM the build creates: its glue is not read
        from ..emscripten import find_glue
        # emcc writes the glue beside the binary it ships (--built), not beside the one before asyncify
        beside = args.built if args.built and not args.glue and find_glue(args.wasm) is None else args.wasm
        if args.glue or find_glue(beside):
            from ..analysis.pipeline import glue_fix_inputs
            module = load(args.wasm)
            use = glue_for(args, module, beside)
            if use is not None:
                imports, emscripten, host_table = glue_fix_inputs(use, module, args.imports, args.host_table)
                warn_glue(use, module)
    cfg = FixConfig(Path(args.list), args.build, args.test, wasm=Path(args.wasm) if args.wasm else None,
                    imports=imports, indirect=args.indirect, max_rounds=args.max_rounds, timeout=args.timeout,
                    dry_run=args.dry_run, built=Path(args.built) if args.built else None, host_table=host_table,
                    emscripten=emscripten, host_memory=args.host_memory, async_when=args.async_when,
                    binaryen_version=args.binaryen_version)
    return run_fix(cfg)


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("fix", formatter_class=fmt, help=summary,
                       description="Run the tests; take every wasm stack in their output (any runtime, any message);\n"
                                   "add the functions they implicate to the list (its own layout, names only, a .bak\n"
                                   "of the original); rebuild; repeat until the tests pass or a round adds nothing.\n"
                                   "With WASM (the binary before asyncify), each crash adds every function below the\n"
                                   "crashed frames that can reach an async import: the frame that traps is usually\n"
                                   "the caller of the missing function, which a trace alone cannot name.")
    add_wasm_arg(p, "the binary before asyncify (the one Binaryen reads the list for): its call graph\n"
                    "enables whole-path repairs, and its names are what the list gets.\n"
                    "WASM and --built may be files the build creates: when one is missing, fix builds\n"
                    "first; each is checked again after every build", optional=True)
    add_list_arg(p, "the list file to repair (plain, JSON, Binaryen, or inside a Makefile/Dockerfile)", required=True)
    p.add_argument("--build", metavar="CMD", help="shell command that rebuilds the binary from the list")
    p.add_argument("--test", metavar="CMD", help="shell command that runs the tests (non-zero exit on failure)")
    p.add_argument("--undo", action="store_true", help="put the list back as it was before fix first changed it (from its .bak)")
    p.add_argument("--wasm", dest="wasm_flag", metavar="PRE.wasm", help="the same as WASM (its older spelling)")
    p.add_argument("--built", metavar="OUT.wasm", help="the binary the tests run (after asyncify, perhaps optimised or\n"
                   "without names): frames without names are read in it, and mapped into WASM only\n"
                   "where the two are shown to number their functions alike")
    p.add_argument("--binaryen-version", type=int, default=None, metavar="N",
                   help="the wasm-opt release that reads the list: functions WASM does not name are written as\n"
                        "it names them (default: current Binaryen)")
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN", help="async imports, as for analyze (with WASM)")
    add_mode_args(p)
    add_glue_args(p, "with WASM (the glue beside WASM, else beside --built)")
    add_async_when_arg(p)
    p.add_argument("--max-rounds", type=number(int, "rounds"), default=20, metavar="N",
                   help="stop after N rounds of test, add, rebuild (default 20)")
    p.add_argument("--timeout", type=number(float, "seconds"), default=600.0, help="seconds per test or build run before it is killed (default 600)")
    add_max_size_arg(p)
    p.add_argument("--dry-run", action="store_true", help="show what the first round would add; change nothing")
    p.set_defaults(run=run)
