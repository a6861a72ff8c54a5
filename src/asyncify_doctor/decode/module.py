"""bytes → Module: the sections of a wasm binary, decoded in one pass.

Only what the call graph, the audit and the reports need is kept; code bodies are reduced to
events by `code.py` (or its C twin). Names come from the `name` custom section; functions it does
not name get the placeholder `wasm-function[N]` (V8's own spelling in stack traces), which Binaryen
cannot match in a list, so the analysis warns about them. The long vectors (function, export, element
and name sections) and the Function records are accelerator twins (`u32_vec`, `exports`, `name_map`,
`records`; see `asyncify_doctor.accel`).
"""
from __future__ import annotations

import gc
import mmap
import os
from contextlib import contextmanager
from array import array
from itertools import islice, repeat
from operator import is_not, itemgetter, lt
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Sequence, cast

from .. import accel
from ..errors import DecodeError, InputError
from ..system.inputs import open_input, read_input, read_opened, wasm_head
from . import code as codemod
from .reader import Reader

MAGIC = b"\0asm"
SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
                 6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
                 12: "data count", 13: "tag"}
# Where each known section may appear (the tag section sits between memory and global); each at most once.
SECTION_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}
EXTERNAL_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
VALTYPE_NAMES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x78: "i8",
                 0x77: "i16", 0x70: "funcref", 0x6F: "externref", 0x6E: "anyref", 0x6D: "eqref",
                 0x6C: "i31ref", 0x6B: "structref", 0x6A: "arrayref", 0x69: "exnref",
                 0x71: "nullref", 0x72: "nullexternref", 0x73: "nullfuncref", 0x74: "nullexnref",
                 0x68: "contref", 0x75: "nullcontref"}


class ValType(tuple):
    """A value type: a byte code, plus for `(ref null? ht)` the nullability and heap type.

    Heap types < 0 are abstract (the s33 value of their byte), >= 0 are type indices; the call
    graph canonicalises type indices before comparing, so `ValType` stays a plain record (a tuple
    underneath: signatures are compared often, and tuples compare in C).
    `shared` (shared-everything threads) marks a shared abstract type, `exact` (custom descriptors)
    an exact type index. Packed field types i8/i16 use their codes 0x78/0x77.
    """

    __slots__ = ()
    code: int = property(itemgetter(0))               # type: ignore[assignment]
    heap: int | None = property(itemgetter(1))        # type: ignore[assignment]
    shared: bool = property(itemgetter(2))            # type: ignore[assignment]
    exact: bool = property(itemgetter(3))             # type: ignore[assignment]

    def __new__(cls, code: int, heap: int | None = None, shared: bool = False, exact: bool = False) -> "ValType":
        return tuple.__new__(cls, (code, heap, shared, exact))

    def __repr__(self) -> str:
        return "ValType(code={!r}, heap={!r}, shared={!r}, exact={!r})".format(*self)

    def __str__(self) -> str:
        if self.heap is None:
            name = VALTYPE_NAMES.get(self.code, f"0x{self.code:02x}")
            return f"(shared {name})" if self.shared else name
        null = "null " if self.code == 0x63 else ""
        ht = str(self.heap) if self.heap >= 0 else VALTYPE_NAMES.get(self.heap & 0x7F, str(self.heap)).removesuffix("ref")
        if self.shared:
            ht = f"(shared {ht})"
        elif self.exact:
            ht = f"(exact {ht})"
        return f"(ref {null}{ht})"

    @property
    def is_ref(self) -> bool:
        return self.code not in codemod.NUMERIC_BYTES and self.code not in (0x78, 0x77)


@dataclass(frozen=True)
class SubType:
    """One entry of the type section: func/struct/array/cont, with GC subtyping information."""

    form: str                       # "func" | "struct" | "array" | "cont"
    final: bool
    supertypes: tuple[int, ...]
    params: tuple[ValType, ...] = ()
    results: tuple[ValType, ...] = ()
    fields: tuple[tuple[ValType, bool], ...] = ()   # struct/array fields: (storage type, mutable)
    cont_type: int | None = None
    shared: bool = False            # shared-everything threads: `(shared <comptype>)`
    describes: int | None = None    # custom descriptors: `(describes $t)`
    descriptor: int | None = None   # custom descriptors: `(descriptor $t)`

    def signature(self) -> str:
        """Human form used in `why` chains: `(i32, i32) -> i32`."""
        if self.form != "func":
            return self.form
        ps = ", ".join(map(str, self.params))
        rs = ", ".join(map(str, self.results))
        return f"({ps}) -> ({rs})" if len(self.results) != 1 else f"({ps}) -> {rs}"


