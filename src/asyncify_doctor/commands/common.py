"""What the commands share: their common arguments, the analysis they start from, warnings on stderr,
output through the safe writer, and what a one-shot process leaves to the OS at exit."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from ..analysis.pipeline import AnalysisResult, run_analysis
from ..analysis.selection import refuse_empty_selection
from ..errors import InputError, UsageError, printable
from ..render import report
from ..system.progress import with_progress

if TYPE_CHECKING:
    from ..analysis.glue_imports import GlueUse
    from ..analysis.selection import ImportSelection
    from ..decode import Module

T = TypeVar("T")


INDIRECT_HELP = """how indirect calls (call_indirect, call_ref) count:
  typed  (default) an indirect call may reach any function that may be in that table
         (or, for call_ref, any address-taken function) whose type matches. Sound.
  all    Binaryen's own assumption: any function containing an indirect call may unwind.
  ignore Binaryen's asyncify-ignore-indirect / Emscripten ASYNCIFY_IGNORE_INDIRECT:
         indirect calls never unwind. Smallest, and unsound unless you know it holds."""

HOST_TABLE_HELP = """what an imported or exported table may hold (Emscripten always exports its table):
  sound  (default) the host may put there any exported or address-taken function.
  module only what the module itself puts there, in the slots it puts it (element segments,
         table.set/init/copy); right when JS never writes the table (addFunction, Table.set).
  Default with the JS glue: module when the glue shows it never does, else sound."""

GLUE_HELP = """the build's Emscripten JS glue (the .js/.mjs/.cjs emcc wrote): the imports it takes
as async (ASYNCIFY_IMPORTS as its code matches them, JS functions marked async, emcc's own
entries) are the async imports when --imports is not given; it decides --host-table, gives
minified names back, and what it says against the binary is reported.
Default: STEM.js/.mjs/.cjs beside the .wasm (or one directory up, naming the .wasm)"""

HOST_MEMORY_HELP = """what the host may write in an imported or exported memory:
  sound  (default) anything: loads from it are never taken as known
  module trust it to write only where the module's own code may write too (buffers
         it hands out): loads of data no store can reach are then known. Unsound if
         the host writes the module's static data"""

ASYNC_WHEN_HELP = """the async import suspends only when its argument ARG (from 0) is one of the values,
e.g. env.__syscall_fcntl64:1=14 (F_SETLKW): calls proven to pass other values do
not make their caller async; unknown ones still do (repeatable)"""

OUTPUT_HELP = ("write here instead of stdout (`-` is stdout): a file is replaced atomically, keeping its mode;\n"
               "a symlink's target is replaced and the link kept; a device or FIFO is written, never replaced")


WASM_HELP = "the .wasm binary (`-`: read it from standard input)"
NAMES_HELP = " (keep its name section: emcc -g2 or --profiling-funcs, wasm-opt -g)"


def load(path: str, max_mb: float | None = None) -> "Module":
    """Decode a binary (`-`: standard input), read once and at most `--max-size` MB (`system.inputs`),
    with a progress line on a terminal when it takes a while."""
    from ..analysis.pipeline import load_module
    label = "decoding standard input" if path == "-" else f"decoding {Path(path).name}"
    return with_progress(label, lambda progress: load_module(path, progress=progress, max_mb=max_mb))


def add_wasm_arg(p: argparse.ArgumentParser, help: str = WASM_HELP + NAMES_HELP, optional: bool = False) -> None:  # noqa: A002
    """The binary is the first positional argument of every command that reads one."""
    if optional:
        p.add_argument("wasm", nargs="?", metavar="WASM", help=help)
    else:
        p.add_argument("wasm", metavar="WASM", help=help)


def add_list_arg(p: argparse.ArgumentParser, help: str, required: bool = False) -> None:  # noqa: A002
    """The list in use is `--list` in every command (`--current` is its older name in analyze and jspi)."""
    p.add_argument("--list", "--current", dest="list", metavar="LIST", required=required, help=help)


def add_output_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="FILE", help=OUTPUT_HELP)


def add_format_arg(p: argparse.ArgumentParser, choices: dict[str, str], default: str) -> None:
    """`--format`: the same word means the same thing in every command (`text` for people, `json` a
    versioned document, `list`/`emscripten`/`binaryen` a list for a build tool)."""
    p.add_argument("--format", choices=tuple(choices), default=default,
                   help="\n".join(f"{name}: {what}" + (" (default)" if name == default else "") for name, what in choices.items()))


def only_with(used: bool, flag: str, applies: bool, needs: str) -> None:
    """A flag whose condition does not hold would be ignored: an error instead."""
    if used and not applies:
        raise UsageError(f"{flag} applies only with {needs}")


