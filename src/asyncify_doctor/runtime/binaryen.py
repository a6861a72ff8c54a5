"""Binaryen's real asyncify pass, run with our list: the proof that a list works needs the real
transform, not a model of it.

Two backends, picked by what is installed:
- `libbinaryen`: the shared library bundled by the PyPI package `icpp-binaryen` (Binaryen 116),
  driven through its C API with cffi (`BinaryenSetPassArgument` + `BinaryenModuleRunPasses`).
  It runs in a child process, because Binaryen aborts the whole process on fatal errors.
- `wasm-opt`: an executable — npm's `binaryen` package (a node script, Binaryen 132; installed by
  this repo's package.json), or one on PATH (Debian's is Binaryen 108).

    python -m asyncify_doctor.runtime.binaryen IN.wasm OUT.wasm [--onlylist a,b] [--imports env.x] ...
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DoctorError

_CDEF = """
typedef void* BinaryenModuleRef;
typedef struct { void* binary; size_t binaryBytes; char* sourceMap; } BinaryenModuleAllocateAndWriteResult;
BinaryenModuleRef BinaryenModuleRead(char* input, size_t inputSize);
void BinaryenModuleDispose(BinaryenModuleRef module);
uint32_t BinaryenFeatureAll(void);
void BinaryenModuleSetFeatures(BinaryenModuleRef module, uint32_t features);
void BinaryenSetPassArgument(const char* name, const char* value);
void BinaryenClearPassArguments(void);
void BinaryenSetDebugInfo(bool on);
void BinaryenSetOptimizeLevel(int level);
void BinaryenSetShrinkLevel(int level);
void BinaryenModuleRunPasses(BinaryenModuleRef module, const char** passes, uint32_t numPasses);
void BinaryenModuleOptimize(BinaryenModuleRef module);
bool BinaryenModuleValidate(BinaryenModuleRef module);
BinaryenModuleAllocateAndWriteResult BinaryenModuleAllocateAndWrite(BinaryenModuleRef module, const char* sourceMapUrl);
void free(void* ptr);
"""


class BinaryenUnavailable(DoctorError):
    """No Binaryen to run the asyncify pass with."""

    def __str__(self) -> str:
        return ("no Binaryen found to run the asyncify pass: `pip install icpp-binaryen` (bundles "
                "libbinaryen), or `npm install binaryen` (wasm-opt), or install wasm-opt on PATH")


class BinaryenFailed(DoctorError):
    """Binaryen rejected the module or crashed."""


@dataclass(frozen=True)
class AsyncifyOptions:
    onlylist: tuple[str, ...] | None = None
    removelist: tuple[str, ...] | None = None
    addlist: tuple[str, ...] | None = None
    propagate_addlist: bool = False
    imports: tuple[str, ...] | None = None
    ignore_indirect: bool = False
    asserts: bool = False
    optimize_level: int = 0

    def pass_args(self) -> dict[str, str]:
        args: dict[str, str] = {}
        if self.imports is not None:
            args["asyncify-imports"] = ",".join(self.imports)
        if self.onlylist is not None:
            args["asyncify-onlylist"] = ",".join(self.onlylist)
        if self.removelist is not None:
            args["asyncify-removelist"] = ",".join(self.removelist)
        if self.addlist is not None:
            args["asyncify-addlist"] = ",".join(self.addlist)
        if self.propagate_addlist:
            args["asyncify-propagate-addlist"] = ""
        if self.ignore_indirect:
            args["asyncify-ignore-indirect"] = ""
        if self.asserts:
            args["asyncify-asserts"] = ""
        return args


def _repo_node_bin(package: str, name: str) -> Path | None:
    """`node_modules/PACKAGE/bin/NAME` of this checkout (not `.bin/`, where npm links one of several
    Binaryen versions under the same name)."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        cand = base / "node_modules" / package / "bin" / name
        if cand.exists():
            return cand
    return None


def wasm_opt_path(version: int | None = None) -> str | None:
    """npm's wasm-opt: the current one, or `binaryen-VERSION` (package.json installs a few older ones
    so tests can read what each version writes)."""
    env = os.environ.get("ASYNCIFY_DOCTOR_WASM_OPT")
    if env and version is None:
        return env
    local = _repo_node_bin("binaryen" if version is None else f"binaryen-{version}", "wasm-opt")
    if local or version is not None:
        return str(local) if local else None
    return shutil.which("wasm-opt")


