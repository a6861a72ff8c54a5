"""The typed Python API the CLI is a thin layer over.

    from asyncify_doctor.api import run_analysis
    result = run_analysis("php.wasm", imports=["env.js_*"], mode="typed")
    print(result.analysis.names())
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .analysis import Analysis, analyze
from .callgraph import CallGraph, HostTable, IndirectMode
from .decode import Module, read_module
from .patterns import ImportSelection, expand_args, select_imports


class Progress:
    """A progress line on stderr, shown only when decoding takes over a second and stderr is a TTY."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, delay: float = 1.0) -> None:
        self.label, self.stream, self.delay = label, stream, delay
        self.start = time.monotonic()
        self.shown = False
        self.enabled = stream.isatty() and not os.environ.get("CI")

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        pct = 100 * done // max(total, 1)
        self.stream.write(f"\r{self.label}: {pct:3d}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (len(self.label) + 30) + "\r")
            self.stream.flush()


def load_module(path: str | os.PathLike[str], accelerate: bool = True) -> Module:
    progress = Progress(f"decoding {Path(path).name}")
    try:
        return read_module(path, progress=progress, accelerate=accelerate)
    finally:
        progress.finish()


@dataclass
class AnalysisResult:
    module: Module
    graph: CallGraph
    selection: ImportSelection
    analysis: Analysis


def observed_edges(module: Module, stacks: list[dict]) -> dict[int, dict[int, str]]:
    """Caller → callee pairs seen in recorded stacks (innermost frame first), matched to this binary by
    name (by index when a frame has no name), plus each innermost frame → the import it called; each
    with where it was first seen (`trace.origin`), for `why`."""
    if not stacks:
        return {}
    from .trace import origin

    by_name = {f.name: f.index for f in module.functions}
    by_key = {f.import_key: f.index for f in module.functions if f.imported}
    edges: dict[int, dict[int, str]] = {}
    for st in stacks:
        idx = [by_name.get(f.get("name")) if f.get("name") else f.get("index") for f in st["frames"]]
        idx = [i for i in idx if isinstance(i, int) and 0 <= i < len(module.functions)]
        imp = by_key.get(st.get("import"))
        where = origin(st)
        pairs = list(zip(idx[1:], idx)) + ([(idx[0], imp)] if idx and imp is not None else [])
        for caller, callee in pairs:
            edges.setdefault(caller, {}).setdefault(callee, where)
    return edges


def run_analysis(wasm: str | os.PathLike[str] | Module, imports: list[str] | None = None,
                 mode: IndirectMode = "typed", host_table: HostTable = "sound",
                 extra_edges: dict[int, set[int]] | None = None, observed: list[dict] | None = None) -> AnalysisResult:
    """Decode (unless given a Module), build the call graph and compute the async closure.

    `imports` are `module.name` patterns (with `*`), or `@file` references; None or [] means every
    import is async, as in Binaryen without `asyncify-imports`.
    """
    module = wasm if isinstance(wasm, Module) else load_module(wasm)
    graph = CallGraph(module, host_table)
    selection = select_imports(module, expand_args(imports or []))
    seen = observed_edges(module, observed or [])
    extra_edges = {**(extra_edges or {})}
    for caller, callees in seen.items():
        extra_edges[caller] = extra_edges.get(caller, set()) | set(callees)
    analysis = analyze(graph, selection.functions, mode, extra_edges)
    analysis.origins = {(caller, callee): where for caller, callees in seen.items() for callee, where in callees.items()}
    return AnalysisResult(module, graph, selection, analysis)
