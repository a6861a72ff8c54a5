"""Crash frames → functions, honestly.

A frame names a function of the binary that ran (the *crashed* binary, e.g. the asyncified and
optimised build). A list needs names from the binary Binaryen reads (the *pre-asyncify* binary, the
call graph's). In order of trust:

1. a name the runtime printed: it comes from the crashed binary's own name section, and Binaryen
   keeps names, so it is looked up by name in the pre-asyncify binary;
2. an index or byte offset, read in the crashed binary (given with `--built`; or the one binary given,
   when the frames' byte offsets fall inside the functions they name there — then it is the binary
   that printed them): its name from that binary's name section;
3. an index in a nameless crashed binary: taken over into the pre-asyncify binary only when the two
   are shown to share the function index space (`same_index_space`: same imports, Asyncify's own
   functions only added at the end, same signature, same direct calls and same table contents at
   every index, same exports). At -O0 they do; once wasm-opt's -O2 inlines, they do not, and the
   frame stays unnamed with the reason and what to do, never a guess. Where the pre-asyncify binary
   has no name for the function either, the frame gets the name Binaryen gives it when it reads that
   binary (`lists.binaryen_names`: `"12"`, the defined index; `fimport$3`): what a list for wasm-opt
   run on it must say (`Mapped.invented`), and what no emcc list can (emcc matches link-time names).
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from ..graph.callgraph import CallGraph
from ..decode import Module
from ..lists.binaryen_names import LATEST, binaryen_names
from .parse import Crash, Frame

ASYNCIFY_HELPERS = ("asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind",
                    "asyncify_stop_rewind", "asyncify_get_state")
KEEP_NAMES = "keep names in the build (wasm-opt -g, emcc --profiling-funcs or -g2)"


@dataclass
class IndexSpace:
    """Whether two binaries number their functions alike, and the first difference if not."""

    shared: bool
    reason: str
    detail: str = ""        # the first difference, when not shared


def _label(m: Module) -> str:
    return Path(m.path).name


def _func_exports(m: Module) -> dict[str, int]:
    return {e.name: e.index for e in m.exports if e.kind == "func"}


def _element_functions(m: Module) -> list[list[int]]:
    return [s.functions for s in m.elements if s.mode == "active"]


def _is_helper(m: Module, f: int, exports_by_index: dict[int, str]) -> bool:
    name = exports_by_index.get(f) or (m.functions[f].name if m.functions[f].has_name else "")
    return name.startswith("asyncify_")


def same_index_space(pre: Module, built: Module, pre_graph: CallGraph | None = None,
                     built_graph: CallGraph | None = None) -> IndexSpace:
    """Is function N of `built` function N of `pre`, for every N of `pre`? Asyncify adds its own
    functions after the others and changes bodies, but keeps every function's index, signature and
    direct calls (in order), the tables and the exports; optimisations that inline or remove
    functions change them."""
    a, b = _label(pre), _label(built)

    def no(why: str) -> IndexSpace:
        return IndexSpace(False, f"{b} does not number its functions like {a}: {why}", why)

    if [f.import_key for f in pre.functions if f.imported] != [f.import_key for f in built.functions if f.imported]:
        return no("their function imports differ")
    n = len(pre.functions)
    if len(built.functions) < n:
        return no(f"{b} has {len(built.functions)} functions, {a} {n} (inlined or removed)")
    by_index = {i: name for name, i in _func_exports(built).items()}
    extra = [f for f in range(n, len(built.functions)) if not _is_helper(built, f, by_index)]
    if extra:
        return no(f"{b} has {len(extra)} function(s) more than {a} besides Asyncify's own")
    pg = pre_graph or CallGraph(pre)
    bg = built_graph or CallGraph(built)
    for f in range(pre.num_imported_functions, n):
        pf, bf = pre.functions[f], built.functions[f]
        what = f"function {f}" + (f" ({pf.name})" if pf.has_name else "")
        if pre.func_type(f).signature() != built.func_type(f).signature():
            return no(f"{what} is {pre.func_type(f).signature()} in {a} but {built.func_type(f).signature()} in {b} "
                      "(an optimisation after asyncify inlined or removed functions)")
        if pf.has_name and bf.has_name and pf.name != bf.name:
            return no(f"{what} is {bf.name} in {b}")
        if pg.facts(f).calls != bg.facts(f).calls:
            return no(f"{what} makes other direct calls in {b} (optimised after asyncify)")
    exports = _func_exports(built)
    for name, f in _func_exports(pre).items():
        if exports.get(name, f) != f:
            return no(f"export {name} is function {f} in {a} but {exports[name]} in {b}")
    if _element_functions(pre) != _element_functions(built):
        return no("their tables hold other functions")
    return IndexSpace(True, f"{b} numbers its functions like {a} (same imports, signatures, direct calls, "
                            "tables and exports; Asyncify's own functions added at the end)")


def _body_starts(m: Module) -> list[int]:
    return list(m.code.bodies[0::2]) if m.code else []


def function_at(m: Module, offset: int, starts: list[int] | None = None) -> int | None:
    """The function whose body holds module byte `offset`."""
    starts = _body_starts(m) if starts is None else starts
    i = bisect_right(starts, offset) - 1
    if i < 0 or m.code is None or offset >= starts[i] + m.code.bodies[2 * i + 1]:
        return None
    return m.num_imported_functions + i


@dataclass
class Mapped:
    """A crash's frames as functions of the target binary (innermost first), and those that could
    not be named, each with the reason."""

    names: list[str] = field(default_factory=list)          # each once, innermost first
    functions: list[int] = field(default_factory=list)      # indices in the target binary, when there is one
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    frames: list[tuple[str, str | None]] = field(default_factory=list)   # every frame: (as printed, its name or None)
    invented: dict[str, int] = field(default_factory=dict)   # Binaryen's name for a nameless function → its index

    @property
    def reason(self) -> str | None:
        return self.unresolved[0][1] if self.unresolved else None


class FrameMapper:
    """Maps frames into `target` (the pre-asyncify binary the list is for; None: names only),
    reading indices and offsets in `crashed` (the binary that ran; None: `target` may be it, if the
    frames' offsets say so)."""

    def __init__(self, target: Module | None, crashed: Module | None = None,
                 target_graph: CallGraph | None = None, binaryen_version: int | None = None) -> None:
        self.target, self.crashed = target, crashed
        self.binaryen_version = binaryen_version or LATEST   # the wasm-opt that names `target`'s nameless functions
        self._target_graph = target_graph
        self._by_name = {f.name: f.index for f in target.functions if f.has_name} if target else {}
        self._space: IndexSpace | None = None
        self._starts: dict[int, list[int]] = {}

    @property
    def space(self) -> IndexSpace | None:
        if self._space is None and self.target is not None and self.crashed is not None:
            self._space = same_index_space(self.target, self.crashed, self._target_graph)
        return self._space

    def _starts_of(self, m: Module) -> list[int]:
        if id(m) not in self._starts:
            self._starts[id(m)] = _body_starts(m)
        return self._starts[id(m)]

    def _agrees(self, m: Module, fr: Frame) -> bool | None:
        """Does the frame's byte offset lie in the function its index names, in `m`? None: cannot tell."""
        if fr.index is None or fr.offset is None:
            return None
        return function_at(m, fr.offset, self._starts_of(m)) == fr.index

    def _printed_by(self, m: Module, crash: Crash) -> bool:
        """Did `m` print these frames? Every frame with both an index and an offset agrees, and one does."""
        checks = [self._agrees(m, fr) for fr in crash.frames if fr.name is None]
        known = [c for c in checks if c is not None]
        return bool(known) and all(known)

    def map(self, crash: Crash) -> Mapped:
        out = Mapped()
        target_ran = (self.crashed is None and self.target is not None and self._printed_by(self.target, crash))
        for fr in crash.frames:
            name, why, idx = self._name(fr, target_ran)
            if idx is not None and name is not None:   # mapped by index to a function Binaryen names itself
                out.invented[name] = idx
                if not self.target.functions[idx].imported and idx not in out.functions:   # type: ignore[union-attr]
                    out.functions.append(idx)
            elif name is not None and self.target is not None and name not in ASYNCIFY_HELPERS:
                idx = self._by_name.get(name)
                if idx is None:
                    name, why = None, (f"{_label(self.target)} has no function named {name} "
                                       "(renamed, or made by an optimisation after asyncify)")
                elif not self.target.functions[idx].imported and idx not in out.functions:
                    out.functions.append(idx)
            out.frames.append((fr.label(), name))
            if name is None:
                out.unresolved.append((fr.label(), why))
            elif name not in ASYNCIFY_HELPERS and name not in out.names:
                out.names.append(name)
        return out

    def _name(self, fr: Frame, target_ran: bool) -> tuple[str | None, str, int | None]:
        """The frame's name, or why none; and the target's function index when the name is the one
        Binaryen invents for a function without one (then only the index says which function it is)."""
        if fr.name is not None:
            return fr.name, "", None
        if fr.index is None and fr.offset is None:
            return None, "the frame has neither a name nor an index", None
        if self.crashed is not None:
            return self._via_crashed(fr)
        if self.target is not None:
            if not target_ran:
                return None, (f"the frames have no names, and their byte offsets do not fall inside the "
                              f"functions they name in {_label(self.target)}: it is not the binary that "
                              f"crashed, so its indices cannot be used; pass the crashed binary with --built, "
                              f"or {KEEP_NAMES}"), None
            f = self._index_in(self.target, fr)
            if f is not None and self.target.functions[f].has_name:
                return self.target.functions[f].name, "", None
            return None, (f"{_label(self.target)} has no name for function {f} ({KEEP_NAMES}; or pass the binary "
                          "before asyncify as WASM and this one as --built: where the two number their functions "
                          "alike, frames get the names Binaryen gives the first)"), None
        return None, (f"the frames have no names: {KEEP_NAMES}, or pass the binary before asyncify "
                      "(--wasm) and the crashed one (--built)"), None

    def _index_in(self, m: Module, fr: Frame) -> int | None:
        if fr.index is not None:
            return fr.index if fr.index < len(m.functions) else None
        return function_at(m, fr.offset or 0, self._starts_of(m))

    def _via_crashed(self, fr: Frame) -> tuple[str | None, str, int | None]:
        crashed = self.crashed
        assert crashed is not None
        if self._agrees(crashed, fr) is False:
            return None, (f"byte offset 0x{fr.offset:x} is not inside function {fr.index} of "
                          f"{_label(crashed)}: it is not the binary that printed this trace"), None
        f = self._index_in(crashed, fr)
        if f is None:
            return None, f"{fr.label()} is not a function of {_label(crashed)}", None
        if crashed.functions[f].has_name:
            return crashed.functions[f].name, "", None
        if self.target is None:
            return None, (f"{_label(crashed)} has no names ({KEEP_NAMES}, or pass the binary before asyncify "
                          "with --wasm)"), None
        space = self.space
        assert space is not None
        if not space.shared:
            return None, (f"{_label(crashed)} has no names, and it does not number its functions like "
                          f"{_label(self.target)} ({space.detail}), so its indices cannot be used; {KEEP_NAMES}"), None
        if f >= len(self.target.functions):
            export = next((e.name for e in crashed.exports if e.kind == "func" and e.index == f), "")
            if export in ASYNCIFY_HELPERS:
                return export, "", None
            return None, f"function {f} is one of Asyncify's own in {_label(crashed)}, not a function of {_label(self.target)}", None
        if self.target.functions[f].has_name:
            return self.target.functions[f].name, "", None
        naming = binaryen_names(self.target, self.binaryen_version)
        given = naming.names[f]
        if given is None:
            return None, (f"function {f} has no name in {_label(self.target)} either, and Binaryen "
                          f"{self.binaryen_version} cannot name it ({naming.why_not.get(f, '')}); {KEEP_NAMES}"), None
        return given, "", f
