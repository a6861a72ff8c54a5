"""Run any passes with the bundled libbinaryen (Binaryen 116, PyPI icpp-binaryen) in this child process,
as wasm-opt would: `python tests/libbinaryen_run.py IN [-o OUT] [-g] [--pass-arg K@V] PASS|-O2|-O3|-Os|-Oz...`. Tests use it to
see what Binaryen 116 itself does (its function map, its asyncify) where npm has no 116 wasm-opt."""
from __future__ import annotations

import sys

from cffi import FFI

from asyncify_doctor.runtime.binaryen import _CDEF, _libbinaryen_path

# Binaryen 116's FeatureSet bits, in the order of its enum (src/wasm-features.h@116), by flag name
FLAGS_116 = ("threads", "mutable-globals", "nontrapping-float-to-int", "simd", "bulk-memory", "sign-ext",
             "exception-handling", "tail-call", "reference-types", "multivalue", "gc", "memory64", "relaxed-simd",
             "extended-const", "strings", "multimemory")
DEFAULT_116 = 1 << 1 | 1 << 5   # SignExt | MutableGlobals


def main(argv: list[str]) -> int:
    """With `--enable-X` flags or `validate`, the features are wasm-opt 116's: the defaults, the
    binary's target_features section and the flags (an unknown flag is an error, as there); else all."""
    args, passes, pass_args, out, enabled = argv[1:], [], [], None, None
    src = args.pop(0)
    while args:
        a = args.pop(0)
        if a == "--pass-arg":
            pass_args.append(args.pop(0))
        elif a == "-o":
            out = args.pop(0)
        elif a.startswith("--enable-"):
            if a.removeprefix("--enable-") not in FLAGS_116:
                print(f"Unknown option '{a}'", file=sys.stderr)
                return 1
            enabled = (enabled or 0) | 1 << FLAGS_116.index(a.removeprefix("--enable-"))
        else:
            passes.append(a)
    ffi = FFI()
    ffi.cdef(_CDEF + "uint32_t BinaryenModuleGetFeatures(BinaryenModuleRef module);")
    lib = ffi.dlopen(str(_libbinaryen_path()))
    libc = ffi.dlopen(None)
    with open(src, "rb") as fh:
        data = fh.read()
    module = lib.BinaryenModuleRead(ffi.new("char[]", data), len(data))
    if enabled is None and "validate" not in passes:
        lib.BinaryenModuleSetFeatures(module, lib.BinaryenFeatureAll())
    else:
        lib.BinaryenModuleSetFeatures(module, lib.BinaryenModuleGetFeatures(module) | DEFAULT_116 | (enabled or 0))
    lib.BinaryenSetDebugInfo(out is not None and "-g" in passes)
    keep = []
    for arg in pass_args:
        key, _, value = arg.partition("@")
        keep += [ffi.new("char[]", key.encode()), ffi.new("char[]", value.encode())]
        lib.BinaryenSetPassArgument(keep[-2], keep[-1])
    levels = {"-O2": (2, 0), "-O3": (3, 0), "-Os": (2, 1), "-Oz": (2, 2)}
    sys.stdout.flush()
    for p in passes:   # in order, as wasm-opt runs them: a pass, or the default pipeline at a level
        if p == "validate":
            if not lib.BinaryenModuleValidate(module):
                return 1
        elif p in levels:
            lib.BinaryenSetOptimizeLevel(levels[p][0])
            lib.BinaryenSetShrinkLevel(levels[p][1])
            lib.BinaryenModuleOptimize(module)
        elif p != "-g":
            name = ffi.new("char[]", p.encode())
            lib.BinaryenModuleRunPasses(module, ffi.new("const char*[]", [name]), 1)
    if out is not None:
        result = lib.BinaryenModuleAllocateAndWrite(module, ffi.NULL)
        with open(out, "wb") as fh:
            fh.write(ffi.buffer(result.binary, result.binaryBytes)[:])
        libc.free(result.binary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
