#!/usr/bin/env python3
"""Build the C fixtures (tests/fixtures/src/*.c → tests/fixtures/build/*.wasm) and, with --demo,
the example shipped in the package (src/asyncify_doctor/examples/demo.wasm)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from asyncify_doctor.runtime.toolchain import build_all, compile_c  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--demo", action="store_true", help="also rebuild the shipped demo.wasm")
    args = ap.parse_args()
    for name, path in build_all(ROOT / "tests/fixtures/src", ROOT / "tests/fixtures/build").items():
        print(f"{name:14s} {path.stat().st_size:6d} bytes  {path.relative_to(ROOT)}")
    if args.demo:
        examples = ROOT / "src/asyncify_doctor/examples"
        out = compile_c(examples / "demo.c", examples / "demo.wasm")
        print(f"{'demo':14s} {out.stat().st_size:6d} bytes  {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
