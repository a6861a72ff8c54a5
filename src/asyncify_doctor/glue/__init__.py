"""Emscripten's JS glue: what the running program treats as async and what JS wraps.

    from asyncify_doctor.glue import read_glue, join
    glue = read_glue("php_8_3.js")          # Glue: lists, import/export maps, table access
    facts = join(glue, read_module("php_8_3.wasm"))
"""
from .model import Evidence, Glue, JsExport, JsImport, NameList, TableAccess
from .reader import GlueError, find_glue, read_glue

__all__ = ["Evidence", "Glue", "GlueError", "JsExport", "JsImport", "NameList", "TableAccess", "find_glue",
           "read_glue"]
