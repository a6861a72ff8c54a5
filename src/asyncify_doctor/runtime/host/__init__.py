"""Runtime harnesses: the host side of Asyncify, on wasmtime (Python) and node (JS).

They prove a list on real runs: an asyncified program suspends at its async imports, the host
awaits the real operation, and the program resumes — or the host says precisely how it broke.
"""
from .common import AsyncifyRunError, RunResult, STANDARD_ASYNC, standard_imports

__all__ = ["AsyncifyRunError", "RunResult", "STANDARD_ASYNC", "standard_imports"]
