"""Run any passes with the bundled libbinaryen (Binaryen 116, PyPI icpp-binaryen) in this child process,
as wasm-opt would: `python tests/libbinaryen_run.py IN [-o OUT] [-g] [--pass-arg K@V] PASS|-O2|-O3|-Os|-Oz...`. Tests use it to
see what Binaryen 116 itself does (its function map, its asyncify) where npm has no 116 wasm-opt."""
from __future__ import annotations

import sys

from cffi import FFI

from asyncify_doctor.binaryen import _CDEF, _libbinaryen_path


def main(argv: list[str]) -> int:
    args, passes, pass_args, out = argv[1:], [], [], None
    src = args.pop(0)
    while args:
        a = args.pop(0)
        if a == "--pass-arg":
            pass_args.append(args.pop(0))
        elif a == "-o":
            out = args.pop(0)
        else:
            passes.append(a)
    ffi = FFI()
    ffi.cdef(_CDEF)
    lib = ffi.dlopen(str(_libbinaryen_path()))
    libc = ffi.dlopen(None)
    with open(src, "rb") as fh:
        data = fh.read()
    module = lib.BinaryenModuleRead(ffi.new("char[]", data), len(data))
    lib.BinaryenModuleSetFeatures(module, lib.BinaryenFeatureAll())
    lib.BinaryenSetDebugInfo(out is not None and "-g" in passes)
    keep = []
    for arg in pass_args:
        key, _, value = arg.partition("@")
        keep += [ffi.new("char[]", key.encode()), ffi.new("char[]", value.encode())]
        lib.BinaryenSetPassArgument(keep[-2], keep[-1])
    levels = {"-O2": (2, 0), "-O3": (3, 0), "-Os": (2, 1), "-Oz": (2, 2)}
    sys.stdout.flush()
    for p in passes:   # in order, as wasm-opt runs them: a pass, or the default pipeline at a level
        if p in levels:
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
