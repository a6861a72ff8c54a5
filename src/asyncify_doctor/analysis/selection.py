"""Which imports are async: `module.name` patterns with `*` wildcards, as Binaryen's
`asyncify-imports` takes them, from the command line or `@file`s in any list format — plus, for
Emscripten builds, the imports emcc makes async by itself (`emscripten` module), and trampolines
modelled as what they are (calls back into the table) instead of as async imports."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..emscripten import rules as emscripten
from ..graph.callgraph import is_trampoline_name
from ..decode import Module
from ..errors import UsageError
from ..lists import read_list
from ..lists.wildcard import matches

if TYPE_CHECKING:
    from .glue_imports import GlueUse

Trampolines = Literal["typed", "async"]
TRAMPOLINE_MODES = ("typed", "async")


def import_matches(pattern: str, key: str) -> bool:
    """Binaryen's rule: the pattern matches the whole `module.name` (with `*` wildcards)."""
    return matches(pattern, key)


def expand_args(args: list[str], base: Path | None = None) -> list[str]:
    """Turn repeated `--imports` values into patterns: `@file` is read as a list file (any format
    `lists.parse_list` knows), other values may be comma-separated (the CLI refuses a value that names
    nothing: it would silently mean "every import")."""
    out: list[str] = []
    for arg in args:
        if arg.startswith("@"):
            out.extend(read_list(Path(arg[1:]) if base is None else base / arg[1:], kind="imports").entries)
        else:
            out.extend(p.strip() for p in arg.split(",") if p.strip())
    return out


@dataclass
class ImportSelection:
    """Async imports chosen by patterns, and everything the user should hear about the choice."""

    functions: list[int]                         # the async imports
    unmatched: list[str]                         # the user's patterns that match no import (typos?)
    all_by_default: bool                         # no patterns: every import (Binaryen's default)
    suggestions: dict[str, list[str]] = field(default_factory=dict)   # unmatched pattern → close import names
    emscripten: list[str] = field(default_factory=list)   # why this is an Emscripten build (empty: rules off)
    added: dict[str, list[int]] = field(default_factory=dict)   # emcc's own patterns → imports they add
    trampolines: list[int] = field(default_factory=list)        # modelled as typed re-entries, not async
    listed_trampolines: list[int] = field(default_factory=list)  # … of those, the ones the user's patterns name
    runtime_imports: list[int] = field(default_factory=list)    # asyncify.* imports: never async themselves
    glue: "GlueUse | None" = None                               # the JS glue read with the binary
    patterns: list[str] = field(default_factory=list)           # the user's patterns, as given

    @property
    def selects_nothing(self) -> bool:
        """The user gave patterns and not one matches an import: a typo (or the wrong binary), never
        "nothing is async" — the list would be empty, which Binaryen reads as "instrument everything"."""
        return bool(self.patterns) and set(self.unmatched) >= set(self.patterns)


def _suggest(pattern: str, keys: list[str]) -> list[str]:
    """Close import names, on the whole key and on the name alone (`_asyncjs__x` → `env.__asyncjs__x`)."""
    import difflib   # only when a pattern matches nothing: its import costs every run 3 ms
    names = {k.partition(".")[2]: k for k in keys}
    close = difflib.get_close_matches(pattern, keys, n=3, cutoff=0.75)
    close += [names[n] for n in difflib.get_close_matches(pattern.rpartition(".")[2] or pattern, list(names), n=3, cutoff=0.75)]
    return list(dict.fromkeys(close))[:3]