class Function(tuple):
    """A function of the index space (imports first): an immutable record (a tuple underneath, made
    in bulk at the end of decoding — PHP has 24,000 of them). `name` is the name-section name, else the
    import's `module.name`, else the placeholder `wasm-function[N]` (then `has_name` is False)."""

    __slots__ = ()
    index: int = property(itemgetter(0))                  # type: ignore[assignment]
    type_index: int = property(itemgetter(1))             # type: ignore[assignment]
    name: str = property(itemgetter(2))                   # type: ignore[assignment]
    has_name: bool = property(itemgetter(3))              # type: ignore[assignment]  # False for placeholders
    import_module: str | None = property(itemgetter(4))   # type: ignore[assignment]
    import_name: str | None = property(itemgetter(5))     # type: ignore[assignment]

    def __new__(cls, index: int, type_index: int, name: str | None = None, has_name: bool = False,
                import_module: str | None = None, import_name: str | None = None) -> "Function":
        return tuple.__new__(cls, (index, type_index, placeholder_name(index) if name is None else name, has_name,
                                   import_module, import_name))

    @property
    def imported(self) -> bool:
        return self[4] is not None

    @property
    def import_key(self) -> str | None:
        """`module.name`, the form Binaryen's `asyncify-imports` matches."""
        return None if self[4] is None else f"{self[4]}.{self[5]}"

    def __repr__(self) -> str:
        return "Function(index={!r}, type_index={!r}, name={!r}, has_name={!r}, import_module={!r}, import_name={!r})".format(*self)


@dataclass
class Table:
    index: int
    elem_type: ValType
    minimum: int
    maximum: int | None
    import_key: str | None = None
    init_funcs: list[int] = field(default_factory=list)     # ref.func in a table initializer expression
    init_globals: list[int] = field(default_factory=list)   # global.get in it: the table holds their values
    shared: bool = False


@dataclass
class Global:
    index: int
    valtype: ValType
    mutable: bool
    import_key: str | None = None
    name: str | None = None
    init_funcs: list[int] = field(default_factory=list)     # ref.func in its initializer
    init_globals: list[int] = field(default_factory=list)   # global.get in its initializer
    shared: bool = False


@dataclass
class ElementSegment:
    index: int
    mode: str                        # "active" | "passive" | "declarative"
    table: int | None
    functions: list[int]             # function indices (or ref.func items) it can put into a table
    elem_type: ValType | None = None
    global_refs: list[int] = field(default_factory=list)  # global.get items: the values of those globals


class Export:
    """An export (a slots class: PHP exports 7,500 functions)."""

    __slots__ = ("name", "kind", "index")

    def __init__(self, name: str, kind: str, index: int) -> None:
        self.name, self.kind, self.index = name, kind, index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Export) and (self.name, self.kind, self.index) == (other.name, other.kind, other.index)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Export(name={self.name!r}, kind={self.kind!r}, index={self.index!r})"


@dataclass
class Import:
    module: str
    name: str
    kind: str
    index: int                       # index within its own index space


@dataclass
class Module:
    """A decoded wasm module: the index spaces and facts the analysis stages read."""

    path: str
    size: int
    types: list[SubType] = field(default_factory=list)
    rec_groups: list[tuple[int, int]] = field(default_factory=list)   # (first type index, count)
    imports: list[Import] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    num_imported_functions: int = 0
    tables: list[Table] = field(default_factory=list)
    memories: int = 0
    memory_types: list[tuple[int, bool]] = field(default_factory=list)   # per memory: (initial bytes, shared)
    globals: list[Global] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elements: list[ElementSegment] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)
    data_count: int | None = None
    module_name: str | None = None
    custom_sections: list[tuple[str, int, int]] = field(default_factory=list)
    section_spans: dict[int, tuple[int, int]] = field(default_factory=dict)   # known section id -> (payload offset, size)
    code: codemod.CodeScan | None = None
    data_uses: codemod.Uses | None = None   # what the data section holds (passive segments, …; features.py)
    data: bytes = field(default=b"", repr=False)   # the binary, when decoded from bytes (else read again: `span`)
    aliases: dict[int, str] = field(default_factory=dict, repr=False, compare=False)   # real names of minified ones (`shown_name`)
    _file: BinaryIO | None = field(default=None, init=False, repr=False, compare=False)   # open under `rereading`
    # The function index space while decoding, made into `functions` at the end (`_make_functions`):
    _ftypes: list[int] = field(default_factory=list, init=False, repr=False, compare=False)
    _fimports: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False, compare=False)
    _fnames: list[tuple[Sequence[int], list[str]]] = field(default_factory=list, init=False, repr=False, compare=False)

    def func_type(self, func: int) -> SubType:
        return self.types[self.functions[func].type_index]

    def function_named(self, name: str) -> Function | None:
        for f in self.functions:
            if f.name == name:
                return f
        return None

    def span(self, start: int, size: int) -> bytes:
        """`size` bytes of the binary at `start`: from the bytes it was decoded from, else from its file
        again (`read_module` maps a file and lets go of it), refusing a file that changed since."""
        if self.data:
            return bytes(self.data[start:start + size])
        with self.rereading():
            assert self._file is not None
            try:
                self._file.seek(start)
                return self._file.read(size)
            except OSError as exc:
                raise InputError(self.path, None, f"cannot read again: {exc.strerror or exc}") from None

    @contextmanager
    def rereading(self) -> Iterator[None]:
        """`span`s in a row read through one open file, checked once (recognising Asyncify rereads
        1,500 bodies of PHP: opening the file for each cost 10 ms)."""
        if self.data or self._file is not None:
            yield
            return
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below, after the reads
        except OSError as exc:
            raise InputError(self.path, None, f"cannot read again: {exc.strerror or exc}") from None
        try:
            if os.fstat(fh.fileno()).st_size != self.size:
                raise InputError(self.path, None, "the file changed while it was being read")
            self._file = fh
            yield
        finally:
            self._file = None
            fh.close()

    def body_ops(self, func: int, limit: int | None = None) -> list[tuple[int, int]]:
        """The body of a defined function as (opcode, immediate) pairs (`code.body_ops`)."""
        i = func - self.num_imported_functions
        assert self.code is not None and i >= 0
        start, size = self.code.bodies[2 * i], self.code.bodies[2 * i + 1]
        if self.data:
            return codemod.body_ops(self.data, start, size, self.path, limit)
        return codemod.body_ops(self.span(start, size), 0, size, self.path, limit)

    def body_size(self, func: int) -> int:
        if self.code is None or func < self.num_imported_functions:
            return 0
        return self.code.bodies[2 * (func - self.num_imported_functions) + 1]


