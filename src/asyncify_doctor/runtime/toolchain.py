"""Compiling C to wasm32 with function names kept: clang and wasm-ld from the PyPI `ziglang` package,
so `pip` alone sets up the fixtures' toolchain (no emsdk, no apt).

Flags: freestanding wasm32 (no libc, no WASI imports), `-O2` with `noinline` on the functions the
fixtures talk about, `-g0` (no DWARF) but the name section kept (wasm-ld writes it unless stripped).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from ..errors import DoctorError

CFLAGS = ["--target=wasm32-freestanding", "-O2", "-g0", "-nostdlib", "-fno-builtin",
          "-Wl,--no-entry"]  # wasm-ld exports `memory` by itself


class ToolchainUnavailable(DoctorError):
    def __str__(self) -> str:
        return "no C-to-wasm compiler: `pip install ziglang` (it ships clang and wasm-ld for wasm32)"


def zig_cc() -> list[str]:
    if importlib.util.find_spec("ziglang") is None:
        raise ToolchainUnavailable()
    return [sys.executable, "-m", "ziglang", "cc"]


def source_flags(source: Path) -> list[str]:
    """Extra flags a source asks for in a ` * CFLAGS: …` comment line (e.g. -Wl,--export-table)."""
    for line in source.read_text().splitlines():
        if line.strip(" */").startswith("CFLAGS:"):
            return line.strip(" */").removeprefix("CFLAGS:").split()
    return []


def compile_c(source: Path, output: Path, extra: list[str] | None = None) -> Path:
    """Compile one C file (its folder on the include path) to `output`; raises with clang's message."""
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = zig_cc() + CFLAGS + [f"-I{source.parent}", *source_flags(source), *(extra or []), "-o", str(output), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DoctorError(f"compiling {source.name} failed:\n{proc.stderr.strip()}")
    return output


def build_all(sources: Path, out_dir: Path) -> dict[str, Path]:
    """Build every `*.c` in `sources` into `out_dir` (skipping outputs newer than their inputs)."""
    header_mtime = max((h.stat().st_mtime for h in sources.glob("*.h")), default=0.0)
    built = {}
    for src in sorted(sources.glob("*.c")):
        out = out_dir / f"{src.stem}.wasm"
        if not out.exists() or out.stat().st_mtime < max(src.stat().st_mtime, header_mtime):
            compile_c(src, out)
        built[src.stem] = out
    return built