def _libbinaryen_path() -> Path | None:
    try:
        import icpp_binaryen  # noqa: F401  (only to find its bundled library)
    except ImportError:
        return None
    lib = Path(icpp_binaryen.__file__).parent / "lib" / ("libbinaryen.dylib" if sys.platform == "darwin" else "libbinaryen.so")
    return lib if lib.exists() else None


def backends() -> dict[str, str]:
    """Available backends and their Binaryen versions."""
    out: dict[str, str] = {}
    lib = _libbinaryen_path()
    if lib is not None:
        version = (lib.parent / "version.txt")
        out["libbinaryen"] = version.read_text().strip() if version.exists() else "?"
    exe = wasm_opt_path()
    if exe:
        try:
            text = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
            m = re.search(r"version (\d+)", text)
            out["wasm-opt"] = m.group(1) if m else text.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return out


def asyncify(wasm: bytes, options: AsyncifyOptions = AsyncifyOptions(), backend: str = "auto") -> bytes:
    """Run Binaryen's asyncify pass (keeping the name section) and return the new binary."""
    older = backend.removeprefix("wasm-opt@")   # "wasm-opt@110": npm's binaryen-110
    exe = wasm_opt_path(int(older)) if older.isdigit() else None
    available = backends() if exe is None else {}
    if backend == "auto":
        backend = "libbinaryen" if "libbinaryen" in available else "wasm-opt"
    if exe is None and backend not in available:
        raise BinaryenUnavailable()
    with tempfile.TemporaryDirectory(prefix="asyncify-doctor-") as tmp:
        src, dst = Path(tmp) / "in.wasm", Path(tmp) / "out.wasm"
        src.write_bytes(wasm)
        if backend == "libbinaryen":
            cmd = [sys.executable, "-m", "asyncify_doctor.runtime.binaryen", str(src), str(dst)]
            for key, value in options.pass_args().items():
                cmd += ["--pass-arg", f"{key}@{value}" if value else key]
            cmd += ["-O", str(options.optimize_level)]
        else:
            cmd = [exe or wasm_opt_path() or "wasm-opt", str(src), "-o", str(dst), "-g", "--asyncify"]  # default features: output runs everywhere
            for key, value in options.pass_args().items():
                cmd.append(f"--pass-arg={key}@{value}" if value else f"--pass-arg={key}")
            if options.optimize_level:
                cmd.append(f"-O{options.optimize_level}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not dst.exists():
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise BinaryenFailed(f"Binaryen ({backend}) failed: {detail[-1] if detail else proc.returncode}")
        return dst.read_bytes()


def _run_libbinaryen(src: Path, dst: Path, pass_args: list[str], optimize_level: int) -> int:
    """In a child process: the C API calls. Names are kept (debug info on)."""
    from cffi import FFI

    lib_path = _libbinaryen_path()
    if lib_path is None:
        raise BinaryenUnavailable()
    ffi = FFI()
    ffi.cdef(_CDEF)
    lib = ffi.dlopen(str(lib_path))
    libc = ffi.dlopen(None)
    data = src.read_bytes()
    buf = ffi.new("char[]", data)
    module = lib.BinaryenModuleRead(buf, len(data))
    lib.BinaryenModuleSetFeatures(module, lib.BinaryenFeatureAll())
    lib.BinaryenSetDebugInfo(True)
    lib.BinaryenSetOptimizeLevel(optimize_level)
    lib.BinaryenClearPassArguments()
    keep = []
    for arg in pass_args:
        key, _, value = arg.partition("@")
        k, v = ffi.new("char[]", key.encode()), ffi.new("char[]", value.encode())
        keep += [k, v]
        lib.BinaryenSetPassArgument(k, v)
    names = [ffi.new("char[]", b"asyncify")]
    lib.BinaryenModuleRunPasses(module, ffi.new("const char*[]", names), len(names))
    if optimize_level:  # like `wasm-opt --asyncify -O2`: the default pipeline after the pass
        lib.BinaryenModuleOptimize(module)
    if not lib.BinaryenModuleValidate(module):
        print("asyncified module does not validate", file=sys.stderr)
        return 1
    result = lib.BinaryenModuleAllocateAndWrite(module, ffi.NULL)
    dst.write_bytes(ffi.buffer(result.binary, result.binaryBytes)[:])
    libc.free(result.binary)
    lib.BinaryenModuleDispose(module)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run Binaryen's asyncify pass via the bundled libbinaryen.")
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--pass-arg", action="append", default=[])
    ap.add_argument("-O", type=int, default=0)
    args = ap.parse_args(argv)
    return _run_libbinaryen(args.input, args.output, args.pass_arg, args.O)


if __name__ == "__main__":
    sys.exit(main())