def placeholder_name(index: int) -> str:
    return f"wasm-function[{index}]"


# --- section readers ----------------------------------------------------------------------------

def _valtype(r: Reader) -> ValType:
    """A value type, strictly as the spec (and wasmparser) allow; see `code.read_heaptype`."""
    at = r.pos
    b = codemod.read_valtype(r)
    if b in (0x63, 0x64):
        r.pos = at + 1
        heap, shared, exact = codemod.read_heaptype(r)
        return ValType(b, heap, shared, exact)
    if b == codemod.SHARED:
        return ValType(r.data[r.pos - 1], None, True)
    return ValType(b)


def _reftype(r: Reader, what: str) -> ValType:
    at = r.pos
    vt = _valtype(r)
    if not vt.is_ref:
        raise r.error(f"{what} must have a reference type, not {vt}", at)
    return vt


def _storage_type(r: Reader) -> ValType:
    """A struct/array field's type: a value type or the packed i8 (0x78) / i16 (0x77)."""
    if r.pos < r.end and r.data[r.pos] in (0x78, 0x77):
        r.pos += 1
        return ValType(r.data[r.pos - 1])
    return _valtype(r)


def _limits(r: Reader, what: str = "memory") -> tuple[int, int | None, bool]:
    """Memory limits (flags: max, shared, 64-bit, custom page size) or, with what="table", table
    limits (max, shared — shared-everything threads —, 64-bit). Returns (min, max, shared)."""
    flags = r.u8()
    allowed = 0x07 if what == "table" else 0x0F
    if flags & ~allowed:
        raise r.error(f"invalid {what} limits flags 0x{flags:02x}", r.pos - 1)
    minimum = r.u64()
    maximum = r.u64() if flags & 1 else None
    if flags & 0x08:
        at = r.pos
        if r.u32() >= 64:
            raise r.error("invalid custom page size", at)
    return minimum, maximum, bool(flags & 2)


def _memory_type(r: Reader) -> tuple[int, bool]:
    """A memory's (initial size in bytes, shared). With a custom page size the size counts pages of
    one byte: never more than the real size."""
    custom = r.pos < r.end and r.data[r.pos] & 0x08
    minimum, _max, shared = _limits(r)
    return minimum * (1 if custom else 65536), shared


