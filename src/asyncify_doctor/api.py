"""The Python API: what the commands do, as functions that return results and print nothing.

    import asyncify_doctor
    result = asyncify_doctor.analyze("app.wasm", imports=["env.fetch_*", "env.sleep_ms"])
    result.names                     # the onlylist
    print(result.why("dispatch"))    # a shortest chain to an async import, in words
    result.to_json()                 # what `analyze --format json` writes (schema asyncify-doctor/analyze/1)

    report = asyncify_doctor.audit("app.async.wasm")
    report.missing                   # functions that can unwind but were not instrumented
    asyncify_doctor.jspi("app.wasm", imports=["env.fetch_*"]).exports_to_wrap

A binary is a path, the bytes of one, or a decoded `decode.Module`. Errors are `errors.DoctorError`
(an `InputError` for a file that cannot be read or decoded, a `UsageError` for arguments that contradict
each other); nothing goes to stdout or stderr.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Union

from .analysis.audit import AuditReport, run_audit
from .analysis.binaryen_lists import BinaryenLists
from .analysis.closure import Analysis
from .analysis.jspi import DEFAULT_REENTERS, JspiReport, jspi_report, migration, with_glue
from .analysis.pipeline import AnalysisResult, load_module, prepare, run_analysis
from .decode import Module, decode, display_name
from .errors import InputError, UsageError
from .graph.callgraph import HostTable, IndirectMode
from .lists import format_names, read_list
from .render import report
from .render.audit import report_json as audit_json
from .render.audit import report_sarif, report_text
from .render.jspi import report_json as jspi_json
from .render.jspi import report_text as jspi_text
from .traces.stacks import read_observed

if TYPE_CHECKING:
    from .analysis.glue_imports import GlueUse
    from .graph.values import HostMemory

Binary = Union[str, "os.PathLike[str]", bytes, Module]
__all__ = ["AuditResult", "Binary", "JspiResult", "ListResult", "analyze", "audit", "jspi", "load"]


def load(wasm: Binary) -> Module:
    """A decoded binary: from a path, from bytes, or as given."""
    if isinstance(wasm, Module):
        return wasm
    if isinstance(wasm, (bytes, bytearray, memoryview)):
        return decode(bytes(wasm), "<bytes>")
    return load_module(wasm)


def _stacks(observed: Iterable[str | os.PathLike[str] | dict] | None) -> list[dict] | None:
    """Recorded stacks: paths of `trace` files, or stacks already read."""
    if not observed:
        return None
    out: list[dict] = []
    for item in observed:
        out += [item] if isinstance(item, dict) else read_observed(item)
    return out


def _entries(given: str | os.PathLike[str] | Iterable[str] | None) -> list[str] | None:
    """A list: a file in any layout the tool reads, or the names themselves."""
    if given is None:
        return None
    if isinstance(given, (str, os.PathLike)):
        return read_list(given).entries
    return list(given)


@dataclass
class ListResult:
    """What `analyze` computes: the functions that can be on the stack at an async import."""

    result: AnalysisResult = field(repr=False)

    @property
    def analysis(self) -> Analysis:
        return self.result.analysis

    @property
    def names(self) -> list[str]:
        """The onlylist, each name once, in index order (what `analyze` writes)."""
        return list(dict.fromkeys(self.analysis.names()))

    @property
    def functions(self) -> list[int]:
        """The same, as function indices."""
        return list(self.analysis.listed)

    @property
    def async_imports(self) -> list[str]:
        m = self.result.module
        return [display_name(m, i) for i in self.analysis.async_imports]

    @property
    def unmatched_imports(self) -> list[str]:
        """`imports` patterns that match no import of the binary (typos?)."""
        return list(self.result.selection.unmatched)

    def _function(self, name: str | int) -> int:
        f = report.find_function(self.result.module, str(name))
        if f is None:
            close = report.suggest(self.result.module, str(name))
            raise UsageError(f"no function named {name!r} in {self.result.module.path}"
                             + (f"; did you mean: {', '.join(close)}?" if close else ""))
        return f

    def __contains__(self, name: str) -> bool:
        f = report.find_function(self.result.module, name)
        return f is not None and f in set(self.analysis.listed)

    def chain(self, name: str | int) -> list[str]:
        """A shortest chain from `name` to an async import (empty when it is not in the list)."""
        return [step["function"] for step in report.chain_names(self.analysis, self._function(name))]

    def why(self, name: str | int) -> str:
        """Why `name` must be instrumented, or why not, as `asyncify-doctor why` says it."""
        return report.why_text(self.analysis, self._function(name))[0]

    def stats(self) -> dict[str, Any]:
        """The counts of `analyze --stats`, and `estimated_added_bytes`: what Binaryen's asyncify pass
        adds with this list, {"O0", "O2", "Oz"} (analysis/cost.py, docs/cost.md)."""
        return report.stats(self.analysis)

    def to_list(self, format: str = "list", *, binaryen_version: int | None = None) -> str:  # noqa: A002
        """The list as a build reads it: `list`, `emscripten` or `binaryen`."""
        return format_names(self.names, format, binaryen_version=binaryen_version)

    def to_json(self) -> dict[str, Any]:
        """`analyze --format json` (schema `asyncify-doctor/analyze/1`)."""
        return report.json_report(self.analysis, glue=self.result.selection.glue)


@dataclass
class AuditResult:
    """What `audit` finds in an asyncified binary."""

    report: AuditReport = field(repr=False)

    @property
    def asyncified(self) -> bool:
        return self.report.info.asyncified

    @property
    def missing(self) -> list[str]:
        """Functions that can be on the stack when an unwind starts but were not instrumented."""
        return [f.name for f in self.report.missing]

    @property
    def unneeded(self) -> list[str]:
        return [f.name for f in self.report.unneeded]

    @property
    def ok(self) -> bool:
        """Nothing missing and no unchecked call: what `audit`'s exit status 0 says."""
        return not self.report.missing and not self.report.unchecked_calls

    def to_text(self, top: int = 10) -> str:
        return report_text(self.report, top)

    def to_json(self) -> dict[str, Any]:
        """`audit --format json` (schema `asyncify-doctor/audit/1`)."""
        return audit_json(self.report)

    def to_sarif(self) -> dict[str, Any]:
        from .version import __version__
        return report_sarif(self.report, __version__)


