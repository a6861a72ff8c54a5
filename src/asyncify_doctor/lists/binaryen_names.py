"""The names Binaryen gives functions, so a list for `wasm-opt` can name functions the binary's `name`
section does not: the list is matched against Binaryen's internal names, and Binaryen invents one for
every function the section leaves out.

Read in `src/wasm/wasm-binary.cpp` at each release users run (`git show version_N:…`):

- A function the name section does not name gets a temporary name: an import `fimport$K` (K its
  function index: imports come first), a defined function its *defined* index as a decimal string
  (`"0"` is the first defined function). 100–118: `Name("fimport$" + counter)` in `readImports` and
  `Name::fromInt(i)` in `readFunctions` (wasm-binary.cpp:2405 and 2560@116); 119–120 the same through
  `makeName("", i)`; 121+: `getOrMakeName(functionNames, …, makeName("", i), …)` in
  `readFunctionSignatures` and `makeName("fimport$", wasm.functions.size())` for imports
  (3381 and 3123@132).
- Name-section names are deduplicated in the order the section lists them (`NameProcessor`), and the
  temporary names are kept apart from them — how changed four times:

  ========  ======================================================================================
  100–112   names deduplicated as `name.1`, `name.2`…; temporary names NOT checked against them, so a
            function really named "5" and the unnamed defined function 5 share a name (ambiguous:
            None here).
  113–118   then every function without a name gets its temporary name deduplicated the same way,
            in function-index order (`deduplicateUnexplicitlyNamed`, commit 50902ce351 #5689).
  119–120   the same order, but `Names::getValidNameGivenExisting`: `name_K`, K counting up from the
            number of names in use (c68978114c #6793).
  121–123   the name section is read first (24c81824c1 #7074); a defined function's temporary name
            is checked against every name-section name and the earlier temporary names; an
            import's only against earlier imports' — a collision there makes Binaryen abort
            ("Module::addFunction: … already exists"), so the binary cannot be read at all.
  124+      one set for imports and defined functions (ad67cf46c3 #7700).
  ========  ======================================================================================

- Escaping: before 131 a name-section name with a character outside the text format's `idchar`s
  is stored escaped (`\\xx`), and Asyncify escapes its list entries the same way before looking them
  up (Asyncify.cpp:447-452@116); since 131 neither (b27f7e347e #8880). Escaping is injective and
  leaves the dedup suffixes alone, so the list entry is the same for every version: the raw name
  plus the suffix Binaryen added (`binaryen_name`); `internal_name` is what Binaryen prints.
- Checked against the real releases' own `--print-function-map` on crafted and random name sections:
  110, 116 (libbinaryen), 123, 132 always; 113, 120, 121, 124, 130, 131 opt-in (npm downloads).
- The name section is read even without `-g` (`ModuleReader() { setDebugInfo(true); }`,
  wasm-io.h:45@116; `BinaryenModuleRead` likewise, `debugInfo = true` wasm-binary.h:1478@116).

Who can use these names: **wasm-opt run on this very binary** (`--pass-arg=asyncify-onlylist@@FILE`,
likewise remove/add lists), since it makes the same names from the same bytes. **Not emcc**:
`-sASYNCIFY_ONLY` goes to the `--asyncify` run emcc makes on wasm-ld's output (tools/link.py:353 and
2324@6.0.8), and for an Asyncify link wasm-ld keeps the name section (`--strip-debug` is passed only
`if … not settings.ASYNCIFY`, tools/building.py:191-196@6.0.8, the same since 2.0.0), so emcc matches
link-time symbol names; the section is stripped only afterwards (link.py:2450@6.0.8) unless `-g2` or
`--profiling-funcs`. The indices of a nameless shipped binary (after `wasm-opt -Oz`, the runtime added,
functions merged and reordered) say nothing about that link output. For emcc: rebuild with
`--profiling-funcs` (same code, names kept) and analyse that binary.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..decode import Module
from ..decode.module import name_map
from ..decode.reader import Reader
from ..errors import DoctorError

LATEST = 132                # the newest release read; later ones are taken to name as it does
MODELLED_SINCE = 100        # NameProcessor appeared in 100; older releases are not modelled
WASM_OPT, EMCC = "wasm-opt", "emcc"
READERS = (WASM_OPT, EMCC)
_ID_PUNCT = frozenset(b"!#$%&'*+-./:<=>?@^_`|~")


@dataclass
class Naming:
    """Binaryen's name for every function of a module (list-entry form), for one release."""

    version: int
    names: list[str | None]              # None: Binaryen gives this function no usable name
    why_not: dict[int, str] = field(default_factory=dict)   # function index → why it is None
    refused: str | None = None           # Binaryen cannot read the binary's names at all