def _comptype(r: Reader, final: bool, supers: tuple[int, ...]) -> SubType:
    """A composite type, with the optional prefixes in wasmparser's order (`read_composite_type`):
    `0x65` shared (shared-everything threads), `0x4C x` describes, `0x4D x` descriptor (custom
    descriptors), then func 0x60 / struct 0x5F / array 0x5E / cont 0x5D."""
    form = r.u8()
    shared = form == 0x65
    if shared:
        form = r.u8()
    describes = descriptor = None
    if form == 0x4C:
        describes = r.u32()
        form = r.u8()
    if form == 0x4D:
        descriptor = r.u32()
        form = r.u8()
    if form == 0x60:
        params = tuple(r.vec(lambda: _valtype(r)))
        results = tuple(r.vec(lambda: _valtype(r)))
        return SubType("func", final, supers, params, results, shared=shared, describes=describes, descriptor=descriptor)
    if form == 0x5F:
        fields = tuple(r.vec(lambda: _field(r)))
        return SubType("struct", final, supers, fields=fields, shared=shared, describes=describes, descriptor=descriptor)
    if form == 0x5E:
        return SubType("array", final, supers, fields=(_field(r),), shared=shared, describes=describes, descriptor=descriptor)
    if form == 0x5D:
        return SubType("cont", final, supers, cont_type=r.u32(), shared=shared, describes=describes, descriptor=descriptor)
    raise r.error(f"invalid type form 0x{form:02x} (expected func 0x60, struct 0x5f, array 0x5e or cont 0x5d)", r.pos - 1)


def _field(r: Reader) -> tuple[ValType, bool]:
    vt = _storage_type(r)
    mut = r.u8()
    if mut > 1:
        raise r.error(f"invalid field mutability 0x{mut:02x}", r.pos - 1)
    return vt, bool(mut)


def _global_type(r: Reader) -> tuple[ValType, bool, bool]:
    """(value type, mutable, shared): the flags byte is mutable (bit 0) | shared (bit 1)."""
    vt = _valtype(r)
    flags = r.u8()
    if flags > 3:
        raise r.error(f"invalid global flags 0x{flags:02x}", r.pos - 1)
    return vt, bool(flags & 1), bool(flags & 2)


def _subtype(r: Reader) -> SubType:
    b = r.data[r.pos] if r.pos < r.end else r.u8()
    if b in (0x50, 0x4F):
        r.pos += 1
        supers = tuple(r.vec(r.u32))
        return _comptype(r, b == 0x4F, supers)
    return _comptype(r, True, ())


def _type_section(m: Module, r: Reader) -> None:
    for _ in range(r.u32()):
        if r.pos < r.end and r.data[r.pos] == 0x4E:
            r.pos += 1
            group = r.vec(lambda: _subtype(r))
        else:
            group = [_subtype(r)]
        m.rec_groups.append((len(m.types), len(group)))
        m.types.extend(group)


def _check_type(m: Module, r: Reader, idx: int, what: str, offset: int) -> int:
    if idx >= len(m.types):
        raise r.error(f"{what} uses type index {idx}, but there are {len(m.types)} types", offset)
    return idx


def _extern_type(m: Module, r: Reader, key: str) -> tuple[str, object]:
    """An import's type: ("func", type index) / ("table", (elem type, min, max)) / ("memory", (bytes, shared)) /
    ("global", (valtype, mutable)) / ("tag", type index)."""
    at = r.pos
    kind = r.u8()
    if kind in (0x00, 0x20):  # 0x20: a function of exact type (custom descriptors)
        return "func", _check_type(m, r, r.u32(), f"import {key}", at)
    if kind == 0x01:
        et = _reftype(r, "a table")
        return "table", (et, *_limits(r, "table"))
    if kind == 0x02:
        return "memory", _memory_type(r)
    if kind == 0x03:
        return "global", _global_type(r)
    if kind == 0x04:
        _tag_attribute(r)
        return "tag", _check_type(m, r, r.u32(), f"tag import {key}", at)
    raise r.error(f"unknown import kind 0x{kind:02x}", at)


def _tag_attribute(r: Reader) -> None:
    if r.u8() != 0:
        raise r.error("invalid tag attribute (only 0x00, exception, exists)", r.pos - 1)


def _add_import(m: Module, module: str, name: str, ty: tuple[str, object]) -> None:
    kind, payload = ty
    key = f"{module}.{name}"
    if kind == "func":
        m.imports.append(Import(module, name, "func", len(m._ftypes)))
        m._ftypes.append(cast(int, payload))
        m._fimports.append((module, name))
    elif kind == "table":
        et, mn, mx, shared = cast("tuple[ValType, int, int | None, bool]", payload)
        m.imports.append(Import(module, name, "table", len(m.tables)))
        m.tables.append(Table(len(m.tables), et, mn, mx, key, shared=shared))
    elif kind == "memory":
        m.imports.append(Import(module, name, "memory", m.memories))
        m.memory_types.append(cast("tuple[int, bool]", payload))
        m.memories += 1
    elif kind == "global":
        vt, mut, shared = cast("tuple[ValType, bool, bool]", payload)
        m.imports.append(Import(module, name, "global", len(m.globals)))
        m.globals.append(Global(len(m.globals), vt, mut, key, shared=shared))
    else:
        m.imports.append(Import(module, name, "tag", len(m.tags)))
        m.tags.append(cast(int, payload))


