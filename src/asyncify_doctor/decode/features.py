"""The `--enable-*` flags wasm-opt needs to read a binary: the features it uses, as each Binaryen
release spells them.

wasm-opt starts from a default feature set — nothing before 111 (`enabledFeatures = FeatureSet::MVP`,
tools/tool-options.h:190@110), `SignExt | MutableGlobals` since (wasm-features.h `Default`,
tool-options.h `enabledFeatures = FeatureSet::Default`@111+) — adds what the binary's
`target_features` custom section says it uses (`readFeatures`, wasm-binary.cpp, '+' used, '=' required
before 121), and its validator rejects the rest ("memory.fill operations require bulk memory
[--enable-bulk-memory-opt]"). Emscripten strips `target_features` from its output at -O1 and above
(`--strip-target-features`, tools/link.py@6.0.8), so a shipped binary usually needs the flags.

Where the features come from:
- the `target_features` section when there is one: it is what wasm-opt itself reads (no flags needed,
  but the list says what a stripped copy would need);
- else the module itself: its types, tables, memories, globals, segments, and (`scan_code=True`)
  every instruction of every body. The instructions cost nothing here: both code scanners note, in
  the one pass decoding makes, the classes of instruction and type the code holds (`code.Uses`, one
  bit per class of `opcodes.U_*`), and the data section's scan does the same for its segments;
  `USE_FEATURES` says which feature each class needs.

Feature names are the `target_features` names (tool-conventions, LLVM); `wasm_opt_flags` maps them
to the flag names of a release: `FeatureSet::toString` in src/wasm-features.h, read at every release
100–132 (names that came or changed: `multi-memories` → `multimemory` in 115, `typed-function-
references` folded into `gc` in 111, `typed-continuations` 117 → `stack-switching` 122,
`bulk-memory-opt` 121, …).
"""
from __future__ import annotations

import mmap
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .module import Module
from . import code as codemod
from . import opcodes as op
from .reader import Reader
from ..errors import DoctorError, InputError

# target_features name → Binaryen's name (FeatureSet::toString@132)
BINARYEN_NAME = {
    "atomics": "threads", "mutable-globals": "mutable-globals", "nontrapping-fptoint": "nontrapping-float-to-int",
    "simd128": "simd", "bulk-memory": "bulk-memory", "sign-ext": "sign-ext", "exception-handling": "exception-handling",
    "tail-call": "tail-call", "reference-types": "reference-types", "multivalue": "multivalue", "gc": "gc",
    "memory64": "memory64", "relaxed-simd": "relaxed-simd", "extended-const": "extended-const", "strings": "strings",
    "multimemory": "multimemory", "stack-switching": "stack-switching", "shared-everything": "shared-everything",
    "fp16": "fp16", "bulk-memory-opt": "bulk-memory-opt", "call-indirect-overlong": "call-indirect-overlong",
    "custom-descriptors": "custom-descriptors", "acquire-release-atomics": "acquire-release-atomics",
    "custom-page-sizes": "custom-page-sizes", "multibyte": "multibyte", "wide-arithmetic": "wide-arithmetic",
    "compact-imports": "compact-imports", "relaxed-atomics": "relaxed-atomics",
}
# the first release with each Binaryen flag (toString's cases, release by release)
SINCE = {"relaxed-simd": 103, "extended-const": 107, "strings": 110, "multimemory": 110, "stack-switching": 117,
         "shared-everything": 118, "fp16": 119, "bulk-memory-opt": 121, "call-indirect-overlong": 121, "custom-descriptors": 123,
         "relaxed-atomics": 126,
         "custom-page-sizes": 127, "multibyte": 129, "wide-arithmetic": 130, "compact-imports": 131,
         "acquire-release-atomics": 132}
DEFAULT_SINCE_111 = frozenset({"sign-ext", "mutable-globals"})
NO_OP = frozenset({"call-indirect-overlong"})   # "Ignored for compatibility as it has no effect on Binaryen"