def select_imports(module: Module, patterns: list[str] | None, *, emscripten_rules: bool | None = None,
                   trampolines: Trampolines = "typed", mode: str = "typed", ignore_imports: bool = False,
                   glue: "GlueUse | None" = None) -> ImportSelection:
    """No patterns → every import is async (Binaryen's default), or for an Emscripten build the
    imports emcc makes async by itself, or, with its JS `glue`, what the glue takes as async (then
    emcc's rules are not used: the glue says what emcc added). `emscripten_rules` None means: when the
    binary is one.
    `trampolines` "typed": Emscripten's invoke_* are calls back into the table of their signature
    (in `--indirect all` they count as async, as any indirect call does there); "async": the old
    model, async exactly when a pattern names them. `ignore_imports` is Binaryen's
    `asyncify-ignore-imports`: no import is async (only code calling asyncify.* unwinds)."""
    if ignore_imports and patterns:
        raise UsageError("--ignore-imports and --imports contradict each other: give one")
    imported = module.functions[:module.num_imported_functions]   # imports come first in the index space
    runtime = [f.index for f in imported if f.import_module == "asyncify"]
    candidates = [f for f in imported if f.import_module != "asyncify"]
    signs = emscripten.detect(module) if emscripten_rules is None else (["--emscripten"] if emscripten_rules else [])
    tramps = [f.index for f in candidates if is_trampoline_name(f.import_name or "")
              and module.func_type(f.index).params[:1] and str(module.func_type(f.index).params[0]) in ("i32", "i64")]
    typed = trampolines == "typed"
    sel = ImportSelection([], [], False, emscripten=signs, runtime_imports=runtime, glue=glue,
                          patterns=list(patterns or []))
    user = [emscripten.qualify(p) for p in patterns or []] if signs else list(patterns or [])
    chosen: set[int] = set()
    selecting = glue if glue is not None and glue.cannot_select is None and not ignore_imports else None
    if ignore_imports:
        signs = sel.emscripten = []
    elif selecting is not None and not patterns:
        signs = sel.emscripten = []
        chosen = set(selecting.async_imports) - set(runtime)
    elif not patterns and not signs:
        sel.all_by_default = True
        chosen = {f.index for f in candidates}
    for pat in user:
        hits = [f.index for f in candidates if import_matches(pat, f.import_key or "")]
        chosen.update(hits)
        if not hits:
            original = patterns[user.index(pat)] if patterns else pat
            sel.unmatched.append(original)
            close = _suggest(original, [f.import_key or "" for f in candidates])
            if close:
                sel.suggestions[original] = close
    if glue is not None:
        glue.source = "none" if ignore_imports else "--imports" if patterns else "glue" if selecting else "default"
    if selecting is not None and patterns:
        from .glue_imports import compare_selection, emcc_added
        sel.added = selecting.emcc_added = emcc_added(selecting, chosen)
        chosen.update(f for fs in sel.added.values() for f in fs)
        compare_selection(selecting, chosen)
    elif signs:
        for pat in emscripten.added_patterns(trampolines_async=not typed and mode != "ignore"):
            hits = [f.index for f in candidates if import_matches(pat, f.import_key or "") and f.index not in chosen]
            if hits:
                sel.added[pat] = hits
                chosen.update(hits)
    if typed and mode != "all":
        sel.trampolines = tramps
        sel.listed_trampolines = sorted(chosen & set(tramps))
        chosen -= set(tramps)
    elif typed:  # `all`: a trampoline is an indirect call, and every indirect call may unwind there
        chosen |= set(tramps)
    sel.functions = sorted(chosen)
    return sel


def refuse_empty_selection(sel: ImportSelection, imports: list[str], wasm: str) -> None:
    """One line, exit 2, when `--imports` selects nothing: each pattern that matched nothing, with
    the import it probably meant. `imports` are the `--imports` values as given (`@file` named as such)."""
    if not sel.selects_nothing:
        return
    unmatched = list(dict.fromkeys(sel.unmatched))
    hint = {p: f" (did you mean {' or '.join(sel.suggestions[p])}?)" if p in sel.suggestions else "" for p in unmatched}
    files = [a for a in imports if a.startswith("@")]
    where = f"{' in ' + ', '.join(files) if files else ''} of {wasm}"
    if len(unmatched) == 1:
        what = f"--imports {unmatched[0]} matches no import{where}{hint[unmatched[0]]}"
    else:
        shown = ", ".join(p + hint[p] for p in unmatched[:6]) + (f", … ({len(unmatched) - 6} more)" if len(unmatched) > 6 else "")
        what = f"none of the {len(unmatched)} --imports patterns matches an import{where}: {shown}"
    cost = ("only the imports emcc makes async by itself would be" if sel.added else
            "nothing would be async and the list empty, which Binaryen reads as \"instrument everything\"")
    raise UsageError(f"{what}; {cost}. Patterns are module.name with `*` wildcards"
                     + ("; here a bare NAME is env.NAME" if sel.emscripten else ""))
