"""CallGraph → what Binaryen's asyncify pass did to this binary, read from the code alone.

No names, exports or flags are needed; they only confirm. What the pass leaves behind
(src/passes/Asyncify.cpp, `Asyncify::addFunctions`, versions 104..132):

- five *runtime functions*: `start_unwind(data)` sets the state global to 1 and the data global to
  its argument; `start_rewind(data)` the same with 2; `stop_unwind()` and `stop_rewind()` set the
  state to 0 (identical bodies — an optimizer may merge them); all four then trap if the data
  buffer overflowed; `get_state()` returns the state. They are exported as `asyncify_*` unless a
  minifier renamed them or metadce dropped an unused one. The globals are defined, or imported
  (`env.__asyncify_state` / `env.__asyncify_data`) in Emscripten's dynamic builds.
- *instrumented functions* read the data global (to save and reload their locals); nothing else
  does, except the runtime functions and code they were inlined into. With `asyncify-asserts`
  uninstrumented functions read the state, never the data.
- after a call the build treated as able to unwind, instrumented code checks `state == 1`
  (`AsyncifyFlow::makePossibleUnwind`); after other calls it does not. So the binary says which
  imports its build took as async, and which functions start unwinds from inside the module.
- code that calls the runtime from inside the module (CRuby's setjmp and fibers): Binaryen never
  instruments a function that calls `start_unwind`/`stop_rewind` (the *top-most runtime*: it starts
  unwinds, so its callers are instrumented) or `stop_unwind`/`start_rewind` (the *bottom-most
  runtime*: the top of the unwound stack; propagation stops there) — `ModuleAnalyzer`'s
  `isTopMostRuntime` / `isBottomMostRuntime`. Before asyncify the same calls go to the imports
  `asyncify.start_unwind` etc., which the pass replaces.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from ..graph.callgraph import CallGraph, events_of
from ..decode import Module
from ..decode import opcodes as op

START_UNWIND, STOP_UNWIND, START_REWIND, STOP_REWIND, GET_STATE = (
    "start_unwind", "stop_unwind", "start_rewind", "stop_rewind", "get_state")
STOP = "stop_unwind|stop_rewind"   # a state-0 function that cannot be told apart
ROLES = (START_UNWIND, STOP_UNWIND, START_REWIND, STOP_REWIND, GET_STATE)
TOPMOST = (START_UNWIND, STOP_REWIND)      # calling these makes a function start unwinds itself
BOTTOMMOST = (STOP_UNWIND, START_REWIND)   # calling these makes a function the top of the stack
STATE_OF_ROLE = {START_UNWIND: 1, START_REWIND: 2, STOP: 0}
EXPORT_ORDER = (START_UNWIND, STOP_UNWIND, START_REWIND, STOP_REWIND, GET_STATE)  # Binaryen adds them so
MAX_HELPER_BYTES = 96


@dataclass
class RuntimeCalls:
    """Functions that drive Asyncify from inside the module, with why (for `why` and reports)."""

    topmost: dict[int, str] = field(default_factory=dict)      # start unwinds: callers get instrumented
    bottommost: dict[int, str] = field(default_factory=dict)   # top of the unwound stack: never instrumented
    ambiguous: dict[int, str] = field(default_factory=dict)    # call a stop function we cannot tell apart
    sources: dict[int, str] = field(default_factory=dict)      # instrumented AND start unwinds: runtime code
                                                               # was inlined into them after the pass

    def __bool__(self) -> bool:
        return bool(self.topmost or self.bottommost or self.ambiguous or self.sources)


@dataclass
class AsyncifyBuild:
    """What the asyncify pass left in a binary. `problems` non-empty means: Asyncify's shape is
    there but it could not be fully recognised — say so and stop, never guess."""

    asyncified: bool
    state_global: int | None = None
    data_global: int | None = None
    helpers: dict[int, str] = field(default_factory=dict)            # function → role
    helper_evidence: dict[int, str] = field(default_factory=dict)    # how each role was told
    instrumented: set[int] = field(default_factory=set)
    checked: dict[int, int] = field(default_factory=dict)      # callee → instrumented callers that check after it
    unchecked: dict[int, int] = field(default_factory=dict)    # callee → instrumented callers that do not
    checked_pairs: set[tuple[int, int]] = field(default_factory=set)   # (instrumented caller, callee) checked
    indirect_checked: int = 0          # instrumented functions that check after their call_indirect
    indirect_unchecked: int = 0        # … and that do not
    runtime: RuntimeCalls = field(default_factory=RuntimeCalls)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signs: list[str] = field(default_factory=list)    # why we think it is asyncified at all

    @property
    def helper_functions(self) -> set[int]:
        return set(self.helpers)

    def async_imports(self, module: Module) -> list[int]:
        """Imports the build treated as able to unwind: instrumented code checks the state after them."""
        return sorted(f for f in self.checked if module.functions[f].imported)

    def not_async_imports(self, module: Module) -> list[int]:
        """Imports called from instrumented code with no check after them: the build took them as sync."""
        return sorted(f for f in self.unchecked if module.functions[f].imported and f not in self.checked)


# --- the runtime functions, by their bodies -----------------------------------------------------

@dataclass(frozen=True)
class _Shape:
    state: int          # the global set to a constant
    value: int          # that constant
    data: int | None    # the global set from the parameter
    reads: frozenset[int]


def _body(m: Module, f: int) -> list[tuple[int, int]] | None:
    if m.code is None or f < m.num_imported_functions or m.body_size(f) > MAX_HELPER_BYTES:
        return None
    return m.body_ops(f)


_HELPER_OK = {op.GLOBAL_GET, 0x24, 0x20, 0x21, 0x22, op.I32_CONST, 0x42, 0x28, 0x29, 0x4B, 0x56, 0x04, 0x0D, 0x00, 0x0B,
              0x02, 0x01, 0x0F}   # global.get/set local.get/set/tee consts loads gt_u(32/64) if br_if unreachable end block nop return


def _setter_shape(m: Module, f: int, ops: list[tuple[int, int]]) -> _Shape | None:
    """`state = K; [data = param 0;] if (stack pos > stack end) unreachable` — in any order the
    optimizer leaves it; no calls, nothing else."""
    if any(code not in _HELPER_OK for code, _ in ops):
        return None
    const_sets, param_sets = [], []
    for i, (code, imm) in enumerate(ops):
        if code != 0x24:
            continue
        prev = ops[i - 1] if i else (None, None)
        if prev[0] == op.I32_CONST:
            const_sets.append((imm, prev[1]))
        elif prev == (0x20, 0):
            param_sets.append(imm)
        else:
            return None
    sig = m.func_type(f)
    if len(const_sets) != 1 or len(param_sets) != len(sig.params) or len(param_sets) > 1 or sig.results:
        return None
    state, value = const_sets[0]
    if value not in (0, 1, 2) or (value == 0) != (not param_sets):
        return None
    reads = frozenset(imm for code, imm in ops if code == op.GLOBAL_GET)
    data = param_sets[0] if param_sets else None
    if state in reads or (data is not None and reads - {data}) or len(reads) > 1:
        return None
    return _Shape(state, value, data, reads)


def _is_get_state(m: Module, f: int, ops: list[tuple[int, int]], state: int) -> bool:
    sig = m.func_type(f)
    body = [c for c in ops if c[0] not in (0x0B, 0x0F, 0x01)]
    return not sig.params and len(sig.results) == 1 and body == [(op.GLOBAL_GET, state)]


def _candidates(graph: CallGraph) -> list[int]:
    """Small functions that write a global and call nothing: the only ones worth decoding."""
    m = graph.module
    writers = set(events_of(_events(m), op.EV_GLOBAL_SET)[0::4])
    off = graph.direct.off   # calls nothing: an empty row
    return sorted(f for f in writers if off[f] == off[f + 1] and f not in graph.indirect_sites
                  and m.body_size(f) <= MAX_HELPER_BYTES)


def _find_helpers(graph: CallGraph, build: AsyncifyBuild) -> None:
    m = graph.module
    shapes: dict[int, _Shape] = {}
    for f in _candidates(graph):
        ops = _body(m, f)
        shape = _setter_shape(m, f, ops) if ops is not None else None
        if shape is not None:
            shapes[f] = shape
    if not shapes:
        return
    states = {s.state for s in shapes.values()}
    datas = {s.data for s in shapes.values() if s.data is not None} | {d for s in shapes.values() for d in s.reads}
    if len(states) != 1 or len(datas) != 1:
        build.problems.append(f"functions that look like Asyncify's runtime disagree on its globals (state "
                              f"{sorted(states)}, data {sorted(datas)})")
        return
    build.state_global, build.data_global = states.pop(), datas.pop()
    for f, s in shapes.items():
        build.helpers[f] = {1: START_UNWIND, 2: START_REWIND, 0: STOP}[s.value]
        build.helper_evidence[f] = "body"
    for f in range(m.num_imported_functions, len(m.functions)):
        if f not in build.helpers and graph.direct[f] == [] and m.body_size(f) <= 16:
            ops = _body(m, f)
            if ops is not None and _is_get_state(m, f, ops, build.state_global):
                build.helpers[f] = GET_STATE
                build.helper_evidence[f] = "body"
    _tell_stops_apart(m, build)


def _tell_stops_apart(m: Module, build: AsyncifyBuild) -> None:
    """stop_unwind and stop_rewind have the same body: use their export names, else the order in
    which Binaryen exports the five (start_unwind, stop_unwind, start_rewind, stop_rewind)."""
    stops = [f for f, role in build.helpers.items() if role == STOP]
    by_name = {e.name: e.index for e in m.exports if e.kind == "func"}
    for role in (STOP_UNWIND, STOP_REWIND):
        f = by_name.get(f"asyncify_{role}")
        if f in stops:
            build.helpers[f] = role if build.helpers[f] == STOP else STOP   # one function exported as both: merged
            build.helper_evidence[f] = "export name"
    order = [build.helpers.get(e.index) for e in m.exports if e.kind == "func" and e.index in build.helpers]
    exported = [e.index for e in m.exports if e.kind == "func" and e.index in build.helpers]
    if order[:4] in ([START_UNWIND, STOP, START_REWIND, STOP], ) and exported[1] != exported[3]:
        for f, role in ((exported[1], STOP_UNWIND), (exported[3], STOP_REWIND)):
            if build.helpers[f] == STOP:
                build.helpers[f] = role
                build.helper_evidence[f] = "export order"


# --- the rest of the build ----------------------------------------------------------------------

# What an optimizer may put above the prelude: blocks opening, constants put into locals, and the
# state read for the next `if (state == 0)` merged into it (`global.get; i32.eqz`, `select`).
_BEFORE_PRELUDE = frozenset((0x01, 0x02, 0x03, 0x1B, 0x20, 0x21, 0x22, 0x41, 0x42, 0x43, 0x44, 0x45))
_PRELUDE_WINDOW = 12


def has_prelude(m: Module, f: int, state: int) -> bool:
    """Does the body open with Asyncify's rewind check `if (state == 2)` (AsyncifyLocals' and
    AsyncifyFlow's first statement; the optimizer may wrap it in blocks and hoist constant local
    initialisations above it)? Every instrumented function does; code an instrumented function
    was inlined into does not."""
    ops = m.body_ops(f, limit=_PRELUDE_WINDOW + 3)
    shapes = (((op.GLOBAL_GET, state), (op.I32_CONST, 2), (op.I32_EQ, 0)),
              ((op.I32_CONST, 2), (op.GLOBAL_GET, state), (op.I32_EQ, 0)))
    for i in range(min(len(ops), _PRELUDE_WINDOW)):
        if tuple(ops[i:i + 3]) in shapes:
            return True
        code, imm = ops[i]
        if code not in _BEFORE_PRELUDE and ops[i] != (op.GLOBAL_GET, state):
            return False
    return False


def _events(m: Module) -> array:
    return m.code.events if m.code else array("I")


def _readers(m: Module, g: int) -> set[int]:
    return set(events_of(_events(m), op.EV_GLOBAL_GET, g)[0::4])


def _inline_runtime(graph: CallGraph, build: AsyncifyBuild) -> dict[int, set[str]]:
    """Functions (other than the helpers) that set the state themselves: a runtime function was
    inlined into them. Their role follows from the constant they store."""
    m, s = graph.module, build.state_global
    if s is None:
        return {}
    writers = set(events_of(_events(m), op.EV_GLOBAL_SET, s)[0::4])
    out: dict[int, set[str]] = {}
    for f in sorted(writers - set(build.helpers)):
        ops = m.body_ops(f)
        roles = set()
        for j, (code, imm) in enumerate(ops):
            if code == 0x24 and imm == s:
                prev = ops[j - 1] if j else (None, None)
                roles.add({1: START_UNWIND, 2: START_REWIND, 0: STOP}.get(prev[1], "?") if prev[0] == op.I32_CONST else "?")
        out[f] = roles
    return out


def runtime_calls(graph: CallGraph, build: AsyncifyBuild | None = None) -> RuntimeCalls:
    """Who drives Asyncify from inside the module. Before asyncify: callers of the imports
    `asyncify.start_unwind` etc.; after: callers of the runtime functions (or code they were
    inlined into). Binaryen: a function that does both is bottom-most (it is never instrumented)."""
    m = graph.module
    roles_of: dict[int, str] = {}
    for fn in m.functions:
        if fn.import_module == "asyncify" and fn.import_name in (START_UNWIND, STOP_UNWIND, START_REWIND, STOP_REWIND):
            roles_of[fn.index] = fn.import_name
    if build is not None:
        roles_of.update(build.helpers)
    calls: dict[int, set[str]] = {}
    rev = graph.reverse("ignore")   # rows of callers: functions by direct call, else site nodes (>= n)
    for callee, role in roles_of.items():
        if role == GET_STATE:
            continue
        for f in rev[callee]:
            if f < graph.n and f not in roles_of:
                calls.setdefault(f, set()).add(role)
    if build is not None and build.state_global is not None:
        for f, roles in _inline_runtime(graph, build).items():
            calls.setdefault(f, set()).update(r for r in roles if r != "?")
            if "?" in roles:
                build.notes.append(f"{m.functions[f].name} sets the Asyncify state to a value computed at run "
                                   "time; its role in unwinding is not known")
    out = RuntimeCalls()
    for f, roles in sorted(calls.items()):
        what = ", ".join(f"asyncify_{r}" if r != STOP else "asyncify_stop_unwind or _stop_rewind" for r in sorted(roles))
        if roles & set(BOTTOMMOST):
            out.bottommost[f] = f"calls {what}: the top of the unwound stack, never instrumented"
        elif roles & set(TOPMOST):
            out.topmost[f] = f"calls {what}: starts unwinds itself"
        elif STOP in roles:
            out.ambiguous[f] = f"calls {what} (the two have the same body and could not be told apart)"
    return out


def _checks(graph: CallGraph, build: AsyncifyBuild, readers: set[int]) -> None:
    """Per callee: how many instrumented callers check the state after calling it, and how many do
    not. Checks in code that instrumented code was inlined into (`readers`) count as evidence too."""
    m, s = graph.module, build.state_global
    if s is None:
        return
    checked_pairs = build.checked_pairs
    checks = events_of(_events(m), op.EV_CALL_CHECK, -1, s)
    checked_pairs.update((f, a) for f, a in zip(checks[0::4], checks[2::4]) if f in readers)
    for f in sorted(readers - build.instrumented):
        for callee in graph.direct[f]:
            if (f, callee) in checked_pairs:
                build.checked[callee] = build.checked.get(callee, 0) + 1
    for f in build.instrumented:
        for callee in graph.direct[f]:
            bucket = build.checked if (f, callee) in checked_pairs else build.unchecked
            bucket[callee] = bucket.get(callee, 0) + 1
        if f in graph.indirect_sites:
            if (f, op.NO_CALLEE) in checked_pairs:
                build.indirect_checked += 1
            else:
                build.indirect_unchecked += 1
    mixed = sorted(c for c in build.checked if c in build.unchecked)
    if mixed:
        names = ", ".join(m.functions[c].import_key or m.functions[c].name for c in mixed[:5])
        build.notes.append(f"{len(mixed)} callee(s) are checked after some calls and not after others ({names}); "
                           "counted as able to unwind")


def _signs(m: Module) -> list[str]:
    """Names that suggest Asyncify without proving it (a stripped or hand-made binary may have none)."""
    signs = [f"export {e.name}" for e in m.exports if e.name.startswith("asyncify_")]
    signs += [f"import {g.import_key}" for g in m.globals if g.import_key in ("env.__asyncify_state", "env.__asyncify_data")]
    return signs


def recognize(graph: CallGraph) -> AsyncifyBuild:
    """Recognise an asyncified binary from its code. Never raises on odd input: what could not be
    recognised goes to `problems` (the CLI then exits 2 with the first one)."""
    with graph.module.rereading():
        return _recognize(graph)


def _recognize(graph: CallGraph) -> AsyncifyBuild:
    m = graph.module
    build = AsyncifyBuild(False, signs=_signs(m))
    _find_helpers(graph, build)
    roles = set(build.helpers.values())
    if build.problems:
        return build
    if not build.helpers:
        if build.signs:
            build.problems.append(f"has Asyncify's names ({', '.join(build.signs[:3])}) but no function with "
                                  "the body of Asyncify's runtime (start_unwind/stop_unwind/...)")
        return build
    missing = [r for r in (START_UNWIND, START_REWIND) if r not in roles]
    if missing or not roles & {STOP, STOP_UNWIND, STOP_REWIND}:
        build.problems.append("found only part of Asyncify's runtime ("
                              + ", ".join(sorted(roles)) + "): cannot tell what the pass did")
        return build
    build.asyncified = True
    s, d = build.state_global, build.data_global
    assert s is not None and d is not None
    readers = _readers(m, d) - set(build.helpers)
    build.instrumented = {f for f in readers if has_prelude(m, f, s)}
    inlined = readers - build.instrumented
    build.runtime = runtime_calls(graph, build)
    _inlined_runtime(m, build)
    plain = sorted(f for f in inlined if f not in build.runtime.bottommost and f not in build.runtime.topmost)
    if plain:
        build.notes.append(f"{len(plain)} function(s) read Asyncify's data without its rewind prelude "
                           f"({', '.join(m.functions[f].name for f in plain[:4])}): instrumented code was inlined "
                           "into them after the pass; counted as not instrumented")
    _checks(graph, build, readers)
    return build


def _inlined_runtime(m: Module, build: AsyncifyBuild) -> None:
    """After the pass an optimizer may inline runtime code into instrumented functions (or the
    other way round). An instrumented function that now starts unwinds itself is a source *and* must
    stay instrumented; one that now stops them is no barrier (it was instrumented for other reasons)."""
    rt = build.runtime
    for f in sorted(set(rt.topmost) & build.instrumented):
        rt.sources[f] = rt.topmost.pop(f).replace("starts unwinds itself", "starts unwinds itself (inlined runtime code)")
    moved = sorted((set(rt.bottommost) | set(rt.ambiguous)) & build.instrumented)
    for f in moved:
        rt.bottommost.pop(f, None)
        rt.ambiguous.pop(f, None)
    if rt.sources or moved:
        build.notes.append(f"{len(rt.sources) + len(moved)} instrumented function(s) contain inlined Asyncify "
                           "runtime code (the build was optimised after the pass)")


def instrumented_names(wasm: bytes) -> set[str]:
    """Names of the functions Binaryen instrumented in an asyncified binary."""
    from ..decode import decode

    g = CallGraph(decode(wasm))
    return {g.module.functions[f].name for f in recognize(g).instrumented}
