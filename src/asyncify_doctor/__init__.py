"""asyncify-doctor: minimal, provably safe Asyncify lists for WebAssembly.

Data flows one way: bytes → `decode.Module` → `callgraph.CallGraph` → `analysis.Analysis` →
outputs (`lists`, reports). The CLI is a thin layer over these.
"""
__version__ = "0.1.0"
