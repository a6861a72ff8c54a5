"""The real PHP 8.3 builds WordPress Playground ships (npm `@php-wasm/node-8-3@3.1.54`), downloaded
once into a cache. Never committed: 23 MB each.

    python bench/php.py            # fetch both, print their paths
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@php-wasm/node-8-3@3.1.54"
MEMBERS = {"asyncify": "package/asyncify/8_3_33/php_8_3.wasm", "jspi": "package/jspi/8_3_33/php_8_3.wasm"}
CACHE = Path(os.environ.get("ASYNCIFY_DOCTOR_CACHE", Path.home() / ".cache" / "asyncify-doctor")) / "php-wasm-node-8-3-3.1.54"


def php_wasm(flavour: str) -> Path:
    """Path of the cached `asyncify` or `jspi` build, downloading the npm package if needed."""
    out = CACHE / flavour / "php_8_3.wasm"
    if out.exists():
        return out
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to download " + PACKAGE)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", PACKAGE, "--pack-destination", tmp, "--silent"], check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            for name, member in MEMBERS.items():
                dest = CACHE / name / "php_8_3.wasm"
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None, member
                part = dest.with_suffix(".part")
                part.write_bytes(src.read())
                part.replace(dest)
    return out


if __name__ == "__main__":
    for flavour in MEMBERS:
        print(flavour, php_wasm(flavour), file=sys.stdout)
