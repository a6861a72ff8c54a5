"""The `asyncify-doctor` program: its parser, its error handling and its exit. Each command is a module of
this package (`add_parser`, `run`); a command line imports only the command it names.

Every error a user can cause prints one line and exits 2; no tracebacks, no half-written files.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from importlib import import_module
from types import ModuleType
from typing import Callable

from ..version import __version__
from ..errors import DoctorError
from . import common


def _command(name: str) -> ModuleType:
    """The module of one command, imported when that command is named (the others cost start-up)."""
    return import_module(f"{__package__}.{name.replace('-', '_') if name in COMMANDS else 'demo'}")


# every command, with its line in the program's help
COMMANDS = {
    "analyze": "print the minimal onlylist for the given async imports",
    "why": "show the chain that forces a function into the list",
    "graph": "print the call graph as JSON or graphviz dot",
    "audit": "find functions an asyncified binary should have instrumented",
    "jspi": "what a JSPI build must mark, and its JS-frame hazards",
    "fix": "the crash-driven repair loop: test, add crashed functions, rebuild",
    "parse-trace": "extract wasm crash frames from a log (node, browsers, wasmtime, Emscripten, any runtime)",
    "trace": "record every real stack at an async import from one run of your tests",
    "demo": "the whole story on a small program shipped in the package",
}
ONE_SHOT = {"analyze", "why", "graph", "audit", "jspi", "parse-trace"}

EPILOG = """examples:
  asyncify-doctor analyze php.wasm --imports 'env.js_*' --imports @asyncify-imports.list -o asyncify-only.list
  asyncify-doctor analyze app.wasm --imports env.sleep_ms --format emscripten -o only.json   # -sASYNCIFY_ONLY=@only.json
  asyncify-doctor why php.wasm zend_call_function --imports @asyncify-imports.list
  asyncify-doctor graph app.wasm --format dot | dot -Tsvg > graph.svg
  asyncify-doctor demo            # the whole story on a program shipped in the package"""


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The program's parser; given a command line, only the command it names is built whole (its module
    imported), the others listed by name and help line, which is all the program's `--help` shows of
    them; without one (`argv` None), every command whole."""
    parser = argparse.ArgumentParser(
        prog="asyncify-doctor", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Minimal, provably safe Asyncify lists for WebAssembly. Reads a .wasm, builds its call "
                    "graph and tells which functions can be on the stack when an async import is called: "
                    "exactly what ASYNCIFY_ONLY / asyncify-onlylist must contain.")
    parser.add_argument("--version", action="version", version=f"asyncify-doctor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawTextHelpFormatter
    named = argv[0] if argv else None
    for name, line in COMMANDS.items():
        if argv is None or name == named:
            _command(name).add_parser(sub, fmt, line)
        else:
            sub.add_parser(name, help=line)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args)
    except DoctorError as exc:
        print(f"asyncify-doctor: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("asyncify-doctor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: still one line, with how to get the details
        if os.environ.get("ASYNCIFY_DOCTOR_DEBUG"):
            raise
        print(f"asyncify-doctor: internal error: {type(exc).__name__}: {exc} "
              "(please report it; set ASYNCIFY_DOCTOR_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


def run() -> None:
    """The program (`asyncify-doctor`, `python -m asyncify_doctor`): `main`, then, after a one-shot
    command, out at once with its output flushed, leaving what it built to the OS."""
    argv = sys.argv[1:]
    one_shot = bool(argv) and argv[0] in ONE_SHOT
    if one_shot:
        common.SPARED = []
        gc.disable()   # one analysis, then exit: no cycle outlives it, and collecting costs 20 ms a run
    code = main(argv)
    if not one_shot:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
