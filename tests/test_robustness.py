"""Valid but extreme binaries (bench/extreme.py makes them): no recursion limits, sane results, both
scanners agree. The full scaling curve is a benchmark (`python bench/extreme.py`), not a timed test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from contextlib import nullcontext

import pytest

from asyncify_doctor import accel
from asyncify_doctor.analysis.closure import analyze
from asyncify_doctor.graph.callgraph import CallGraph
from asyncify_doctor.decode import decode

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
import extreme  # noqa: E402


def closure(data: bytes, pure: bool = False):  # noqa: ANN201
    with accel.pure_python() if pure else nullcontext():
        m = decode(data, "extreme.wasm")
        g = CallGraph(m)
        return m, analyze(g, [0], "typed")


@pytest.mark.parametrize("pure", [False, True])
def test_ten_thousand_deep_call_chain(pure: bool) -> None:
    m, an = closure(extreme.many_functions(10_000), pure)
    assert len(an.members) == 10_000
    chain = an.chain(1)
    assert len(chain) == 10_001 and m.functions[chain[-1].function].import_key == "env.sleep_ms"


@pytest.mark.parametrize("pure", [False, True])
def test_deep_nesting_and_huge_function(pure: bool) -> None:
    assert len(closure(extreme.deep_nesting(50_000), pure)[1].members) == 1
    m, an = closure(extreme.huge_function(300_000), pure)
    assert an.members == [1] and m.code.counts[0] == 300_000


def test_recursion_cycle_and_huge_table() -> None:
    assert len(closure(extreme.recursion_cycles(20_000))[1].members) == 20_000
    m, an = closure(extreme.huge_table(200_000))
    assert set(an.names()) == {"wasm-function[1]", "wasm-function[3]"}   # the suspending entry and the caller


def test_long_duplicate_and_missing_names(tmp_path: Path) -> None:
    p = tmp_path / "names.wasm"
    p.write_bytes(extreme.long_names(65_536))
    out = subprocess.run([sys.executable, "-m", "asyncify_doctor", "analyze", str(p), "--imports", "env.sleep_ms"],
                         capture_output=True, text=True, check=True).stdout
    assert [len(line) for line in out.splitlines()] == [65_536] * 8   # names only: no header line
    p.write_bytes(extreme.duplicate_and_missing_names(10))
    cmd = [sys.executable, "-m", "asyncify_doctor", "analyze", str(p), "--imports", "env.sleep_ms"]
    refused = subprocess.run(cmd, capture_output=True, text=True)   # a one-per-line list is emcc's too
    assert refused.returncode == 2 and "no name in the name section" in refused.stderr and not refused.stdout
    proc = subprocess.run(cmd + ["--format", "binaryen"], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines().count("same") == 1 and len(set(proc.stdout.split())) == 10   # Binaryen's names
    assert "as Binaryen renames them" in proc.stderr and "no name in the name section" in proc.stderr


def _code_section(data: bytes) -> tuple[int, int]:
    from asyncify_doctor.decode.module import sections
    from asyncify_doctor.decode.reader import Reader
    return next((sec.pos, sec.end) for sid, _, sec in sections(Reader(data, 8)) if sid == 10)


@pytest.mark.parametrize("where", ["first half", "second half", "both halves", "last byte"])
def test_two_thread_scan_reports_the_first_error_like_the_one_piece_scan(where: str) -> None:
    """A code section over 1 MB is scanned as two halves on two threads; whatever breaks, and where, the
    result (or the first error in file order) is the pure-Python one-piece scan's."""
    from asyncify_doctor.errors import DecodeError
    assert accel.enabled()
    data = bytearray(extreme.many_functions(180_000))
    start, end = _code_section(bytes(data))
    assert end - start > 1 << 20
    # every body is `00 10 <callee> 0b` after its size: break a call opcode into an unknown one
    first, second = start + (end - start) // 4, start + 3 * (end - start) // 4
    spots = {"first half": [first], "second half": [second], "both halves": [first, second], "last byte": []}[where]
    for spot in spots:
        data[data.index(b"\x10", spot)] = 0xFF
    if where == "last byte":
        data[end - 1] = 0x01   # the last body's `end` becomes a nop: it runs off its size
    outcomes = []
    for pure in (False, True):
        try:
            with accel.pure_python() if pure else nullcontext():
                m = decode(bytes(data), "big.wasm")
            outcomes.append(("ok", m.code))
        except DecodeError as exc:
            outcomes.append(("error", exc.offset, exc.message, exc.function))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "error"


def test_two_thread_scan_equals_one_piece_scan() -> None:
    data = extreme.recursion_cycles(180_000)
    fast = decode(data, "c.wasm")
    with accel.pure_python():
        slow = decode(data, "c.wasm")
    assert fast.code == slow.code