def binaryen_flag(feature: str, version: int) -> list[str]:
    """The `--enable-*` flag(s) wasm-opt `version` has for a feature ([] when it has none)."""
    name = BINARYEN_NAME.get(feature)
    if name is None or version < SINCE.get(feature, 0):
        if feature == "bulk-memory-opt":      # before 121 memory.copy/fill were plain bulk memory
            return ["--enable-bulk-memory"]
        return []
    if feature == "multimemory" and version < 115:
        name = "multi-memories"
    if feature == "stack-switching" and version < 122:
        name = "typed-continuations"
    flags = [f"--enable-{name}"]
    if feature == "gc" and version < 111:     # typed function references were their own feature
        flags.append("--enable-typed-function-references")
    return flags


class UnsupportedFeature(DoctorError):
    """The binary uses a feature the chosen wasm-opt release has no flag for."""


@dataclass
class Features:
    """What a binary uses, and where that was read."""

    used: set[str] = field(default_factory=set)
    source: str = "module"               # "target_features" | "module" | "module and code"
    why: dict[str, str] = field(default_factory=dict)   # feature → the first thing seen using it

    def add(self, feature: str, what: str) -> None:
        if feature not in self.used:
            self.used.add(feature)
            self.why[feature] = what


def wasm_opt_flags(features: Features, version: int = 132) -> list[str]:
    """The flags wasm-opt `version` needs for these features: its defaults and no-op features left
    out; `UnsupportedFeature` (exit 2) for a feature that release cannot read at all."""
    out: list[str] = []
    missing = []
    for feature in sorted(features.used):
        if feature in NO_OP or (version >= 111 and feature in DEFAULT_SINCE_111):
            continue
        flags = binaryen_flag(feature, version)
        if not flags:
            missing.append(feature)
        out += [f for f in flags if f not in out]
    if missing:
        raise UnsupportedFeature(f"wasm-opt {version} cannot read this binary: it has no flag for "
                                 f"{', '.join(missing)} (used: {features.why[missing[0]]})")
    return out


# --- reading ------------------------------------------------------------------------------------

def target_features(m: Module) -> dict[str, str] | None:
    """The `target_features` section: feature → its prefix ('+' used, '-' disallowed, '=' required)."""
    found = [(pos, size) for name, pos, size in m.custom_sections if name == "target_features"]
    if not found:
        return None
    data = m.span(*found[0])
    r = Reader(data, 0, len(data), m.path)
    out: dict[str, str] = {}
    for _ in range(r.u32()):
        prefix = chr(r.u8())
        out[r.name()] = prefix
    return out


def features_of(m: Module, scan_code: bool = False) -> Features:
    """The features to give wasm-opt: the `target_features` section's used ones when present, else
    what the module uses (`module_features`)."""
    section = target_features(m)
    if section is not None:
        feats = Features(source="target_features")
        for name, prefix in section.items():
            if prefix in "+=":
                feats.add(name, f"the target_features section lists {prefix}{name}")
        return feats
    return module_features(m, scan_code)