@dataclass
class JspiResult:
    """What a JSPI build must mark, and its JS-frame hazards."""

    report: JspiReport = field(repr=False)

    @property
    def exports_to_wrap(self) -> list[str]:
        return list(self.report.suspending_exports)

    @property
    def suspending_imports(self) -> list[str]:
        return [display_name(self.report.module, i) for i in self.report.suspending_imports]

    @property
    def hazards(self) -> int:
        return len(self.report.hazards)

    def to_text(self) -> str:
        return jspi_text(self.report)

    def to_json(self) -> dict[str, Any]:
        """`jspi --format json` (schema `asyncify-doctor/jspi/1`)."""
        return jspi_json(self.report)


def analyze(wasm: Binary, *, imports: Iterable[str] | None = None, indirect: IndirectMode = "typed",
            host_table: HostTable | None = None, observed: Iterable[str | os.PathLike[str] | dict] | None = None,
            emscripten: bool | None = None, trampolines: str = "typed", ignore_imports: bool = False,
            glue: str | os.PathLike[str] | None = None, host_memory: HostMemory = "sound",
            async_when: Iterable[str] | None = None) -> ListResult:
    """The functions that can be on the stack when an async import is called (`asyncify-doctor analyze`).

    `imports`: `module.name` patterns with `*` (or `@file`); None means Binaryen's default, every
    import (for an Emscripten build, the imports emcc makes async by itself). `observed`: stacks files
    written by `trace`, or their stacks. `glue`: the build's Emscripten JS glue (docs/glue.md): without
    `imports` its async imports are the selection, and without `host_table` it decides that (else
    `sound`); `result.analysis`'s selection keeps what it said (`selection.glue`). `host_memory="module"`:
    trust the host not to write the module's static data (loads of it may then prove a call_indirect's
    index). `async_when`: `IMPORT:ARG=V[,V…]` statements that an async import suspends only for those
    values of one argument (e.g. `env.__syscall_fcntl64:1=14`): calls proven to pass other values do not
    make their caller async."""
    imports = list(imports) if imports is not None else None
    if imports is not None and not imports and not ignore_imports:
        raise UsageError("imports=[] names no import; pass None to treat every import as async (Binaryen's default)")
    module = load(wasm)
    return ListResult(run_analysis(module, imports, indirect, host_table, observed=_stacks(observed),
                                   emscripten=emscripten, trampolines=trampolines,  # type: ignore[arg-type]
                                   ignore_imports=ignore_imports, glue=_glue(glue, module), host_memory=host_memory,
                                   async_when=list_or_none(async_when)))


