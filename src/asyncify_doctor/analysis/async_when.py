"""`--async-when IMPORT:ARG=V[,V…]`: an async import that suspends only for some values of one
argument (zero-based), e.g. Emscripten's `__syscall_fcntl64(fd, cmd, varargs)`, which can wait only
for `F_SETLKW` (14): `env.__syscall_fcntl64:1=14`. The user states it; the tool proves which calls
cannot meet it and leaves the rest as they are.

Each function gets a *condition*: never suspends (None), may suspend whatever its arguments
(`ALWAYS`), or may suspend only when its parameter k has one of the values V (`(k, V)`). The stated
imports start with their statement; other async imports, and everything that reaches them, are
`ALWAYS`. A caller's condition is the join over its calls of what each call needs to suspend:

- a call whose argument is proven outside the callee's values (`values.Values`: constants, locals,
  masks, joins, parameters every caller fixes, results, constant loads) never suspends;
- a call that passes the caller's own parameter k unchanged (perhaps joined with constants outside
  the values) suspends only when that parameter is in the values: the caller is `(k, V)`;
- a call that runs only after the caller tested its parameter k against constants (`if p == c`,
  `br_if p != c`, …) suspends only when k has those values;
- anything else (unknown argument, an indirect call that may reach such a function, an edge seen at
  run time) keeps the call: the caller may suspend whenever it runs.

A direct edge caller → callee whose every call is proven never to suspend is left out of the closure
(`Pruning.edges`), so the caller joins the list only through other calls. Sound as long as the
statement is true of the host: an import stated this way must really answer at once for every other
value of that argument.

Why the conditions are right: a suspension under f happens in one of f's calls, whose callee
suspends deeper. If each callee's condition is right, what a call needs to suspend (above) is a
condition f must meet, and f's condition is the join of them over its calls; so, by induction on how
deep the suspension is, every condition that equals the join computed from its callees' final
conditions is right, whatever order they were computed in (`ALWAYS` is right for anything). The
worklist ends only when every condition it computed is such a join.
"""
from __future__ import annotations

from itertools import compress, repeat
from operator import ne
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..graph.values import (
    JOIN,
    M32,
    M64,
    PARAM,
    AbsVal,
    Node,
    Summary,
    _bounds,
    members,
    show,
)
from .closure import AsyncWhen, Pruning

if TYPE_CHECKING:
    from ..decode import Module
    from ..graph.callgraph import CallGraph, IndirectMode
    from .closure import Analysis

ALWAYS = "always"
MAX_ROUNDS = 16   # a node whose state changed this often is taken as ALWAYS (safe, and it ends)
Cond = None | str | tuple[int, frozenset]   # never | ALWAYS | (param, values)


def parse_async_when(module: Module, specs: list[str], async_imports: list[int]) -> list[AsyncWhen]:
    """`IMPORT:ARG=V[,V…]` each: IMPORT as `module.name` (a bare name is `env.NAME`), ARG a zero-based
    argument of an integer type, V integers (decimal or 0x…, negative ones in two's complement).
    Bad input is one clear `UsageError` line."""
    out: list[AsyncWhen] = []
    by_key = {f.import_key: f for f in module.functions if f.imported}
    for spec in specs:
        left, eq, right = spec.partition("=")
        name, colon, arg_text = left.rpartition(":")
        if not eq or not colon or not name or not right:
            raise UsageError(f"--async-when {spec!r}: expected IMPORT:ARG=V[,V...], e.g. env.__syscall_fcntl64:1=14")
        key = name if "." in name else f"env.{name}"
        func = by_key.get(key)
        if func is None:
            raise UsageError(f"--async-when {spec!r}: the module imports no function {key}")
        if func.index not in async_imports:
            raise UsageError(f"--async-when {spec!r}: {key} is not an async import (not matched by --imports)")
        params = module.func_type(func.index).params
        try:
            arg = int(arg_text)
        except ValueError:
            raise UsageError(f"--async-when {spec!r}: ARG must be a zero-based argument number") from None
        if not 0 <= arg < len(params):
            raise UsageError(f"--async-when {spec!r}: {key} takes {len(params)} argument(s), numbered from 0")
        if params[arg].code not in (0x7F, 0x7E):
            raise UsageError(f"--async-when {spec!r}: argument {arg} of {key} is {params[arg]}, not an integer")
        mask = M32 if params[arg].code == 0x7F else M64
        try:
            vals = frozenset(int(v.strip(), 0) & mask for v in right.split(","))
        except ValueError:
            raise UsageError(f"--async-when {spec!r}: values must be integers (decimal or 0x...)") from None
        if any(w.function == func.index for w in out):
            raise UsageError(f"--async-when {spec!r}: {key} is named twice (one statement per import)")
        out.append(AsyncWhen(func.index, key, arg, vals))
    return out


