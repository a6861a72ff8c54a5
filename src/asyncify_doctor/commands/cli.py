"""The `asyncify-doctor` program: its parser, its error handling and its exit. Each command is a module of
this package (`add_parser`, `run`); a command line imports only the command it names.

Every error a user can cause prints one line and exits 2; no tracebacks, no half-written files.
Exit statuses (docs/safety.md): 0 done; 1 a finding (something to add, missing, no trace...); 2 an
error of input, usage or output (one line); 3 a bug of ours; 124 `trace --timeout`; 130 Ctrl-C;
141 stdout's reader left (EPIPE, silent); 143 SIGTERM, 129 SIGHUP (the user's commands killed).
"""
from __future__ import annotations

import argparse
import errno
import gc
import os
import sys
from importlib import import_module
from types import ModuleType
from typing import Callable, NoReturn

from ..version import __version__
from ..errors import DoctorError, OutputError, Terminated, printable
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


class Parser(argparse.ArgumentParser):
    """A command line the program cannot take is one line too (the usage is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message)} (--help for usage)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The program's parser; given a command line, only the command it names is built whole (its module
    imported), the others listed by name and help line, which is all the program's `--help` shows of
    them; without one (`argv` None), every command whole."""
    parser = Parser(
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
            common.add_verbosity_args(sub.choices[name])
        else:
            sub.add_parser(name, help=line)
    return parser


def main(argv: list[str] | None = None) -> int:
    """One command line: its exit status, every error one line on stderr (see EXIT_STATUS)."""
    from ..system import inputs
    argv = sys.argv[1:] if argv is None else argv
    inputs.reset()
    common.reset_messages()
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    inputs.set_limit(getattr(args, "max_size", inputs.DEFAULT_MAX_MB))
    common.set_verbosity(getattr(args, "verbosity", 0))
    try:
        code = run(args)
        common.held_messages()
        return code
    except OutputError as exc:
        if not exc.broken_pipe:
            _say(f"asyncify-doctor: error: {exc}")
        return exc.exit_status
    except DoctorError as exc:
        _say(f"asyncify-doctor: error: {exc}")
        return exc.exit_status
    except KeyboardInterrupt:
        _say("asyncify-doctor: interrupted")
        return 130
    except Terminated as exc:
        _say(f"asyncify-doctor: terminated ({exc})")
        return exc.exit_status
    except OSError as exc:   # stdout or stderr failing outside write_output (print, help)
        if exc.errno == errno.EPIPE:
            return 141
        if exc.errno in (errno.EBADF, errno.ENOSPC, errno.EIO, errno.EDQUOT):
            _say(f"asyncify-doctor: error: cannot write to standard output or error: {exc.strerror or exc}")
            return 2
        return _internal(exc)
    except Exception as exc:  # a bug of ours: still one line, with how to get the details
        return _internal(exc)


def _internal(exc: Exception) -> int:
    if os.environ.get("ASYNCIFY_DOCTOR_DEBUG"):
        raise exc
    _say(f"asyncify-doctor: internal error: {type(exc).__name__}: {exc} "
         "(please report it; set ASYNCIFY_DOCTOR_DEBUG=1 for the traceback)")
    return 3


def _say(line: str) -> None:
    """A line on stderr, escaped; nothing when stderr cannot take it (never on stdout)."""
    if sys.stderr is None:
        return
    try:
        print(printable(line), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def run() -> None:
    """The program (`asyncify-doctor`, `python -m asyncify_doctor`): its standard streams and signals
    guarded (system/guard.py), `main`, then, after a one-shot command, out at once with its output
    flushed, leaving what it built to the OS."""
    from ..system.guard import guard_signals, guard_streams, quiet_stdout
    guard_streams()
    guard_signals()
    argv = sys.argv[1:]
    one_shot = bool(argv) and argv[0] in ONE_SHOT
    if one_shot:
        common.SPARED = []
        gc.disable()   # one analysis, then exit: no cycle outlives it, and collecting costs 20 ms a run
    code = main(argv)
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as exc:   # output still buffered that cannot be written
        if code == 0:
            code = 141 if getattr(exc, "errno", None) == errno.EPIPE else 2
            if code == 2:
                _say(f"asyncify-doctor: error: cannot write to standard output: {getattr(exc, 'strerror', None) or exc}")
        quiet_stdout()
    if not one_shot:
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    run()
