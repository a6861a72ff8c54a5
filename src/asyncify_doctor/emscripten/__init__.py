"""What Emscripten builds say beyond the .wasm: emcc's own rules for which imports are async (`rules`),
and its JS glue (the .js/.mjs/.cjs emcc writes beside the .wasm): what the running program treats as
async, what JS wraps for JSPI, and the names minification hid.

    from asyncify_doctor.decode import read_module
    from asyncify_doctor.emscripten import read_glue, join, compare_async
    glue = read_glue("php_8_3.js")             # Glue: lists, marks, import/export maps, table access
    facts = join(glue, read_module("php_8_3.wasm"))
    facts.async_imports                        # the binary's imports the glue takes as async, with why
"""
from .join import (
                   AsyncComparison,
                   GlueFacts,
                   ImportFact,
                   ImportMismatch,
                   Reason,
                   WrapComparison,
                   compare_async,
                   compare_wraps,
                   join,
                   real_import_name,
)
from .model import Evidence, Glue, JsExport, JsImport, NameList, TableAccess
from .reader import GLUE_SUFFIXES, GlueError, find_glue, read_glue

__all__ = ["GLUE_SUFFIXES", "AsyncComparison", "Evidence", "Glue", "GlueError", "GlueFacts", "ImportFact",
           "ImportMismatch", "JsExport", "JsImport", "NameList", "Reason", "TableAccess", "WrapComparison",
           "compare_async", "compare_wraps", "find_glue", "join", "read_glue", "real_import_name"]
