"""The proof harness: fixtures' EXPECT blocks, building, asyncifying with a list, running on a host."""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify
from asyncify_doctor.runtime.host import AsyncifyRunError, node_host, wasmtime_host
from asyncify_doctor.lists import read_list

SRC = Path(__file__).parent / "fixtures" / "src"
ASYNC = ("env.sleep_ms", "env.fetch_value", "env.lock_ctl")
HOSTS = {"wasmtime": wasmtime_host.run, "node": node_host.run}


@dataclass
class Expect:
    name: str
    instrument: set[str]
    not_instrumented: set[str]
    runtime: set[str] = field(default_factory=set)    # listed, never instrumented (Binaryen's top-most runtime)
    exports: dict[str, int] = field(default_factory=dict)
    suspensions: dict[str, int] = field(default_factory=dict)
    prints: dict[str, list[int]] = field(default_factory=dict)
    analyze: list[str] = field(default_factory=list)   # extra `analyze` arguments the list is made with
    before: set[str] | None = None   # the list without the value analysis (`values`), when it differs
    traced: set[str] | None = None   # what `trace` sees when it differs: it records every call of an
    calls: dict[str, int] = field(default_factory=dict)   # async import, also those that do not suspend


def parse_expect(path: Path) -> Expect:
    block = re.search(r"EXPECT\n(.*?)\*/", path.read_text(), re.S).group(1)  # type: ignore[union-attr]
    exp = Expect(path.stem, set(), set())
    for line in block.splitlines():
        key, _, value = line.strip(" *").partition(":")
        value = value.strip()
        if key == "instrument":
            exp.instrument = set(value.split())
        elif key == "not-instrumented":
            exp.not_instrumented = set(value.split())
        elif key == "runtime":
            exp.runtime = set(value.split())
        elif key == "analyze":
            exp.analyze = value.split()
        elif key == "before":
            exp.before = set(value.split())
        elif key == "traced":
            exp.traced = set(value.split())
        elif key == "calls":
            name, n = value.split()
            exp.calls[name] = int(n)
        elif key == "export":
            name, _, result = value.partition("->")
            exp.exports[name.strip()] = int(result)
        elif key == "suspensions":
            name, n = value.split()
            exp.suspensions[name] = int(n)
        elif key == "prints":
            name, *vals = value.split()
            exp.prints[name] = [int(v) for v in vals]
    return exp


EXPECTS = {p.stem: parse_expect(p) for p in sorted(SRC.glob("*.c"))}


def cli_list(wasm: Path, out: Path, *extra: str) -> list[str]:
    """The list as users get it: `asyncify-doctor analyze … -o FILE`, read back by our reader."""
    subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(wasm), "--imports", ",".join(ASYNC),
                    "--format", "binaryen", "-o", str(out), *extra], check=True, capture_output=True)
    return read_list(out).entries


@lru_cache(maxsize=None)
def asyncified(wasm: Path, onlylist: tuple[str, ...] | None, backend: str = "libbinaryen") -> Path:
    out = wasm.with_name(f"{wasm.stem}.{abs(hash((onlylist, backend))):x}.async.wasm")
    out.write_bytes(asyncify(wasm.read_bytes(), AsyncifyOptions(onlylist=onlylist, imports=ASYNC), backend))
    return out


def failure(host: str, wasm: Path, exp: Expect) -> str | None:
    """None if every export runs correctly; else what went wrong (a detected crash or a wrong result)."""
    for export, want in exp.exports.items():
        try:
            res = HOSTS[host](wasm, export)
        except AsyncifyRunError as err:
            return f"{export}: {err}"
        got = (res.value, res.suspensions, res.prints)
        expected = (want, exp.suspensions.get(export, res.suspensions), exp.prints.get(export, []))
        if got != expected:
            return f"{export}: wrong result {got}, expected {expected}"
    return None