def scheme(version: int) -> str:
    """The naming rules of a release, by the table in the module docstring."""
    if version < MODELLED_SINCE:
        return "unmodelled"
    if version <= 112:
        return "dot-unnamed-undeduplicated"
    if version <= 118:
        return "dot"
    if version <= 120:
        return "underscore"
    if version <= 123:
        return "names-first-split"
    return "names-first"


def escapes(version: int) -> bool:
    """Binaryen stores name-section names escaped, and escapes list entries alike, before 131."""
    return version < 131


def _is_id_byte(b: int) -> bool:
    return 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 or b in _ID_PUNCT


def binaryen_escape(name: str, version: int = 126) -> str:
    """`WasmBinaryReader::escape` (wasm-binary.cpp:3338@116): every byte outside the idchars becomes
    `\\` and two hex digits — of the *signed* char before 127 (so bytes >= 0x80 gave characters below
    '0'; fixed by fc44a75d0d #8330). Either way injective, so it never changes what a list entry matches."""
    raw = name.encode("utf-8")
    if all(map(_is_id_byte, raw)):
        return name
    out = []
    for b in raw:
        if _is_id_byte(b):
            out.append(chr(b))
            continue
        c = b - 256 if b >= 128 and version < 127 else b
        hi, lo = c >> 4, c & 15
        out.append("\\" + "".join(chr(48 + n) if n < 10 else chr(97 - 10 + n) for n in (hi, lo)))
    return "".join(out)


def internal_name(entry: str, version: int) -> str:
    """The name Binaryen holds (and prints, e.g. `--print-function-map`) for a list entry."""
    return binaryen_escape(entry, version) if escapes(version) else entry


def _temporary(m: Module, f: int) -> str:
    nimp = m.num_imported_functions
    return f"fimport${f}" if f < nimp else str(f - nimp)


def _valid_name(root: str, used: set[str]) -> str:
    """`Names::getValidNameGivenExisting` (ir/names.h@123): `root`, else `root_K` for K from len(used)."""
    if root not in used:
        return root
    k = len(used)
    while f"{root}_{k}" in used:
        k += 1
    return f"{root}_{k}"


def _dot_name(root: str, used: set[str]) -> str:
    """`NameProcessor::deduplicate` before 119: `root`, else `root.1`, `root.2`, …"""
    name, i = root, 1
    while name in used:
        name, i = f"{root}.{i}", i + 1
    return name


def function_name_entries(m: Module) -> tuple[list[tuple[int, str]] | None, str | None]:
    """The function-names subsection as Binaryen reads it: (index, name) in the section's order,
    or None without one; plus why it cannot be modelled (several name sections or subsections)."""
    sections = [(pos, size) for name, pos, size in m.custom_sections if name == "name"]
    if not sections:
        return None, None
    if len(sections) > 1:
        return None, "the binary has more than one name section"
    pos, size = sections[0]
    data = m.span(pos, size)
    r = Reader(data, 0, len(data), m.path)
    found: list[list[tuple[int, str]]] = []
    while not r.at_end():
        sub_id = r.u8()
        sub = r.sub(r.u32())
        if sub_id == 1:
            res = name_map(sub.data, sub.pos, sub.end)   # the decoder's reader (None: malformed, read again)
            found.append(list(zip(res[0], res[1])) if res is not None else
                         [(sub.u32(), sub.name()) for _ in range(sub.u32())])
    if len(found) > 1:
        return None, "the name section has more than one function-names subsection"
    return (found[0] if found else None), None


def _name_section_before_code(m: Module) -> bool:
    secs = [pos for name, pos, _ in m.custom_sections if name == "name"]
    first_body = m.code.bodies[0] if m.code is not None and len(m.code.bodies) else None
    return bool(secs) and first_body is not None and secs[0] < first_body


