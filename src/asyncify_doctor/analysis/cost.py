"""CallGraph + a list's functions → the bytes Binaryen's asyncify pass will add: the estimate
`analyze --stats` prints, so a list's cost can be weighed without running Binaryen.

What the pass does to each listed function (src/passes/Asyncify.cpp): every call that can unwind —
a call of a listed function or of an async import, and every indirect call (with an onlylist even
under asyncify-ignore-indirect: `ModuleAnalyzer::canChangeState` instruments the indirect calls of
functions the user listed, `addedFromList`, version 132) — gets a check before it (rewinding into this call?) and after it
(unwinding?), and the code between such calls is guarded by a state check; the locals are saved to
the Asyncify data buffer when the function unwinds and reloaded when it rewinds. Functions outside
the list are left alone; the pass adds its runtime (the asyncify_* exports and two globals) once.

So the model, per listed defined function f, with what the decoder already counts in its one pass
over the code (`CodeScan.counts`: instructions, calls, indirect calls) and f's local declarations:

    added(f) = A * instructions(f) + B * unwinding_calls(f) + C * indirect_calls(f) + E * locals(f) + D

At O0 (the pass alone) the growth follows the code and the calls (E = 0: the locals add nothing
measurable); after `-O2`/`-Oz` what stays is the checks around the unwinding calls and the saving
of the locals that live across them (A = D = 0).

`unwinding_calls` is f's direct calls times the share of its distinct callees that can unwind (the
decoder keeps each callee once per function, not each call site).
The module's estimate is the sum plus the runtime's bytes.

The constants were fitted by `bench/cost_calibrate.py` on what `bench/list_cost.py` measured with the
real pass (Binaryen 132, npm's wasm-opt; each listed function's own growth at O0, 41,796 of them; the
totals at -O2/-Oz, where inlining moves code between functions) on the PHP 8.3 JSPI build and
quickjs-emscripten's release and debug sync builds, under every candidate list. docs/cost.md has the
measurements and the estimate's error on each: within 10% for every list of 100 functions or more
(Binaryen 116 grows 2-6% more at O0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..decode import Module
from ..decode.code import read_valtype
from ..decode.reader import Reader
from ..errors import DecodeError
from ..graph.callgraph import CallGraph

LEVELS = ("O0", "O2", "Oz")

# (A, B, C, E, D) per level, in bytes: bench/cost_calibrate.py on Binaryen 132 (docs/cost.md)
COEFFICIENTS: dict[str, tuple[float, float, float, float, float]] = {
    "O0": (4.694, 91.97, 86.08, 0, 0.3802),
    "O2": (0, 55.88, 116.5, 8.202, 0),
    "Oz": (0, 51.16, 113.3, 9.156, 0),
}
# the pass's runtime (asyncify_start_unwind & co., the state and data globals), once per module; at
# -O2/-Oz it also takes up what the pipeline removes less of in small lists
RUNTIME_BYTES: dict[str, float] = {"O0": 224.0, "O2": 540.0, "Oz": 521.0}


@dataclass(frozen=True)
class Shape:
    """What the pass's growth of one function depends on."""

    instructions: int
    unwinding_calls: float   # direct calls of listed functions or async imports (estimated per site)
    indirect_calls: int      # call_indirect / call_ref sites
    locals: int = 0          # params and declared locals (what unwinding saves, where they stay live)


def shapes(graph: CallGraph, funcs: Iterable[int], async_imports: Iterable[int]) -> dict[int, Shape]:
    """The `Shape` of each defined function in `funcs` (imports are never instrumented), when `funcs`
    is the list and `async_imports` the imports the pass is told can unwind."""
    m = graph.module
    n0 = m.num_imported_functions
    listed = {f for f in funcs if f >= n0}
    if not listed or m.code is None:
        return {}
    unwinds = bytearray(len(m.functions))   # 1: a call of it can unwind
    for f in listed.union(async_imports):
        unwinds[f] = 1
    counts, off, tgt = m.code.counts, graph.direct.off, graph.direct.tgt
    out: dict[int, Shape] = {}
    with m.rereading():
        for f in sorted(listed):
            i = 3 * (f - n0)
            lo, hi = off[f], off[f + 1]
            share = sum(map(unwinds.__getitem__, tgt[lo:hi])) / (hi - lo) if hi > lo else 0.0
            out[f] = Shape(counts[i], counts[i + 1] * share, counts[i + 2], local_count(m, f))
    return out


def local_count(m: Module, f: int) -> int:
    """Params plus the locals f's body declares (its local declarations, read from the binary)."""
    assert m.code is not None
    i = f - m.num_imported_functions
    start, size = m.code.bodies[2 * i], m.code.bodies[2 * i + 1]
    total = len(m.func_type(f).params)
    for length in (min(size, 48), size):   # the declarations are short; all of the body if not
        r = Reader(m.span(start, length), 0, length, m.path)
        try:
            declared = 0
            for _ in range(r.u32()):
                declared += r.u32()
                read_valtype(r)
            return total + declared
        except DecodeError:
            continue
    return total


def added(shape: Shape, level: str, functions: int = 1) -> float:
    """The model's growth at `level` of one function (or of `functions` functions whose shapes
    were summed into `shape`: the model is linear)."""
    a, b, c, e, d = COEFFICIENTS[level]
    return (a * shape.instructions + b * shape.unwinding_calls + c * shape.indirect_calls + e * shape.locals
            + d * functions)


def estimate(graph: CallGraph, funcs: Iterable[int], async_imports: Iterable[int]) -> dict[str, int]:
    """Estimated bytes the asyncify pass adds to the module when `funcs` is its onlylist, right after
    the pass (`O0`) and after the `-O2` / `-Oz` pipeline that emcc runs after it: {"O0", "O2", "Oz"}.
    Custom sections (names) are not counted; an empty list adds nothing."""
    sh = shapes(graph, funcs, async_imports).values()
    if not sh:
        return {level: 0 for level in LEVELS}
    total = Shape(sum(s.instructions for s in sh), sum(s.unwinding_calls for s in sh), sum(s.indirect_calls for s in sh),
                  sum(s.locals for s in sh))
    return {level: int(round(added(total, level, len(sh)) + RUNTIME_BYTES[level])) for level in LEVELS}