def _join(a: Cond, b: Cond) -> Cond:
    if a is None:
        return b
    if b is None or a == b:
        return a
    if not isinstance(a, tuple) or not isinstance(b, tuple):
        return ALWAYS
    (ka, va), (kb, vb) = a, b
    return (ka, va | vb) if ka == kb else ALWAYS


def _disjoint(v: AbsVal, values: frozenset) -> bool:
    if v is None:
        return False
    if isinstance(v, frozenset):
        return not v & values
    if not v:
        return True
    lo, hi = _bounds(v)
    return all(not lo <= x <= hi for x in values)


def _narrowest(pc: dict[int, frozenset]) -> tuple[int, frozenset] | None:
    if not pc:
        return None
    k = min(pc, key=lambda p: (len(pc[p]), p))
    return k, pc[k]


class _Solver:
    def __init__(self, graph: CallGraph, mode: IndirectMode, always: set[int], barriers: set[int],
                 extra_edges: dict[int, set[int]]) -> None:
        self.graph, self.mode, self.always, self.barriers = graph, mode, always, barriers
        self.extra = extra_edges
        self.values = graph.values
        self.cond: dict[int, Cond] = {}
        self.why: dict[int, list[str]] = {}

    def of(self, v: int) -> Cond:
        """The current condition: computed, else `ALWAYS` for what reaches a plain async import."""
        if v in self.cond:
            return self.cond[v]
        return ALWAYS if v in self.always else None

    def site(self, u: int, call: tuple, cw: Cond, w: int) -> tuple[Cond, str]:
        """What one call u → w needs to suspend, and in words."""
        _at, _callee, args, pc = call
        m = self.graph.module
        name = m.functions[w].import_key or m.functions[w].name
        if cw is ALWAYS:
            narrow = _narrowest(pc)
            if narrow is None:
                return ALWAYS, ""
            return narrow, f"it calls {name} only when its argument {narrow[0]} is in {show(narrow[1])}"
        assert isinstance(cw, tuple)
        j, want = cw
        arg: Node = args[j]
        v = self.values.value(arg)
        if _disjoint(v, want):
            how = "" if isinstance(arg, int) else f" ({self.values.explain(arg)})"
            return None, f"argument {j} is {show(v)}{how}, and {name} suspends only when it is in {show(want)}"
        ks: set[int] = set()
        for x in (arg[1] if type(arg) is tuple and arg[0] == JOIN else (arg,)):
            if type(x) is tuple and x[0] == PARAM and x[1] == u:
                ks.add(x[2])
            elif not _disjoint(self.values.value(x), want):
                ks.add(-1)
        if len(ks) == 1 and -1 not in ks:
            k = ks.pop()
            vals = want & pc[k] if k in pc else want
            if not vals:
                return None, f"it tests its argument {k} to be in {show(pc[k])} first, and {name} suspends only for {show(want)}"
            return (k, vals), f"it passes its argument {k} as {name}'s argument {j}"
        narrow = _narrowest(pc)
        if narrow is not None:
            return narrow, f"it calls {name} only when its argument {narrow[0]} is in {show(narrow[1])}"
        return ALWAYS, ""

    def compute(self, u: int) -> Cond:
        g, m = self.graph, self.graph.module
        if g.is_site(u):
            return ALWAYS if any(self.of(t) is not None for t in g.site_targets(u)) else None
        if m.functions[u].imported:   # a trampoline: re-enters its site
            return ALWAYS if any(self.of(s) is not None for s in g.successors(u, self.mode)) else None
        direct = set(g.direct[u])
        out: Cond = None
        summary: Summary | None = None
        for w in [*g.successors(u, self.mode), *self.extra.get(u, ())]:
            cw = self.of(w)
            if cw is None:
                continue
            if w not in direct or w in self.extra.get(u, ()):   # an indirect call, or seen at run time
                return ALWAYS
            if summary is None:
                summary = self.values.summary(u)
                if summary is None:
                    return ALWAYS
            for call in summary.calls:
                if call[1] == w:
                    c, text = self.site(u, call, cw, w)
                    if isinstance(c, tuple) and text not in self.why.setdefault(u, []):
                        self.why[u].append(text)
                    out = _join(out, c)
                    if out is ALWAYS:
                        return ALWAYS
        return out