def binaryen_names(m: Module, version: int = LATEST) -> Naming:
    """Every function's name as wasm-opt `version` names it after reading this binary (list-entry
    form: what an onlylist must say), computed once per module and scheme."""
    cache: dict[tuple[str, bool], Naming] = m.__dict__.setdefault("_binaryen_names", {})
    key = (scheme(version), escapes(version))
    if key not in cache:
        cache[key] = _compute(m, version)
    naming = cache[key]
    return naming if naming.version == version else Naming(version, naming.names, naming.why_not, naming.refused)


def _compute(m: Module, version: int) -> Naming:
    n = len(m.functions)
    entries, unmodelled = function_name_entries(m)
    rule = scheme(version)
    if entries is None and unmodelled is None:
        return Naming(version, [_temporary(m, f) for f in range(n)])     # every release agrees
    if unmodelled or rule == "unmodelled":
        why = unmodelled or f"Binaryen {version} is older than the releases read here ({MODELLED_SINCE}+)"
        return Naming(version, [None] * n, {f: why for f in range(n)}, refused=why)
    assert entries is not None
    if rule in ("dot-unnamed-undeduplicated", "dot", "underscore") and _name_section_before_code(m):
        why = f"the name section comes before the code section, which Binaryen {version} reads differently"
        return Naming(version, [None] * n, {f: why for f in range(n)}, refused=why)
    if _plain(m, entries):   # every function named once, no two alike: every release keeps the names
        return Naming(version, [name for _, name in entries])
    if rule.startswith("names-first"):
        return _names_first(m, version, entries, split=rule == "names-first-split")
    return _patched_after(m, version, entries, rule)


def _plain(m: Module, entries: list[tuple[int, str]]) -> bool:
    """The usual name section (wasm-ld's, Binaryen's with -g): indices 0..n-1 in order, names distinct."""
    n = len(m.functions)
    return (len(entries) == n and (not n or (entries[0][0] == 0 and entries[-1][0] == n - 1))
            and all(i == k for k, (i, _) in enumerate(entries)) and len({name for _, name in entries}) == n)


def _patched_after(m: Module, version: int, entries: list[tuple[int, str]], rule: str) -> Naming:
    """100–120: temporary names first, the name section patched in (`readNames`), then (113+) the
    unnamed functions' temporary names deduplicated against everything in index order."""
    dedupe = _valid_name if rule == "underscore" else _dot_name
    used: set[str] = set()
    names: list[str | None] = [None] * len(m.functions)
    explicit = [False] * len(m.functions)
    for idx, raw in entries:
        name = dedupe(raw, used)
        used.add(name)
        if idx < len(names):
            names[idx], explicit[idx] = name, True
    naming = Naming(version, names)
    for f in range(len(names)):
        if not explicit[f]:
            temp = _temporary(m, f)
            names[f] = temp if rule == "dot-unnamed-undeduplicated" else dedupe(temp, used)
            used.add(names[f] or temp)
    if rule == "dot-unnamed-undeduplicated":   # two functions may now share a name: neither is reliable
        seen: dict[str | None, int] = {}
        for given in names:
            seen[given] = seen.get(given, 0) + 1
        for f, given in enumerate(names):
            if seen[given] > 1:
                naming.why_not[f] = (f"Binaryen {version} gives it the name {given!r}, which another function "
                                     "also gets (fixed in 113)")
                names[f] = None
    return naming


def _names_first(m: Module, version: int, entries: list[tuple[int, str]], split: bool) -> Naming:
    """121+: the name section read first (`findAndReadNames`), then `getOrMakeName` per function."""
    processed: set[str] = set()
    by_index: dict[int, str] = {}
    for idx, raw in entries:
        name = _valid_name(raw, processed)
        processed.add(name)
        by_index[idx] = name
    nimp, n = m.num_imported_functions, len(m.functions)
    names: list[str | None] = [None] * n
    used_imports: set[str] = set() if split else processed      # 121–123: readImports' own set
    used_defined: set[str] = set(by_index.values()) if split else processed
    for f in range(n):
        if f in by_index:
            names[f] = by_index[f]
            continue
        used = used_imports if f < nimp else used_defined
        given = _valid_name(_temporary(m, f), used)
        names[f] = given
        used.add(given)
    if split:
        taken = set(by_index.values())
        clash = [f for f in range(nimp) if f not in by_index and names[f] in taken]
        if clash:
            why = (f"Binaryen {version} aborts reading this binary: import {clash[0]} gets the name "
                   f"{names[clash[0]]!r}, which the name section gives another function (fixed in 124)")
            return Naming(version, [None] * n, {f: why for f in range(n)}, refused=why)
    return Naming(version, names)