def audit(wasm: Binary, *, imports: Iterable[str] | None = None, list: str | os.PathLike[str] | Iterable[str] | None = None,  # noqa: A002
          remove_list: str | os.PathLike[str] | Iterable[str] | None = None,
          add_list: str | os.PathLike[str] | Iterable[str] | None = None, propagate_add: bool = False,
          indirect: IndirectMode = "typed", host_table: HostTable | None = None,
          observed: Iterable[str | os.PathLike[str] | dict] | None = None, emscripten: bool | None = None,
          trampolines: str = "typed", ignore_imports: bool = False,
          glue: str | os.PathLike[str] | None = None, host_memory: HostMemory = "sound",
          async_when: Iterable[str] | None = None) -> AuditResult:
    """Read an asyncified binary and compare what it instrumented with what can unwind (`asyncify-doctor
    audit`). Without `imports`, the async imports are the ones the build itself treated as async. The
    lists (onlylist, removelist, addlist) are files in any layout, or the entries themselves. `glue`:
    the build's JS glue: its async imports (without `imports`), compared with the binary's checks.
    `host_memory` and `async_when` as for `analyze`: give the ones the list was made with."""
    lists = BinaryenLists(_entries(list), _entries(remove_list), _entries(add_list), propagate_add)
    module = load(wasm)
    return AuditResult(run_audit(module, list_or_none(imports), indirect, host_table, lists=lists,
                                 observed=_stacks(observed), emscripten=emscripten,
                                 trampolines=trampolines, ignore_imports=ignore_imports,  # type: ignore[arg-type]
                                 glue=_glue(glue, module), host_memory=host_memory,
                                 async_when=list_or_none(async_when)))


def jspi(wasm: Binary, *, imports: Iterable[str] | None = None, indirect: IndirectMode = "typed",
         host_table: HostTable | None = None, reenters: Iterable[str] | None = None,
         list: str | os.PathLike[str] | Iterable[str] | None = None, asyncify_build: Binary | None = None,  # noqa: A002
         emscripten: bool | None = None, glue: str | os.PathLike[str] | None = None,
         host_memory: HostMemory = "sound") -> JspiResult:
    """What a JSPI build must wrap with `WebAssembly.promising`, the imports that may suspend, and the
    paths on which a suspension would cross a JS frame (`asyncify-doctor jspi`). `list`: the
    JSPI_EXPORTS in use (missing and needless wraps); `asyncify_build`: the Asyncify build of the same
    program, for a migration summary; `glue`: the build's JS glue, whose wraps are split into wrapped,
    missing and needless (`report.glue_wraps`). No `async_when`: under JSPI every call of a suspending
    import suspends (the JS API awaits even a plain value)."""
    use = _glue(glue, module := load(wasm))
    module, selection, graph = prepare(module, list_or_none(imports), indirect, host_table,
                                       emscripten=emscripten, trampolines="async", glue=use, host_memory=host_memory)
    rep = jspi_report(graph, selection.functions, indirect, tuple(reenters or DEFAULT_REENTERS), _entries(list))
    if use is not None:
        with_glue(rep, use)
    if asyncify_build is not None:
        rep.migration = migration(load(asyncify_build), module)
    return JspiResult(rep)


def _glue(path: str | os.PathLike[str] | None, module: Module) -> "GlueUse | None":
    """The JS glue at `path` joined with `module`; InputError (a GlueError) when it cannot be read or is
    not this binary's glue, as `--glue` on the command line."""
    if path is None:
        return None
    from .analysis.glue_imports import glue_use
    from .emscripten import read_glue
    use = glue_use(read_glue(path), module, found=False)
    if use.unusable is not None:
        raise InputError(str(path), None, f"cannot be read as the JS glue of {module.path}: {use.unusable}")
    return use


def list_or_none(items: Iterable[str] | None) -> list[str] | None:
    return None if items is None else [*items]