def _import_section(m: Module, r: Reader) -> None:
    """Plain imports, and the compact-imports proposal's two grouped encodings (Binaryen 132 writes
    them with --all-features): `"" 0x7F` (one module, many names and types) and `"" 0x7E` (one module
    and type, many names)."""
    for _ in range(r.u32()):
        module, name = r.name(), r.name()
        group = r.data[r.pos] if name == "" and r.pos < r.end else None
        if group == 0x7F:
            r.pos += 1
            for _ in range(r.u32()):
                item = r.name()
                _add_import(m, module, item, _extern_type(m, r, f"{module}.{item}"))
        elif group == 0x7E:
            r.pos += 1
            ty = _extern_type(m, r, f"{module}.*")
            for _ in range(r.u32()):
                _add_import(m, module, r.name(), ty)
        else:
            _add_import(m, module, name, _extern_type(m, r, f"{module}.{name}"))
    m.num_imported_functions = len(m._ftypes)


# --- the long vectors: read in one go (accelerator twins), or, when malformed, again by the reader
# that words the error, so both twins accept and reject exactly alike --------------------------------

def u32_vec_py(data: bytes, pos: int, end: int) -> tuple[array, int] | None:
    """A vec(u32) at `pos` and the position after it; None if malformed."""
    r = Reader(data, pos, end)
    try:
        return array("I", r.vec(r.u32)), r.pos
    except DecodeError:
        return None


def name_map_py(data: bytes, pos: int, end: int) -> tuple[array, list[str], int] | None:
    """A name map at `pos` as (indices, names, position after); None if malformed."""
    r = Reader(data, pos, end)
    try:
        n = r.u32()
        if n > r.end - r.pos:
            return None
        idxs, names = array("I"), []
        for _ in range(n):
            idxs.append(r.u32())
            names.append(r.name())
        return idxs, names, r.pos
    except DecodeError:
        return None


def exports_py(data: bytes, pos: int, end: int) -> tuple[list[str], bytes, array, int] | None:
    """An export section at `pos` as (names, kind bytes, indices, position after), kinds unchecked;
    None if malformed."""
    r = Reader(data, pos, end)
    try:
        n = r.u32()
        if n > r.end - r.pos:
            return None
        names, kinds, idxs = [], bytearray(), array("I")
        for _ in range(n):
            names.append(r.name())
            kinds.append(r.u8())
            idxs.append(r.u32())
        return names, bytes(kinds), idxs, r.pos
    except DecodeError:
        return None


def records_py(cls: type, columns: tuple) -> list:
    """[cls(row) for row in zip(*columns)] for a tuple subclass: the Function records in one go."""
    return list(map(tuple.__new__, repeat(cls), zip(*columns)))


def _u32_vec_native(data: bytes, pos: int, end: int) -> tuple[array, int] | None:
    res = accel.native.u32_vec(data, pos, end)
    return None if res is None else (accel.u32s(res[0]), res[1])


def _name_map_native(data: bytes, pos: int, end: int) -> tuple[array, list[str], int] | None:
    res = accel.native.name_map(data, pos, end)
    return None if res is None else (accel.u32s(res[0]), res[1], res[2])


def _exports_native(data: bytes, pos: int, end: int) -> tuple[list[str], bytes, array, int] | None:
    res = accel.native.exports(data, pos, end)
    return None if res is None else (res[0], res[1], accel.u32s(res[2]), res[3])


u32_vec = accel.twin("u32_vec", u32_vec_py, _u32_vec_native)
name_map = accel.twin("name_map", name_map_py, _name_map_native)
exports = accel.twin("exports", exports_py, _exports_native)
records = accel.twin("records", records_py, lambda cls, columns: accel.native.records(cls, columns))


def _function_section(m: Module, r: Reader) -> None:
    ftypes = m._ftypes
    res = u32_vec(r.data, r.pos, r.end)
    if res is not None and (not res[0] or max(res[0]) < len(m.types)):
        types, r.pos = res
        ftypes.extend(types)
        return
    ntypes, u32 = len(m.types), r.u32
    for _ in range(r.u32()):
        at = r.pos
        t = u32()
        if t >= ntypes:
            _check_type(m, r, t, f"function {len(ftypes)}", at)
        ftypes.append(t)


def _const_funcs(m: Module, r: Reader) -> tuple[list[int], list[int]]:
    """ref.func and global.get targets of a constant expression."""
    funcs: list[int] = []
    globs: list[int] = []
    for ev, a, _b in codemod.scan_const_expr(r, len(m._ftypes), len(m.globals)):
        if ev == codemod.op.EV_REF_FUNC:
            funcs.append(a)
        elif ev == codemod.op.EV_GLOBAL_GET:
            globs.append(a)
    return funcs, globs