def binaryen_name(module: Module, func_index: int, version: int = LATEST, reader: str = WASM_OPT) -> str | None:
    """The name a list for `reader` must use for function `func_index` of this binary, or None when
    that reader cannot name it: wasm-opt run on this binary matches Binaryen's names (`binaryen_names`);
    emcc matches link-time symbol names, so only functions the name section names (see the module
    docstring)."""
    if reader == EMCC:
        f = module.functions[func_index]
        return f.name if f.has_name and not f.imported else None
    if reader != WASM_OPT:
        raise ValueError(f"unknown list reader {reader!r} (one of {', '.join(READERS)})")
    return binaryen_names(module, version).names[func_index]


class UnnameableFunctions(DoctorError):
    """A list would name functions its reader cannot match: refuse rather than write a dead list."""


HOW_TO_KEEP_NAMES = ("rebuild with names (emcc -g2 or --profiling-funcs; wasm-opt -g; wasm-ld without "
                     "--strip-all) and analyse that binary")


def list_names(module: Module, funcs: list[int], reader: str, version: int | None = None) -> list[str]:
    """The entries of a list for `reader` naming `funcs`, or `UnnameableFunctions` (exit 2) saying
    which functions it cannot match and what to do."""
    names = [binaryen_name(module, f, version or LATEST, reader) for f in funcs]
    bad = [f for f, name in zip(funcs, names) if name is None]
    if not bad:
        return [name for name in names if name is not None]
    shown = ", ".join(module.functions[f].name for f in bad[:3]) + (", …" if len(bad) > 3 else "")
    if reader == EMCC:
        raise UnnameableFunctions(
            f"{len(bad)} function(s) to list have no name in the name section ({shown}); emcc matches "
            f"ASYNCIFY_ONLY against link-time symbol names, which this binary no longer carries: "
            f"{HOW_TO_KEEP_NAMES}. For wasm-opt run on this very binary, --format binaryen names them "
            "as Binaryen does")
    why = binaryen_names(module, version or LATEST).why_not.get(bad[0], "")
    latest = binaryen_names(module, LATEST).names
    fix = (f"wasm-opt {LATEST} names them all (--binaryen-version {LATEST})" if all(latest[f] is not None for f in bad)
           else HOW_TO_KEEP_NAMES)
    raise UnnameableFunctions(f"{len(bad)} function(s) to list cannot be named for wasm-opt ({shown}): {why}; {fix}")


_ONE_PER_SCHEME = (110, 116, 120, 123, 130, LATEST)   # a release of each naming scheme (and escaping)


def naming_notes(module: Module, funcs: list[int], fmt: str, version: int | None = None) -> list[str]:
    """What `analyze` says on stderr about the names it writes for wasm-opt (`--format binaryen`):
    which are Binaryen's invented names, which are Binaryen's renamings of duplicates, and whether the
    names depend on the release that reads the list."""
    if fmt != "binaryen":
        return []
    naming = binaryen_names(module, version or LATEST)
    fs = module.functions
    invented = [f for f in funcs if not fs[f].has_name]
    renamed = [f for f in funcs if fs[f].has_name and naming.names[f] != fs[f].name]
    notes = []
    if invented:
        notes.append(f"note: {len(invented)} listed function(s) have no name in the name section; written as "
                     f"Binaryen names them when it reads this binary (the defined function's index among defined "
                     f"functions, e.g. {fs[invented[0]].name} → {naming.names[invented[0]]}): only wasm-opt run on "
                     "this very binary matches them, emcc never (it matches link-time names: rebuild with "
                     "--profiling-funcs)")
    if renamed:
        f = renamed[0]
        notes.append(f"note: {len(renamed)} listed name(s) are written as Binaryen renames them when it reads "
                     f"this binary (duplicates, clashes with invented names): e.g. {fs[f].name} → {naming.names[f]}")
    if version is None and (invented or renamed):
        differ = sorted({v for v in _ONE_PER_SCHEME
                         if [binaryen_names(module, v).names[f] for f in funcs] != [naming.names[f] for f in funcs]})
        if differ:
            notes.append(f"warning: Binaryen {', '.join(map(str, differ))} name{'s' if len(differ) == 1 else ''} some "
                         f"of these functions differently from {LATEST}: pass --binaryen-version N, N the release of "
                         "the wasm-opt that will read the list")
    return notes
