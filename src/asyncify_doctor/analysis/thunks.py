"""Functions Binaryen's own optimizer makes *after* the asyncify pass that are on the stack during an
unwind yet need no instrumentation: forwarding thunks.

What the default pipeline runs after a function-level pass over everything (`addDefaultGlobal
OptimizationPostPasses`, src/passes/pass.cpp:818-846@132, the same passes since 110) and what each
leaves in an asyncified binary:

- `dae-optimizing` (-O2+ or -Os+) edits functions in place (drops unused parameters/results);
- `inlining-optimizing` (-O2+ or -Oz) copies a callee into its callers: an instrumented callee
  inlined into an instrumented caller is inside a function that keeps its own rewind prelude; into
  an uninstrumented one (only a bottom-most runtime function, with a correct list) it is what
  `recognize` already calls "inlined"; partial inlining, the only form that makes new functions
  (`byn-split-*`), is off by default (`partialInliningIfs = 0`, pass.h:110@132);
- `duplicate-function-elimination` keeps one of identical bodies: identical to an instrumented body is
  instrumented;
- `merge-similar-functions` (-Oz only: `shrinkLevel >= 2`, pass.cpp:831@132, 597@110) merges functions
  that differ only in constants into a new shared function (a copy of one body, so still
  instrumented, prelude first) and turns each original into a **thunk**
  (`EquivalentClass::replaceWithThunk`, MergeSimilarFunctions.cpp:620-643@132): its locals cleared,
  its body `local.get 0 … local.get n-1` (every parameter, in order), the constants that told the
  originals apart (`makeConst` or `makeRefFunc`, lowerToExpression :129-137), and one `call` of the
  shared function — a `return_call` when the module has tail calls (`hasTailCall()`, :487; 116 and
  older always `call`). Nothing after it.
- the rest (`simplify-globals`, `remove-unused-module-elements`, `reorder-globals`, `directize`,
  `once-reduction`, `memory-packing`) makes no functions; `directize` only makes calls more precise.

So thunks are the one new kind of function on an unwinding stack, and they are safe uninstrumented.
From Asyncify.cpp@132: the instrumented caller C runs flattened code (`flatten`, :1861) whose call
operands are locals; at an unwind it saves the locals live at the call and the call's index
(`makeCallSupport`/`makePossibleUnwind`, :1193-1236; `AsyncifyLocals`, :1504-1556) and returns; on
rewind it reloads them, skips everything but that call (`if (normal || check_call_index(i))`) and
calls T again with the same arguments. T, uninstrumented, pushes nothing on the Asyncify stack: when
the shared function S unwinds (state 1, a dummy result: `LiteralUtils::makeZero`, :1551), T returns
that result at once — nothing runs after its call — and C sees the state and unwinds; on rewind T
recomputes the same operands (its parameters and constants: no side effect, no trap) and makes the
same, only, call, so S finds its own saved frame next on the stack, exactly as if C had called S
directly. The sequence of instrumented frames is the same with or without T. That argument needs
precisely: no locals, nothing but pure operands before the call, the call last, the result passed
through — the shape accepted here, and nothing else. And it needs C to check for an unwind after
calling T, which Binaryen adds only after calls of listed functions (an onlylist sets
`canChangeState` to exactly its entries): merge-similar-functions' thunks were listed under their
own names, so their callers check; a forwarder a list left out is not accepted (`forwarding_thunks`).
Checked on real builds: the C fixture tests/fixtures/thunks/similar.c at -Oz by Binaryen 110, 116, 123
and 132 (with tail calls: `return_call` thunks) runs right on wasmtime and node; quickjs-emscripten
asyncified then -Oz by 132 has 38 such thunks.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..graph.callgraph import CallGraph
from ..decode import Module
from ..decode import opcodes as op
from ..decode.reader import Reader
from .recognize import AsyncifyBuild

MAX_THUNK_BYTES = 96      # local.gets of every parameter, a few constants, a call
LOCAL_GET, CALL, RETURN_CALL, END, REF_FUNC = 0x20, 0x10, 0x12, 0x0B, 0xD2
CONST_TYPES = {op.I32_CONST: 0x7F, 0x42: 0x7E, 0x43: 0x7D, 0x44: 0x7C, 0xFD << 16 | 12: 0x7B}   # t.const, v128.const


def thunk_callee(m: Module, f: int) -> int | None:
    """The function `f` forwards to, if its body is exactly a merge-similar-functions thunk (module
    docstring); else None."""
    if f < m.num_imported_functions or m.body_size(f) > MAX_THUNK_BYTES or m.code is None:
        return None
    i = f - m.num_imported_functions
    start, size = m.code.bodies[2 * i], m.code.bodies[2 * i + 1]
    if Reader(m.span(start, size), 0, size, m.path).u32() != 0:   # locals cleared
        return None
    ops = m.body_ops(f)
    params, results = m.func_type(f).params, m.func_type(f).results
    n = len(params)
    if len(ops) < n + 2 or ops[:n] != [(LOCAL_GET, k) for k in range(n)] or ops[-1][0] != END:
        return None
    call, extra = ops[-2], ops[n:-2]
    if call[0] not in (CALL, RETURN_CALL) or call[1] >= len(m.functions):
        return None
    if any(code not in CONST_TYPES and code != REF_FUNC for code, _ in extra):
        return None
    callee = m.func_type(call[1])
    if tuple(callee.params[:n]) != tuple(params) or len(callee.params) != n + len(extra) or callee.results != results:
        return None
    for (code, _), want in zip(extra, callee.params[n:]):
        fits = want.is_ref if code == REF_FUNC else (want.heap is None and want.code == CONST_TYPES[code])
        if not fits:
            return None
    return call[1]


def forwarding_thunks(graph: CallGraph, build: AsyncifyBuild, candidates: Iterable[int]) -> dict[int, int]:
    """thunk → the function it forwards to, for the candidates that are thunks of an instrumented
    function, or of a thunk accepted here (a second -Oz run merges shared functions again), and whose
    instrumented callers all check for an unwind after calling them. That last condition is what makes
    merge-similar-functions' thunks safe: they were listed, so their callers check. A forwarder the
    list left out is not: its callers run on while the stack unwinds — it stays a missing function."""
    m = graph.module
    shaped = {f: c for f in candidates if (c := thunk_callee(m, f)) is not None}
    rev = graph.reverse("ignore")   # direct callers (and site nodes >= n)
    shaped = {f: c for f, c in shaped.items()
              if all((g, f) in build.checked_pairs for g in rev[f] if g in build.instrumented)}
    accepted: dict[int, int] = {}
    grew = True
    while grew:
        grew = False
        for f, c in shaped.items():
            if f not in accepted and (c in build.instrumented or c in accepted):
                accepted[f] = c
                grew = True
    return accepted
