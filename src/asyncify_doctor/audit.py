"""Reading an already-asyncified binary: is it asyncified, where is its state, which functions did
Binaryen instrument.

Recognition rule (from Binaryen's Asyncify.cpp output): the pass adds a state global (or, in
Emscripten's relocatable builds, imports `env.__asyncify_state` / `env.__asyncify_data`) and the
exports `asyncify_start_unwind`, `asyncify_stop_unwind`, `asyncify_start_rewind`,
`asyncify_stop_rewind`, `asyncify_get_state`; `asyncify_get_state` returns the state global and
`asyncify_start_unwind` sets the data global. An instrumented function tests the state (to skip
ahead when rewinding, to save its locals when unwinding) and moves its locals and resume point
through the data buffer, so it reads both globals. With `asyncify-asserts`, functions that are NOT
instrumented read the state too (they trap if a call changed it), but never the data global — so
"reads the data global" is the rule; the pass's own helper functions are excluded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .callgraph import CallGraph
from .decode import Module

ASYNCIFY_EXPORTS = ("asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind",
                    "asyncify_stop_rewind", "asyncify_get_state")


@dataclass
class AsyncifyInfo:
    asyncified: bool
    state_global: int | None = None
    data_global: int | None = None
    helper_functions: set[int] = field(default_factory=set)   # the asyncify_* functions themselves
    instrumented: set[int] = field(default_factory=set)


def _global_by_import(module: Module, key: str) -> int | None:
    return next((g.index for g in module.globals if g.import_key == key), None)


def recognize(graph: CallGraph) -> AsyncifyInfo:
    m = graph.module
    exports = {e.name: e.index for e in m.exports if e.kind == "func"}
    if not all(name in exports for name in ASYNCIFY_EXPORTS):
        return AsyncifyInfo(False)
    helpers = {exports[name] for name in ASYNCIFY_EXPORTS}
    state = _global_by_import(m, "env.__asyncify_state")
    if state is None:
        reads = graph.facts(exports["asyncify_get_state"]).globals_read
        state = reads[0] if reads else None
    data = _global_by_import(m, "env.__asyncify_data")
    if data is None:
        written = [g for g in graph.facts(exports["asyncify_start_unwind"]).globals_written if g != state]
        data = written[0] if written else None
    instrumented = {f for f in range(m.num_imported_functions, len(m.functions))
                    if f not in helpers and data is not None and data in graph.facts(f).globals_read}
    return AsyncifyInfo(True, state, data, helpers, instrumented)


def instrumented_names(wasm: bytes) -> set[str]:
    """Names of the functions Binaryen instrumented in an asyncified binary."""
    from .decode import decode

    g = CallGraph(decode(wasm))
    return {g.module.functions[f].name for f in recognize(g).instrumented}