def _table_section(m: Module, r: Reader) -> None:
    for _ in range(r.u32()):
        with_init = r.pos < r.end and r.data[r.pos] == 0x40
        if with_init:  # 0x40 0x00 tabletype expr (function references: a table with an initializer)
            r.pos += 1
            if r.u8() != 0x00:
                raise r.error("invalid table encoding (0x40 must be followed by 0x00)", r.pos - 1)
        et = _reftype(r, "a table")
        mn, mx, shared = _limits(r, "table")
        table = Table(len(m.tables), et, mn, mx, shared=shared)
        if with_init:
            table.init_funcs, table.init_globals = _const_funcs(m, r)
        m.tables.append(table)


def _memory_section(m: Module, r: Reader) -> None:
    for _ in range(r.u32()):
        m.memory_types.append(_memory_type(r))
        m.memories += 1


def _global_section(m: Module, r: Reader) -> None:
    for _ in range(r.u32()):
        vt, mut, shared = _global_type(r)
        g = Global(len(m.globals), vt, mut, shared=shared)
        m.globals.append(g)  # appended first: an init expr may name earlier globals only, checked by index
        g.init_funcs, g.init_globals = _const_funcs(m, r)


def _export_section(m: Module, r: Reader) -> None:
    spaces = {"func": len(m._ftypes), "table": len(m.tables), "memory": m.memories, "global": len(m.globals),
              "tag": len(m.tags)}
    res = exports(r.data, r.pos, r.end)
    if res is not None:
        names, kinds, indices, end = res
        kind_names = [EXTERNAL_KINDS.get(k) for k in kinds]
        if all(k is not None and i < spaces[k] for k, i in zip(kind_names, indices)):
            m.exports.extend(map(Export, names, kind_names, indices))  # type: ignore[arg-type]
            r.pos = end
            return
    for _ in range(r.u32()):  # the Python reader: also what words any error
        name = r.name()
        at = r.pos
        byte = r.u8()
        kind = EXTERNAL_KINDS.get(byte)
        if kind is None:
            why = "exact function types are not allowed in exports" if byte == 0x20 else f"unknown export kind 0x{byte:02x}"
            raise r.error(why, at)
        idx = r.u32()
        if idx >= spaces[kind]:
            raise r.error(f"export {name!r} names {kind} {idx}, out of range", at)
        m.exports.append(Export(name, kind, idx))


def _func_index(m: Module, r: Reader) -> int:
    at = r.pos
    idx = r.u32()
    if idx >= len(m._ftypes):
        raise r.error(f"function index {idx} out of range ({len(m._ftypes)} functions)", at)
    return idx


def _func_indices(m: Module, r: Reader) -> list[int]:
    """A vec(funcidx), each in range."""
    res = u32_vec(r.data, r.pos, r.end)
    if res is not None and (not res[0] or max(res[0]) < len(m._ftypes)):
        r.pos = res[1]
        return res[0].tolist()
    return r.vec(lambda: _func_index(m, r))


def _element_section(m: Module, r: Reader) -> None:
    for i in range(r.u32()):
        at = r.pos
        flags = r.u32()
        if flags > 7:
            raise r.error(f"invalid element segment flags {flags}", at)
        table: int | None = None
        mode = "active"
        if flags & 1:
            mode = "declarative" if flags & 2 else "passive"
        elif flags & 2:
            table = r.u32()
        if mode == "active":
            table = table or 0
            _const_funcs(m, r)  # the offset expression
            if table >= len(m.tables):
                raise r.error(f"element segment {i} targets table {table}, out of range", at)
        seg = ElementSegment(i, mode, table, [])
        uses_exprs = bool(flags & 4)
        if flags & 3:  # elemkind byte or reftype
            seg.elem_type = _reftype(r, "an element segment") if uses_exprs else _elemkind(r)
        if uses_exprs:
            for _ in range(r.u32()):
                funcs, globs = _const_funcs(m, r)
                seg.functions.extend(funcs)
                seg.global_refs.extend(globs)
        else:
            seg.functions = _func_indices(m, r)
        m.elements.append(seg)


def _elemkind(r: Reader) -> ValType:
    if r.u8() != 0x00:
        raise r.error(f"invalid element kind 0x{r.data[r.pos - 1]:02x} (only 0x00, funcref, exists)", r.pos - 1)
    return ValType(0x70)


def _name_map(m: Module, r: Reader) -> tuple[list[int] | array, list[str]]:
    """A name map as (indices, names); a later name for the same index wins, as in a dict."""
    res = name_map(r.data, r.pos, r.end)
    if res is not None:
        idx, names, r.pos = res
        return idx, names
    idxs, names = [], []
    for _ in range(r.u32()):
        idxs.append(r.u32())
        names.append(r.name())
    return idxs, names