def prune(graph: CallGraph, mode: IndirectMode, async_imports: list[int], statements: list[AsyncWhen],
          extra_edges: dict[int, set[int]] | None = None, roots: dict[int, str] | None = None,
          barriers: dict[int, str] | None = None, sources: dict[int, str] | None = None) -> Pruning:
    """Conditions for every function that reaches a stated import, and the edges that never suspend."""
    from .closure import UNREACHED, analyze
    out = Pruning(list(statements))
    if not statements:
        return out
    stated = {s.function: s for s in statements}
    plain = [f for f in async_imports if f not in stated]
    base = analyze(graph, plain, mode, extra_edges, roots=roots, barriers=barriers, sources=sources)
    always = set(compress(range(len(base.next_hop)), map(ne, base.next_hop, repeat(UNREACHED))))
    solver = _Solver(graph, mode, always, set(barriers or {}), extra_edges or {})
    # what starts unwinds itself, and under `all` every function with an indirect call, stays ALWAYS
    pinned = set(roots or {}) | set(sources or {}) | (set(graph.indirect_sites) if mode == "all" else set())
    rev = graph.reverse(mode)
    extra_callers: dict[int, list[int]] = {}
    for caller, callees in (extra_edges or {}).items():
        for callee in callees:
            extra_callers.setdefault(callee, []).append(caller)
    for s in statements:
        solver.cond[s.function] = (s.arg, s.values)
    # Callers of a changed node are computed again, those reaching plain async imports too (a call
    # of one may run only after a test of a parameter). Each state kept is one its node's calls
    # justify from its callees' states, which is all soundness needs (see the module docstring).
    work = list(stated)
    rounds: dict[int, int] = {}
    with graph.module.rereading():
        while work:
            v = work.pop()
            for u in [*rev[v], *extra_callers.get(v, ())]:
                if u in solver.barriers or u in pinned or u in stated:
                    continue
                new = solver.compute(u)
                if new != solver.of(u):
                    rounds[u] = rounds.get(u, 0) + 1
                    solver.cond[u] = ALWAYS if rounds[u] > MAX_ROUNDS else new
                    work.append(u)
        _edges(graph, solver, out, rev, extra_edges or {})
    for f, c in solver.cond.items():
        if isinstance(c, tuple) and f not in stated and not graph.is_site(f):
            out.conditions[f] = c
            out.reasons[f] = "; ".join(solver.why.get(f, [])[:3])
    return out


def _edges(graph: CallGraph, solver: _Solver, out: Pruning, rev, extra: dict[int, set[int]]) -> None:
    """The direct edges into conditional functions whose every call never suspends."""
    for w, cw in list(solver.cond.items()):
        if not isinstance(cw, tuple) or graph.is_site(w):
            continue
        for u in rev[w]:
            if graph.is_site(u) or u in solver.barriers or w in extra.get(u, ()) or w not in graph.direct[u]:
                continue
            s = solver.values.summary(u)
            if s is None:
                continue
            texts = []
            for call in s.calls:
                if call[1] == w:
                    c, text = solver.site(u, call, cw, w)
                    if c is not None:
                        break
                    texts.append(f"the call at byte 0x{call[0]:x}: {text}")
            else:   # no call of w that can run (each after a branch always taken): never made
                out.edges.add((u, w))
                out.proofs[(u, w)] = "; ".join(dict.fromkeys(texts)) if texts else \
                    "every call of it is in code that never runs (after a branch that is always taken)"


def condition_text(module: Module, pruning: Pruning, f: int) -> str | None:
    """`fcntl suspends only when its argument 1 is in {14}: …` for a conditional function."""
    c = pruning.conditions.get(f)
    if c is None:
        return None
    name = module.functions[f].name
    why = pruning.reasons.get(f)
    return f"{name} can suspend only when its argument {c[0]} is in {show(c[1])}" + (f" ({why})" if why else "")


def why_lines(analysis: Analysis, f: int) -> list[str]:
    """What `--async-when` proved about f's calls, for `why`."""
    pr: Pruning | None = getattr(analysis, "pruning", None)
    if pr is None or not pr.statements:
        return []
    m = analysis.module
    lines = []
    for (u, w), proof in sorted(pr.proofs.items()):
        if u == f:
            callee = m.functions[w].import_key or m.functions[w].name
            lines.append(f"  Its calls to {callee} never suspend: {proof}"
                         + ("" if w not in pr.conditions else f"; {condition_text(m, pr, w)}"))
    text = condition_text(m, pr, f)
    if text and analysis.contains(f):
        lines.append(f"  With --async-when: {text}.")
    return lines


__all__ = ["AsyncWhen", "Pruning", "condition_text", "members", "parse_async_when", "prune", "why_lines"]
