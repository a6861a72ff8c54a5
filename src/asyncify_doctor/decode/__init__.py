"""Stage 1: bytes → Module. See `module.decode` / `module.read_module`."""
from .module import (ElementSegment, Export, Function, Global, Import, Module, SubType, Table, ValType,
                     decode, display_name, placeholder_name, read_module, shown_name)

__all__ = ["ElementSegment", "Export", "Function", "Global", "Import", "Module", "SubType", "Table",
           "ValType", "decode", "display_name", "placeholder_name", "read_module", "shown_name"]