def _name_section(m: Module, r: Reader) -> None:
    """Names of functions, globals, tables, types, element segments; other subsections skipped."""
    while not r.at_end():
        sub_id = r.u8()
        sub = r.sub(r.u32())
        if sub_id == 0:
            m.module_name = sub.name()
        elif sub_id == 1:
            m._fnames.append(_name_map(m, sub))
        elif sub_id == 7:
            for idx, name in zip(*_name_map(m, sub)):
                if idx < len(m.globals):
                    m.globals[idx].name = name


def _start_section(m: Module, r: Reader) -> None:
    m.start = _func_index(m, r)


def _tag_section(m: Module, r: Reader) -> None:
    for _ in range(r.u32()):
        _tag_attribute(r)
        at = r.pos
        m.tags.append(_check_type(m, r, r.u32(), "tag", at))


def _data_count_section(m: Module, r: Reader) -> None:
    m.data_count = r.u32()


SECTION_READERS: dict[int, Callable[[Module, Reader], None]] = {
    1: _type_section, 2: _import_section, 3: _function_section, 4: _table_section,
    5: _memory_section, 6: _global_section, 7: _export_section, 8: _start_section,
    9: _element_section, 12: _data_count_section, 13: _tag_section,
}


def _scan_code(m: Module, data: bytes, r: Reader, progress: codemod.Progress | None) -> None:
    num_defined = len(m._ftypes) - m.num_imported_functions
    has_count = m.data_count is not None   # the data count section precedes the code section
    multi = bytes(bool(t.params) or len(t.results) > 1 for t in m.types)   # multi-value block types
    m.code = codemod.scan_code(data, r.pos, r.end, m.num_imported_functions, len(m._ftypes), len(m.globals),
                               m.path, progress, has_count, multi)
    if len(m.code.bodies) // 2 != num_defined:
        raise r.error(f"code section has {len(m.code.bodies) // 2} bodies, function section declares {num_defined}")
    r.pos = r.end


def _data_section(m: Module, r: Reader) -> None:
    r.pos, m.data_uses = codemod.scan_data(r.data, r.pos, r.end, len(m._ftypes), len(m.globals), m.path)


def sections(r: Reader) -> Iterator[tuple[int, int, Reader]]:
    """(section id, offset of its id byte, a reader over its payload), in file order."""
    while not r.at_end():
        at = r.pos
        sid = r.u8()
        yield sid, at, r.sub(r.u32())


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: decoding and graph building make hundreds of thousands of
    objects and no cycles, and the collector's passes over them cost a third of the time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def decode(data: bytes, path: str = "<wasm>", progress: codemod.Progress | None = None,
           release: Callable[[int, int], None] | None = None) -> Module:
    """Decode a whole binary. Raises `DecodeError` (one line, with offset) on anything malformed.

    `data` is any buffer (bytes, or the mmap `read_module` uses); `release(start, end)` is called
    after each section is read, so a mapped file need not stay in memory behind the reader. (The C
    twins are used when built and not switched off: `asyncify_doctor.accel`.)"""
    with no_gc():
        return _decode(data, path, progress, release)


def _decode(data: bytes, path: str, progress: codemod.Progress | None,
            release: Callable[[int, int], None] | None) -> Module:
    r = Reader(data, 8, len(data), path)
    if data[:4] != MAGIC[:len(data)] or len(data) < 8:
        what = "wrong magic (expected \\0asm)" if data[:4] != MAGIC[:len(data)] else "file is shorter than the 8-byte header"
        raise r.error(f"not a wasm binary: {what}", 0)
    version = int.from_bytes(data[4:8], "little")
    if version != 1:
        raise r.error(f"unsupported wasm version 0x{version:x} (components and other layers are not core modules)", 4)
    m = Module(path, len(data), data=data if isinstance(data, bytes) else b"")   # a mapped file: read again
    last, data_segments = 0, None
    for sid, at, sec in sections(r):
        rank = SECTION_ORDER.get(sid, 0)
        if rank:
            if rank <= last:
                prev = next(k for k, v in SECTION_ORDER.items() if v == last)
                raise r.error(f"{SECTION_NAMES[sid]} section out of order or repeated (after the "
                              f"{SECTION_NAMES[prev]} section)", at)
            last = rank
        if sid:
            m.section_spans[sid] = (sec.pos, sec.end - sec.pos)
        if sid == 0:
            name = sec.name()
            m.custom_sections.append((name, sec.pos, sec.end - sec.pos))
            if name == "name":
                _name_section(m, sec)
        elif sid == 10:
            _scan_code(m, data, sec, progress)
        elif sid == 11:
            data_segments = Reader(data, sec.pos, sec.end, path).u32()
            _data_section(m, sec)
            if not sec.at_end():
                raise sec.error("data section has bytes left after its last entry")
        elif sid in SECTION_READERS:
            SECTION_READERS[sid](m, sec)
            if not sec.at_end():
                raise sec.error(f"{SECTION_NAMES[sid]} section has bytes left after its last entry")
        else:
            raise r.error(f"unknown section id {sid}", at)
        if release is not None:
            release(at, sec.end)
    if m.code is None and len(m._ftypes) > m.num_imported_functions:
        raise r.error("function section declares bodies, but there is no code section")
    _check_data_count(m, r, data_segments)
    _make_functions(m)
    return m