def check_imports(values: list[str]) -> None:
    """`--imports ''` (or `,`, or an @file listing nothing) names no import: an error, never the silent
    'every import is async' that leaving --imports out means."""
    from ..analysis.selection import expand_args
    for value in values:
        if not expand_args([value]):
            what = "lists no import pattern" if value.startswith("@") else "names no import"
            raise UsageError(f"--imports {value!r} {what}; give module.name patterns (e.g. env.sleep_ms), or leave "
                             "--imports out to treat every import as async (Binaryen's default)")


def add_mode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--indirect", choices=("typed", "all", "ignore"), default="typed", help=INDIRECT_HELP)
    # None: not given (the glue may decide; else sound)
    p.add_argument("--host-table", choices=("sound", "module"), default=None, help=HOST_TABLE_HELP)
    p.add_argument("--host-memory", choices=("sound", "module"), default="sound", help=HOST_MEMORY_HELP)


def add_glue_args(p: argparse.ArgumentParser, where: str = "") -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--glue", metavar="FILE", help=GLUE_HELP + (f";\n{where}" if where else ""))
    g.add_argument("--no-glue", action="store_true", help="do not read the JS glue found beside the .wasm")


def glue_for(args: argparse.Namespace, module: "Module", wasm: str | None = None) -> "GlueUse | None":
    """The JS glue to read with `module`: `--glue FILE`, else the one beside the .wasm. A `--glue` that
    cannot be read or is not this binary's glue is an error (one line, exit 2); a file found beside
    it that is not is said to be ignored, and the analysis goes on without it."""
    from ..analysis.glue_imports import glue_use
    from ..emscripten import GlueError, find_glue, read_glue
    if getattr(args, "no_glue", False):
        return None
    explicit = getattr(args, "glue", None)
    if not explicit and (wasm or module.path) in ("-", "<stdin>"):
        return None   # a binary on standard input has no folder to find its glue in
    path = explicit or find_glue(wasm or module.path)
    if path is None:
        return None
    try:
        glue = read_glue(path)
    except GlueError as e:
        if explicit:
            raise
        warn(f"note: ignored {path}, found beside {Path(wasm or module.path).name}: {e.message}")
        return None
    use = glue_use(glue, module, found=not explicit)
    if use.unusable is not None:
        if explicit:
            raise InputError(str(path), None, f"cannot be read as the JS glue of {Path(module.path).name}: {use.unusable}")
        warn(f"note: ignored {path}, found beside {Path(wasm or module.path).name} (--glue FILE names the glue): "
             f"{use.unusable}")
        return None
    from ..render.glue import reading_line
    warn(reading_line(use, module))
    return spare(use)


def warn_glue(use: "GlueUse | None", module: "Module", findings: bool = True) -> None:
    """How the glue was read and used; with `findings`, also what it says to act on (analyze, why: they
    have no report of their own to say it in)."""
    if use is None:
        return
    from ..render import glue as gluerender
    for line in gluerender.stderr_lines(use, module):
        warn(line)
    if findings:
        for line in gluerender.finding_lines(use, module):
            warn(f"note: the glue: {line}")


def add_analysis_args(p: argparse.ArgumentParser, *, trampolines: bool = True, observed: bool = True) -> None:
    """The binary and what decides which functions can unwind: the async imports, the --indirect and
    --host-table modes, observed stacks, Emscripten's and Binaryen's rules."""
    add_wasm_arg(p)
    p.add_argument("--imports", action="append", default=[], metavar="PATTERN",
                   help="async imports as module.name, `*` wildcards, comma-separated or repeated;\n"
                        "@FILE reads a list file (one per line, JSON array, Binaryen commas, or the\n"
                        "ASYNCIFY_IMPORTS of a Makefile/Dockerfile). A selection matching no import is an error.\n"
                        "Default: every import is async (Binaryen's default; rarely what you want), except on\n"
                        "an Emscripten build (see --emscripten): the imports emcc makes async by itself (printed)")
    add_mode_args(p)
    add_glue_args(p)
    p.add_argument("--ignore-imports", action="store_true",
                   help="no import is async (Binaryen's asyncify-ignore-imports): only code that calls the\n"
                        "asyncify.* imports itself (setjmp/longjmp, fibers, coroutines) unwinds")
    if observed:
        p.add_argument("--observed", action="append", default=[], metavar="STACKS.json",
                       help="stacks recorded by `trace`: observed frames join the list, observed calls become edges")
    p.add_argument("--emscripten", action=argparse.BooleanOptionalAction, default=None,
                   help="apply Emscripten's own import rules: bare names are env.NAME, and the imports emcc\n"
                        "makes async by itself are added (__asyncjs__*, emscripten_sleep, …; printed).\n"
                        "Default: when the binary looks like an Emscripten build")
    if trampolines:
        p.add_argument("--trampolines", choices=("typed", "async"), default="typed",
                       help="Emscripten's invoke_X imports call back into the table:\n"
                            "  typed (default) they can unwind exactly when a table function of signature X can\n"
                            "        (under --indirect all they count as async, like any indirect call)\n"
                            "  async  the old model: async when --imports names them (emcc adds invoke_*\n"
                            "        unless ASYNCIFY_IGNORE_INDIRECT)")
    add_async_when_arg(p)
    add_max_size_arg(p)


