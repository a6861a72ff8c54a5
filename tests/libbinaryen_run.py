"""Run any passes with the bundled libbinaryen (Binaryen 116, PyPI icpp-binaryen) in this child process,
as wasm-opt would: `python tests/libbinaryen_run.py IN [OUT] [--pass-arg K@V] PASS...`. Tests use it to
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
    names = [ffi.new("char[]", p.encode()) for p in passes if p != "-g"]
    sys.stdout.flush()
    lib.BinaryenModuleRunPasses(module, ffi.new("const char*[]", names), len(names))
    if out is not None:
        result = lib.BinaryenModuleAllocateAndWrite(module, ffi.NULL)
        with open(out, "wb") as fh:
            fh.write(ffi.buffer(result.binary, result.binaryBytes)[:])
        libc.free(result.binary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
