"""Builds the optional C accelerator, `asyncify_doctor.accel._native`: one extension from one source per
stage (src/asyncify_doctor/accel/native/). If no C compiler is there, the install still succeeds and
the pure-Python twins (same results, ~6 MB/s for the code scan) are used instead."""
from setuptools import Extension, setup

NATIVE = "src/asyncify_doctor/accel/native"

setup(ext_modules=[Extension("asyncify_doctor.accel._native",
                             [f"{NATIVE}/{name}.c" for name in ("module", "decode", "graph", "lists")],
                             depends=[f"{NATIVE}/native.h"], optional=True, extra_compile_args=["-O2"])])