def _check_data_count(m: Module, r: Reader, data_segments: int | None) -> None:
    """The binary format's rule that the data count section matches the data section (that code naming
    a data segment requires it is checked by the scanners, at the instruction)."""
    if m.data_count is not None and m.data_count != (data_segments or 0):
        raise r.error(f"the data count section says {m.data_count} data segments, the data section has "
                      f"{data_segments or 0}", 8)



def _make_functions(m: Module) -> None:
    """All Function records in one go, with their names (a later name for an index wins)."""
    n, nimp = len(m._ftypes), m.num_imported_functions
    names: list[str | None] = [None] * n
    for idxs, strs in m._fnames:
        if len(idxs) and idxs[-1] < n and idxs[-1] - idxs[0] + 1 == len(idxs) and all(map(lt, idxs, islice(idxs, 1, None))):
            names[idxs[0]:idxs[-1] + 1] = strs   # the usual map: a run of functions, in order
        elif not len(idxs) or max(idxs) < n:
            list(map(names.__setitem__, idxs, strs))
        else:
            for i, s in zip(idxs, strs):
                if i < n:
                    names[i] = s
    has = list(map(is_not, names, repeat(None)))
    for i, (mod, nm) in enumerate(m._fimports):
        if names[i] is None:
            names[i] = f"{mod}.{nm}"
    if not all(has[nimp:]):
        for i in range(nimp, n):
            if names[i] is None:
                names[i] = placeholder_name(i)
    mods = [mod for mod, _ in m._fimports] + [None] * (n - nimp)
    inames = [nm for _, nm in m._fimports] + [None] * (n - nimp)
    columns = (range(n), m._ftypes, names, has, mods, inames)
    m.functions = records(Function, columns)
    m._ftypes, m._fimports, m._fnames = [], [], []


def read_module(path: str | os.PathLike[str], progress: codemod.Progress | None = None,
                max_mb: float | None = None) -> Module:
    """Read and decode a `.wasm` file (`-`: standard input); missing, unreadable or oversized inputs
    (`--max-size`, `max_mb` MB, else the CLI's limit) are `InputError`s too.

    The file is opened once (`system.inputs`). A regular file is mapped, not read, and each section's
    pages are given back once it is decoded: peak memory is then about the largest section, not the
    whole file (PHP: 15 of 23 MB). A pipe, FIFO or device is read, at most to the limit, and refused
    at once when it does not open with the wasm magic (`/dev/zero`)."""
    op = open_input(path, max_mb=max_mb)
    with op.file as f:
        if op.regular and op.st.st_size:
            try:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                mm = None
            if mm is not None:
                with mm:
                    return decode(mm, str(path), progress, _releaser(mm))  # type: ignore[arg-type]
        data = read_opened(op, head=wasm_head, max_mb=max_mb)
    return decode(data, op.shown, progress)


def _releaser(mm: mmap.mmap) -> Callable[[int, int], None] | None:
    if not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    page = mmap.PAGESIZE

    def release(start: int, end: int) -> None:
        lo = start - start % page
        if end - lo >= 16 * page:  # only big sections are worth a system call
            mm.madvise(mmap.MADV_DONTNEED, lo, end - lo)
    return release


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes (read once, bounded: `system.inputs`), or an `InputError` that says why not."""
    return read_input(path)


__all__ = ["Module", "Function", "Table", "Global", "ElementSegment", "Export", "Import", "SubType",
           "ValType", "decode", "read_module", "placeholder_name", "display_name", "shown_name", "DecodeError"]


def display_name(module: Module, f: int) -> str:
    """Imports show as `module.name` (what `--imports` matches), others by their function name."""
    func = module.functions[f]
    return func.import_key if func.imported else func.name  # type: ignore[return-value]


def shown_name(module: Module, f: int) -> str:
    """`display_name`, with the real name after it where the binary's is minified and something outside
    it (Emscripten's JS glue) keeps the real one: `a.t (env.ipp_async)`, `wasm-function[12] (malloc)`."""
    alias = module.aliases.get(f)
    return f"{display_name(module, f)} ({alias})" if alias else display_name(module, f)
