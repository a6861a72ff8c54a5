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


def run_analysis(wasm: str | os.PathLike[str] | Module, imports: list[str] | None = None,
                 mode: IndirectMode = "typed", host_table: HostTable = "sound",
                 extra_edges: dict[int, set[int]] | None = None) -> AnalysisResult:
    """Decode (unless given a Module), build the call graph and compute the async closure.

    `imports` are `module.name` patterns (with `*`), or `@file` references; None or [] means every
    import is async, as in Binaryen without `asyncify-imports`.
    """
    module = wasm if isinstance(wasm, Module) else load_module(wasm)
    graph = CallGraph(module, host_table)
    selection = select_imports(module, expand_args(imports or []))
    return AnalysisResult(module, graph, selection, analyze(graph, selection.functions, mode, extra_edges))
