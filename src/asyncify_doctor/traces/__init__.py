"""Crash traces as runtimes print them (node/V8, Chrome, Firefox, Safari, vitest/jest, wasmtime,
Wasmer, WAMR, Emscripten aborts, third-party Asyncify runtimes) → wasm frames, and frames → the
functions of a binary, mapped only through binaries shown to be the one that crashed or to share its
function index space."""
from .mapping import FrameMapper, IndexSpace, Mapped, same_index_space
from .parse import ASYNCIFY, BUG, UNKNOWN, Crash, Frame, parse_log

__all__ = ["ASYNCIFY", "BUG", "UNKNOWN", "Crash", "Frame", "FrameMapper", "IndexSpace", "Mapped", "parse_log",
           "same_index_space"]