MAX_SIZE_HELP = ("refuse inputs larger than this many MB (default 2048): the binary, lists, logs, the glue;\n"
                 "a device or pipe is read at most this far, so a wrong path fails fast")


def add_max_size_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-size", type=number(float, "a size in MB"), default=2048, metavar="MB", help=MAX_SIZE_HELP)


def number(kind: type[int] | type[float], what: str, zero: bool = False) -> Callable[[str], float]:
    """An argparse type for a numeric flag: a finite number above 0 (at or above, with `zero`); nan,
    inf and negative values are refused with a message, never taken (`--max-size nan` refused nothing)."""
    import math

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'} ({what})") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"{text!r} is not {'0 or more' if zero else 'above 0'} ({what})")
        return value
    parse.__name__ = kind.__name__   # argparse names the type in its messages
    return parse


def add_async_when_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--async-when", action="append", default=[], metavar="IMPORT:ARG=V[,V...]", help=ASYNC_WHEN_HELP)


def observed(args: argparse.Namespace) -> list[dict] | None:
    if not getattr(args, "observed", None):
        return None
    from ..traces.stacks import read_observed
    return [s for path in args.observed for s in read_observed(path)]


def analyze_from(args: argparse.Namespace, trampolines: str | None = None, glue_findings: bool = True) -> AnalysisResult:
    check_imports(args.imports)
    warn_list_files(args.imports)
    module = load(args.wasm, args.max_size)
    glue = glue_for(args, module, args.wasm)
    result = run_analysis(module, args.imports, args.indirect, args.host_table, observed=observed(args),
                          emscripten=args.emscripten, trampolines=trampolines or args.trampolines,  # type: ignore[arg-type]
                          ignore_imports=args.ignore_imports, glue=glue, host_memory=args.host_memory,
                          async_when=args.async_when)
    refuse_empty_selection(result.selection, args.imports, args.wasm)
    warn_glue(glue, module, glue_findings)
    warn_imports(result)
    return spare(result)


SPARED: list[object] | None = None   # under `run`: what the process leaves to the OS at exit


def spare(built: T) -> T:
    """Keep what a command built until the process ends, under `run`, which then exits without freeing
    it: a module's worth of small objects takes 15–20 ms to free one by one (as mypy's fast exit)."""
    if SPARED is not None:
        SPARED.append(built)
    return built


def add_verbosity_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, default=0,
                   help=f"every warning and note on stderr, whole (by default at most {MESSAGE_CAP}, {PER_TOPIC} of a kind,\n"
                        f"each cut at {MESSAGE_WIDTH} characters, and a count of the rest)")
    g.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                   help="nothing on stderr but errors")


MESSAGE_CAP = 6       # warnings and notes shown by default (besides those said `always`)
PER_TOPIC = 2         # ... of one kind ("warning: the list: …")
MESSAGE_WIDTH = 1000  # characters of each (a list of names can make one 100 KB long)


class _Messages:
    verbosity = 0
    shown = 0
    held = 0
    seen: set[str] = set()
    topics: dict[str, int] = {}


def set_verbosity(level: int) -> None:
    _Messages.verbosity = level


def reset_messages() -> None:
    _Messages.verbosity, _Messages.shown, _Messages.held = 0, 0, 0
    _Messages.seen, _Messages.topics = set(), {}


def warn(msg: str, always: bool = False) -> None:
    """A line on stderr. Warnings and notes are grouped and capped unless --verbose (see
    add_verbosity_args): the same line is said once, at most PER_TOPIC of a kind, MESSAGE_CAP in all
    (`always`: one that changes what the answer means, e.g. "every import is treated as async", is
    said whatever the count), each at most MESSAGE_WIDTH characters; `held_messages` counts the rest.
    --quiet: none of it. Every line is escaped (names can hold terminal control sequences)."""
    m = _Messages
    if m.verbosity < 0:
        return
    msg = printable(msg)
    if m.verbosity == 0 and msg.startswith(("warning:", "note:")):
        topic = ":".join(msg.split(":", 2)[:2])
        if msg in m.seen:
            return
        m.seen.add(msg)
        if not always and (m.shown >= MESSAGE_CAP or m.topics.get(topic, 0) >= PER_TOPIC):
            m.held += 1
            return
        m.shown += 1
        m.topics[topic] = m.topics.get(topic, 0) + 1
        if len(msg) > MESSAGE_WIDTH:
            msg = msg[:MESSAGE_WIDTH - 35].rstrip() + " … (cut: --verbose for all of it)"
    print(f"asyncify-doctor: {msg}", file=sys.stderr)


