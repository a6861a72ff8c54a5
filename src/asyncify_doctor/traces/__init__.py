"""Crash traces as users paste them (node/V8, Chrome, Firefox, Safari, vitest/jest, wasmtime,
Emscripten aborts) → wasm frames by name, feeding the same analysis as everything else."""
from .parse import Crash, Frame, parse_log, resolve

__all__ = ["Crash", "Frame", "parse_log", "resolve"]