@contextmanager
def _bytes(m: Module) -> Iterator[bytes]:
    if m.data:
        yield m.data
        return
    try:
        with open(m.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if len(mapped) != m.size:
                raise InputError(m.path, None, "the file changed while it was being read")
            yield mapped   # type: ignore[misc]
    except OSError as exc:
        raise InputError(m.path, None, f"cannot read again: {exc.strerror or exc}") from None


def module_features(m: Module, scan_code: bool = False) -> Features:
    """What the module uses, from its sections; with `scan_code` also from every instruction (what the
    code scan noted while decoding: no second pass)."""
    feats = Features(source="module and code" if scan_code else "module")
    _types(m, feats)
    with _bytes(m) as data:
        r = Reader(data, 8, len(data), m.path)
        while not r.at_end():
            sid = r.u8()
            sec = r.sub(r.u32())
            reader = {2: _imports, 4: _tables, 5: _memories, 6: _globals, 9: _elements, 13: _tags}.get(sid)
            if reader is not None:
                reader(m, sec, feats)
            elif sid == 10 and scan_code and m.code is not None:
                _add_uses(m, m.code.uses, feats)
            elif sid == 11 and m.data_uses is not None:
                _add_uses(m, m.data_uses, feats)
    if sum(1 for _ in m.exports if _.kind == "global" and m.globals[_.index].mutable):
        feats.add("mutable-globals", "an exported mutable global")
    return feats


def _valtype(code: int, heap: int | None, feats: Features, where: str) -> None:
    if code == 0x7B:
        feats.add("simd128", f"a v128 {where}")
    elif code in (0x70, 0x6F) or (code in (0x63, 0x64) and heap in (-0x10, -0x11)):   # funcref externref
        feats.add("reference-types", f"a {'funcref' if code == 0x70 else 'reference'} {where}")
    elif code == 0x69 or heap == -0x17:                                     # exnref
        feats.add("exception-handling", f"an exnref {where}")
    elif code in (0x63, 0x64) or code in codemod.ABSTRACT_HEAP_BYTES:
        feats.add("gc", f"a typed or GC reference {where}")


def _types(m: Module, feats: Features) -> None:
    used = {f.type_index for f in m.functions}
    for i, t in enumerate(m.types):
        if t.form in ("struct", "array"):
            feats.add("gc", f"type {i} is a {t.form}")
        elif t.form == "cont":
            feats.add("stack-switching", f"type {i} is a continuation")
        if t.supertypes or not t.final:
            feats.add("gc", f"type {i} has subtyping")
        if t.shared:
            feats.add("shared-everything", f"type {i} is shared")
        if i in used:
            if len(t.results) > 1:
                feats.add("multivalue", f"a function returns {len(t.results)} values (type {i})")
            for v in (*t.params, *t.results):
                _valtype(v.code, v.heap, feats, f"in a function signature (type {i})")
    if any(n > 1 for _, n in m.rec_groups):
        feats.add("gc", "a recursion group of several types")


def _limits(r: Reader, feats: Features, what: str) -> None:
    flags = r.u8()
    r.u64()
    if flags & 1:
        r.u64()
    if flags & 2:
        feats.add("atomics" if what == "memory" else "shared-everything", f"a shared {what}")
    if flags & 4:
        feats.add("memory64", f"a 64-bit {what}")
    if flags & 8:
        r.u32()
        feats.add("custom-page-sizes", "a custom page size")


def _table_type(m: Module, r: Reader, feats: Features) -> None:
    at = r.pos
    code = codemod.read_valtype(r)
    heap = None
    if code in (0x63, 0x64):
        r.pos = at + 1
        heap = codemod.read_heaptype(r)[0]
    if code != 0x70:
        _valtype(code, heap, feats, "table")
    _limits(r, feats, "table")


def _imports(m: Module, r: Reader, feats: Features) -> None:
    """Plain imports, and the compact-imports proposal's two grouped encodings (read as
    `module._import_section` reads them: `"" 0x7F` many names and types, `"" 0x7E` one type, many names)."""
    for _ in range(r.u32()):
        r.name()
        group = r.data[r.pos] if r.name() == "" and r.pos < r.end else None
        if group == 0x7F:
            r.pos += 1
            for _ in range(r.u32()):
                r.name()
                _import_type(m, r, feats)
        elif group == 0x7E:
            r.pos += 1
            _import_type(m, r, feats)
            for _ in range(r.u32()):
                r.name()
        else:
            _import_type(m, r, feats)


def _import_type(m: Module, r: Reader, feats: Features) -> None:
    kind = r.u8()
    if kind in (0x00, 0x20):   # 0x20: a function of exact type (custom descriptors)
        r.u32()
    elif kind == 1:
        _table_type(m, r, feats)
    elif kind == 2:
        _limits(r, feats, "memory")
    elif kind == 3:
        at = r.pos
        code = codemod.read_valtype(r)
        heap = None
        if code in (0x63, 0x64):
            r.pos = at + 1
            heap = codemod.read_heaptype(r)[0]
        _valtype(code, heap, feats, "imported global")
        if r.u8() & 1:
            feats.add("mutable-globals", "an imported mutable global")
    elif kind == 4:
        r.u8()
        r.u32()
        feats.add("exception-handling", "an imported tag")


def _tables(m: Module, r: Reader, feats: Features) -> None:
    n = r.u32()
    if n + sum(1 for t in m.tables if t.import_key) > 1:
        feats.add("reference-types", "more than one table")
    for _ in range(n):
        if r.pos < r.end and r.data[r.pos] == 0x40:   # a table with an initializer expression
            r.pos += 2
            feats.add("gc", "a table with an initializer")
            _table_type(m, r, feats)
            _const_expr(m, r, feats)
        else:
            _table_type(m, r, feats)


def _memories(m: Module, r: Reader, feats: Features) -> None:
    if m.memories > 1:
        feats.add("multimemory", f"{m.memories} memories")
    for _ in range(r.u32()):
        _limits(r, feats, "memory")


def _globals(m: Module, r: Reader, feats: Features) -> None:
    for _ in range(r.u32()):
        at = r.pos
        code = codemod.read_valtype(r)
        heap = None
        if code in (0x63, 0x64):
            r.pos = at + 1
            heap = codemod.read_heaptype(r)[0]
        _valtype(code, heap, feats, "global")
        if r.u8() & 2:
            feats.add("shared-everything", "a shared global")
        _const_expr(m, r, feats)


def _elements(m: Module, r: Reader, feats: Features) -> None:
    for _ in range(r.u32()):
        flags = r.u32()
        if flags & 1:
            feats.add("bulk-memory" if not flags & 2 else "reference-types",
                      "a passive element segment" if not flags & 2 else "a declarative element segment")
        elif flags & 2 and r.u32() != 0:
            feats.add("reference-types", "an element segment for a table other than 0")
        if not flags & 1:
            _const_expr(m, r, feats)
        if flags & 4:
            feats.add("reference-types", "an element segment of expressions")
            if flags & 3:
                at = r.pos
                code = codemod.read_valtype(r)
                if code in (0x63, 0x64):
                    r.pos = at + 1
                    heap = codemod.read_heaptype(r)[0]
                    _valtype(code, heap, feats, "element segment")
            for _ in range(r.u32()):
                _const_expr(m, r, feats)
        else:
            if flags & 3:
                r.u8()
            for _ in range(r.u32()):
                r.u32()


def _tags(m: Module, r: Reader, feats: Features) -> None:
    if r.u32():
        feats.add("exception-handling", "a tag section")


# What each class of `opcodes.U_*` needs, and the words for it: the scanners note the classes the code,
# the data section and constant expressions hold (`code.Uses`), this says which features they are.
USE_FEATURES: dict[int, tuple[tuple[str, ...], str]] = {
    op.U_EXCEPTIONS: (("exception-handling",), "an exception-handling instruction (try, throw, try_table, …)"),
    op.U_TAIL_CALL: (("tail-call",), "a tail call (return_call*)"),
    op.U_TYPED_REF: (("gc",), "a typed function reference instruction (call_ref, ref.as_non_null, br_on_null, …)"),
    op.U_REF: (("reference-types",), "a reference instruction (ref.null, ref.is_null, ref.func, select t, table.get/set)"),
    op.U_SIGN_EXT: (("sign-ext",), "a sign-extension instruction (extend8_s, …)"),
    op.U_STACK_SWITCHING: (("stack-switching",), "a stack-switching instruction (cont.new, resume, …)"),
    op.U_SAT_CONV: (("nontrapping-fptoint",), "a non-trapping float-to-int conversion (trunc_sat)"),
    op.U_BULK: (("bulk-memory",), "memory.init, data.drop, table.init, elem.drop or table.copy"),
    op.U_BULK_OPT: (("bulk-memory-opt",), "memory.copy or memory.fill"),
    op.U_TABLE_REF: (("reference-types",), "table.grow or table.size"),
    op.U_TABLE_FILL: (("bulk-memory", "reference-types"), "table.fill"),
    op.U_WIDE: (("wide-arithmetic",), "a wide-arithmetic instruction"),
    op.U_MEMORY_CONTROL: (("memory-control",), "a memory-control instruction (memory.discard)"),
    op.U_SIMD: (("simd128",), "a SIMD instruction"),
    op.U_RELAXED_SIMD: (("simd128", "relaxed-simd"), "a relaxed SIMD instruction"),
    op.U_ATOMICS: (("atomics",), "an atomic memory instruction"),
    op.U_SHARED_ATOMICS: (("shared-everything", "gc"), "an atomic instruction on a global, table or GC object"),
    op.U_GC: (("gc",), "a GC instruction"),
    op.U_CUSTOM_DESCRIPTORS: (("custom-descriptors", "gc"), "a custom-descriptors instruction"),
    op.U_MULTI_MEMORY: (("multimemory",), "an access to a memory other than 0"),
    op.U_OTHER_TABLE: (("reference-types",), "call_indirect of a table other than 0"),
    op.U_V128: (("simd128",), "a v128 local, block, select or ref.null type"),
    op.U_REFTYPE: (("reference-types",), "a funcref or externref local, block, select or ref.null type"),
    op.U_EXNREF: (("exception-handling",), "an exnref local, block, select or ref.null type"),
    op.U_GCREF: (("gc",), "a typed or GC reference as a local, block, select or ref.null type"),
    op.U_MULTI_VALUE: (("multivalue",), "a block with parameters or several results"),
    op.U_EXTENDED_CONST: (("extended-const",), "add, sub or mul in a constant expression"),
    op.U_PASSIVE_DATA: (("bulk-memory",), "a passive data segment"),
    op.U_DATA_MEMORY: (("multimemory",), "a data segment for memory other than 0"),
}


def _add_uses(m: Module, uses: codemod.Uses, feats: Features) -> None:
    """The features of what the scanners noted, each with where it was first used."""
    if not uses.mask:
        return
    starts = m.code.bodies[0::2] if m.code is not None else []
    for k, offset in uses.in_order():
        f = bisect_right(starts, offset) - 1
        inside = f >= 0 and offset < starts[f] + m.code.bodies[2 * f + 1]   # type: ignore[union-attr]
        where = f"function {m.num_imported_functions + f}, byte offset {offset}" if inside else f"byte offset {offset}"
        features, what = USE_FEATURES[k]
        for feature in features:
            feats.add(feature, f"{what} ({where})")


def _const_expr(m: Module, r: Reader, feats: Features) -> None:
    _add_uses(m, codemod.const_expr_uses(r), feats)


def wasm_opt_needs(m: Module, version: int = 132) -> dict:
    """What wasm-opt `version` needs to read this binary, for `analyze`'s JSON (`wasm_opt`) and
    `flags_note`: whether it reads the binary's target_features section itself, the `--enable-*` flags
    the code needs without that section (None: that release cannot read it), and the one-line note."""
    reads_section = target_features(m) is not None
    try:
        flags = wasm_opt_flags(module_features(m, scan_code=True), version)
    except UnsupportedFeature as exc:
        return {"version": version, "reads_target_features": reads_section, "flags": None, "note": f"warning: {exc}"}
    if reads_section:
        note = (f"note: wasm-opt {version} reads this binary's target_features section itself, no flag needed; "
                f"a copy without the section would need: {' '.join(flags) or 'none'}")
    elif not flags:
        note = f"note: wasm-opt {version} needs no --enable-* flag for this binary (it uses only {version}'s defaults)"
    else:
        note = (f"note: give wasm-opt {version} these flags with the list (the code uses those features and the "
                f"binary has no target_features section): {' '.join(flags)}")
    return {"version": version, "reads_target_features": reads_section, "flags": flags, "note": note}


def flags_note(m: Module, version: int = 132) -> str:
    """The stderr line `analyze --format binaryen` prints next to the list: the flags to give wasm-opt
    with it, and where they come from (stderr, since a list file has no comment syntax: wasm-opt reads
    every line as a function name). With a target_features section wasm-opt needs none; the flags a
    copy without the section would need come from the code (the section lists what the compiler
    enabled, which can be more than the code uses). A release that cannot read the binary: a warning."""
    return str(wasm_opt_needs(m, version)["note"])