def held_messages() -> None:
    """The count of the warnings and notes not shown (said once, at the end of a command)."""
    if _Messages.held and _Messages.verbosity == 0:
        print(f"asyncify-doctor: {_Messages.held} more warning(s) and note(s) not shown (--verbose shows them)",
              file=sys.stderr)
    _Messages.held = 0


def warn_unmatched(module: "Module", sel: "ImportSelection") -> None:
    """Patterns that match nothing, with the import each probably meant; and Emscripten's own additions."""
    if sel.unmatched:
        shown = ", ".join(p + (f" (did you mean {' or '.join(sel.suggestions[p])}?)" if p in sel.suggestions else "")
                          for p in sel.unmatched[:8]) + (f", … ({len(sel.unmatched) - 8} more)" if len(sel.unmatched) > 8 else "")
        warn(f"warning: {len(sel.unmatched)} --imports pattern(s) match no import of {module.path} "
             f"(typos, or imports this build does not have): {shown}", always=True)
    if sel.glue is not None and sel.glue.emcc_added:
        added = [report.display_name(module, f) for fs in sel.added.values() for f in fs]
        warn(f"note: the JS glue says emcc also made these imports async by itself: {', '.join(added[:10])}"
             f"{', …' if len(added) > 10 else ''}")
    elif sel.emscripten and sel.added:
        added = [report.display_name(module, f) for fs in sel.added.values() for f in fs]
        shown = f"{', '.join(added[:10])}{', …' if len(added) > 10 else ''}"
        if not sel.patterns:   # then these are all the async imports: say so, the help promises it
            warn(f"note: no --imports given: on an Emscripten build ({sel.emscripten[0]}; --no-emscripten to turn off) "
                 f"the async imports are the ones emcc makes async by itself: {shown}; add the build's "
                 "ASYNCIFY_IMPORTS with --imports", always=True)
        else:
            warn(f"note: an Emscripten build ({sel.emscripten[0]}; --no-emscripten to turn off): emcc also makes these "
                 f"imports async by itself: {shown}")


def warn_list_files(imports: list[str]) -> None:
    """`--imports @FILE`: say where Binaryen would read the file otherwise (empty, `#` lines…)."""
    from ..lists import list_warnings, read_list
    for arg in imports:
        if arg.startswith("@") and Path(arg[1:]).is_file():
            for warning in list_warnings(read_list(arg[1:], kind="imports")):
                warn(f"warning: {warning}")


def warn_imports(result: AnalysisResult) -> None:
    sel = result.selection
    warn_unmatched(result.module, sel)
    if sel.trampolines:
        live = [report.display_name(result.module, f) for f in sel.trampolines if result.analysis.reached(f)]
        if live:
            warn(f"note: {len(live)} trampoline(s) can unwind, so the build must keep them async (ASYNCIFY_IMPORTS): "
                  f"{', '.join(live[:8])}{', …' if len(live) > 8 else ''}")
    if sel.listed_trampolines:
        an = result.analysis
        idle = [report.display_name(result.module, f) for f in sel.listed_trampolines if not an.reached(f)]
        named = "the JS glue takes as async" if sel.glue is not None and sel.glue.selects else "named in --imports"
        if idle:
            warn(f"note: {len(idle)} trampoline(s) {named} can never unwind (no table function of their "
                  f"signature can reach an async import; --trampolines async for the old model): {', '.join(idle[:8])}"
                  + (", …" if len(idle) > 8 else ""))
    if sel.emscripten and not sel.all_by_default and not sel.added and not sel.functions and not sel.unmatched:
        warn("note: no --imports given and this Emscripten build imports none of the functions emcc makes async "
             "by itself: nothing can unwind", always=True)
    if sel.all_by_default and sel.functions:
        contrib = report.import_contributions(result.graph, sel.functions, result.analysis.mode)
        top = sorted(contrib.items(), key=lambda kv: -kv[1])[:5]
        names = ", ".join(f"{report.display_name(result.module, i)} ({n})" for i, n in top if n)
        warn("note: no --imports given, so every import is treated as async (Binaryen's default); "
             "that is rarely what you want." + (f" Imports pulling in the most functions: {names}" if names else ""),
             always=True)


def output(text: str | Iterable[str], out: str | None, report: bool = False) -> None:
    """`-o FILE` through the safe writer (outputs.py); no `-o`, or `-o -`, is standard output. A `report`
    (text for people: why, audit, the --list diff...) has its control characters escaped wherever it
    goes; data (lists, JSON, dot) is written as it is, but escaped on a terminal."""
    from ..system.outputs import write_output
    write_output(out, text, escape="always" if report else "tty")
