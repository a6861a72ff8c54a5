"""`asyncify-doctor demo`: the whole story on a program shipped in the package (examples/demo.c).

1. the call graph and the minimal list, with why each function is in it;
2. Binaryen's real asyncify pass with that list, and a real run on wasmtime;
3. one needed function dropped from the list: the crash, and how `why` explains it.
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from ..analysis.closure import analyze
from ..analysis.pipeline import run_analysis
from ..analysis.recognize import recognize
from ..decode import decode
from ..errors import DoctorError
from ..graph.callgraph import CallGraph
from ..render.report import format_chain, why_text
from ..runtime.binaryen import AsyncifyOptions, BinaryenUnavailable, asyncify, backends
from ..runtime.host import AsyncifyRunError
from ..runtime.host.wasmtime_host import run


ASYNC = ["env.sleep_ms", "env.fetch_value"]
DROP = "dispatch"


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def head(self, text: str) -> str:
        return self._c("1;36", f"\n== {text}")

    def ok(self, text: str) -> str:
        return self._c("32", text)

    def bad(self, text: str) -> str:
        return self._c("31", text)

    def dim(self, text: str) -> str:
        return self._c("2", text)


def demo_wasm() -> Path:
    return Path(str(resources.files("asyncify_doctor") / "examples" / "demo.wasm"))


def run_demo(color: str = "auto", out=None) -> int:  # noqa: ANN001 - a text stream
    out = out or sys.stdout
    use_color = color == "always" or (color == "auto" and out.isatty() and not os.environ.get("NO_COLOR"))
    s = Style(use_color)
    say = lambda *a: print(*a, file=out)  # noqa: E731
    wasm = demo_wasm()
    res = run_analysis(wasm, ASYNC)
    m, g, an = res.module, res.graph, res.analysis
    say(s.head("The program"))
    say(f"{wasm.name}: a tiny HTTP-ish client (source: examples/demo.c). {len(m.functions)} functions, "
        f"{m.num_imported_functions} imported; async imports: {', '.join(ASYNC)}.")
    say(f"{len(g.indirect_sites)} function(s) call through the table; the table holds "
        f"{len(g.table_contents[0]) if g.table_contents else 0} function(s).")
    say(s.head("The list: functions that can be on the stack at an async import"))
    for f in an.members:
        say(f"  {m.functions[f].name:16s} {s.dim(format_chain(an, an.chain(f)))}")
    counts = {mode: len(analyze(g, an.async_imports, mode).members) for mode in ("typed", "all", "ignore")}
    say(f"{counts['typed']} of {len(m.functions) - m.num_imported_functions} defined functions. "
        f"Binaryen's own assumption (any indirect call may unwind, --indirect all) gives {counts['all']}; "
        f"ignoring indirect calls (ASYNCIFY_IGNORE_INDIRECT) gives {counts['ignore']} and misses {DROP}.")
    say(s.dim(f"  $ asyncify-doctor analyze {wasm.name} --imports {','.join(ASYNC)} -o asyncify-only.list"))
    try:
        available = backends()
        if not available:
            raise BinaryenUnavailable()
        return _run_part(s, say, wasm, an.names(), available)
    except BinaryenUnavailable as exc:
        say(s.head("Running it"))
        say(s.bad(str(exc)))
        say("The analysis above needs no Binaryen; install one to see the asyncified program run.")
        return 0


def _run_part(s: Style, say, wasm: Path, names: list[str], available: dict[str, str]) -> int:  # noqa: ANN001
    data = wasm.read_bytes()
    backend = "libbinaryen" if "libbinaryen" in available else "wasm-opt"
    say(s.head(f"Asyncify with that list (Binaryen {available[backend]}, {backend}) and run it on wasmtime"))
    good = asyncify(data, AsyncifyOptions(onlylist=tuple(names), imports=tuple(ASYNC)), backend)
    result = run(good, "main_loop")
    say(s.ok(f"  main_loop() = {result.value} after {result.suspensions} suspensions; printed {result.prints}"))
    say(s.head(f"Now drop one needed function, {DROP}, from the list"))
    broken = asyncify(data, AsyncifyOptions(onlylist=tuple(n for n in names if n != DROP), imports=tuple(ASYNC)), backend)
    try:
        bad = run(broken, "main_loop")
        say(s.bad(f"  main_loop() = {bad.value} after {bad.suspensions} suspensions; printed {bad.prints}"
                  f" (expected {result.value})"))
    except AsyncifyRunError as err:
        say(s.bad(f"  crash: {err}"))
    say(s.head(f"asyncify-doctor why {wasm.name} {DROP}"))
    res = run_analysis(wasm, ASYNC)
    text, _ = why_text(res.analysis, res.module.function_named(DROP).index)  # type: ignore[union-attr]
    say("  " + text.replace("\n", "\n  "))
    say(s.head("audit of the broken binary: instrumented vs needed"))
    g = CallGraph(decode(broken, "demo.asyncified.wasm"))
    info = recognize(g)
    needed = set(analyze(g, [f.index for f in g.module.functions if f.import_key in ASYNC], "typed").members)
    missing = sorted(needed - info.instrumented)
    say(f"  instrumented: {len(info.instrumented)}, needed: {len(needed)}, missing: "
        + (s.bad(", ".join(g.module.functions[f].name for f in missing)) if missing else s.ok("none")))
    say(s.dim("\nThe same proof runs for every fixture in the test suite, on wasmtime and on node."))
    return 0


def main() -> int:
    try:
        return run_demo()
    except DoctorError as exc:
        print(f"asyncify-doctor: error: {exc}", file=sys.stderr)
        return 2


def command(args: argparse.Namespace) -> int:
    return run_demo(color=args.color)


def add_parser(sub: argparse._SubParsersAction, fmt: type[argparse.HelpFormatter], summary: str) -> None:
    p = sub.add_parser("demo", help=summary,
                       description="Analyze a shipped example, asyncify it with Binaryen using our list, run it, then "
                                   "drop one needed function and show the crash and how `why` explains it.")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the output: auto (default) when stdout is a terminal and NO_COLOR is unset")
    p.set_defaults(run=command)
