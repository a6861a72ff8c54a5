"""Fuzz every reader: mutated/truncated/spliced real binaries through the decoder (C and Python
scanners compared), random text through the list reader and the trace parser. Any exception other
than our one-line errors is a failure. Accepted mutants that `wasm-tools validate` rejects are
counted (we may be more lenient than the validator, never crash).

    python bench/fuzz.py [--n 10000] [--seed 1]
"""
from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import traceback
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from asyncify_doctor import accel  # noqa: E402
from asyncify_doctor.decode import decode  # noqa: E402
from asyncify_doctor.errors import DecodeError, InputError  # noqa: E402
from asyncify_doctor.lists import parse_list  # noqa: E402
from asyncify_doctor.traces import parse_log  # noqa: E402


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    how = rng.randrange(6)
    if how == 0:
        return bytes(b[:rng.randrange(len(b))])
    if how == 1:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(8, len(b))] = rng.randrange(256)
        return bytes(b)
    if how == 2:
        at = rng.randrange(8, len(b))
        return bytes(b[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + b[at:])
    if how == 3:
        at = rng.randrange(8, len(b))
        return bytes(b[:at] + b"\xff" * rng.randint(5, 11) + b[at:])
    if how == 4:
        a, c = sorted(rng.sample(range(8, len(b)), 2))
        return bytes(b[:a] + b[c:])
    a, c = sorted(rng.sample(range(8, len(b)), 2))        # spliced: a chunk duplicated elsewhere
    at = rng.randrange(8, len(b))
    return bytes(b[:at] + b[a:c] + b[at:])


def outcome(data: bytes, pure: bool) -> tuple:
    """What decoding makes of `data`: with the C twins, or (`pure`) with the pure-Python ones."""
    try:
        with accel.pure_python() if pure else nullcontext():
            m = decode(data, "fuzz.wasm")
    except DecodeError as exc:
        assert "\n" not in str(exc) and exc.offset is not None, str(exc)
        return ("rejected", exc.offset, exc.message)
    return ("accepted", m.code, m.data_uses)


def fuzz_decoder(seeds: list[bytes], n: int, rng: random.Random, validate: bool) -> dict[str, int]:
    stats = dict(inputs=0, rejected=0, accepted=0, accepted_but_invalid=0, disagreements=0, crashes=0)
    wasm_tools = shutil.which("wasm-tools") or str(Path(sys.executable).parent / "wasm-tools")
    tmp = Path(tempfile.mkdtemp()) / "m.wasm"
    for _ in range(n):
        data = mutate(rng.choice(seeds), rng)
        stats["inputs"] += 1
        try:
            fast, slow = outcome(data, False), outcome(data, True)
        except Exception:  # noqa: BLE001 - counting every way a reader can break
            stats["crashes"] += 1
            traceback.print_exc()
            continue
        stats["disagreements"] += fast != slow
        stats[fast[0]] += 1
        if fast[0] == "accepted" and validate:
            tmp.write_bytes(data)
            ok = subprocess.run([wasm_tools, "validate", "--features", "all", str(tmp)], capture_output=True).returncode == 0
            stats["accepted_but_invalid"] += not ok
    return stats


def random_text(rng: random.Random) -> str:
    alphabet = 'abcxyz_ \n\t,"[]{}()<>#*@.:0123456789\\\'$=-❯!é\x00'
    pieces = ["RuntimeError: unreachable\n", "    at f (wasm://wasm/x:wasm-function[3]:0x1f)\n",
              "-sASYNCIFY_ONLY=[", '"zend_call_function",\\\n', "0: 0x12 - a.wasm!f\n", "Caused by:\n",
              "error while executing at wasm backtrace:\n", "f@http://x/a.wasm:wasm-function[9]:0x2\n"]
    out = []
    for _ in range(rng.randint(0, 30)):
        out.append(rng.choice(pieces) if rng.random() < 0.3 else "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))))
    return "".join(out)


def fuzz_text(n: int, rng: random.Random) -> dict[str, dict[str, int]]:
    lists = dict(inputs=0, read=0, rejected=0, crashes=0)
    traces = dict(inputs=0, crashes=0, crashes_found=0)
    for _ in range(n):
        text = random_text(rng)
        lists["inputs"] += 1
        try:
            parse_list(text, source="fuzz.list")
            lists["read"] += 1
        except InputError as exc:
            assert "\n" not in str(exc) and exc.offset is not None, str(exc)
            lists["rejected"] += 1
        except Exception:  # noqa: BLE001
            lists["crashes"] += 1
            traceback.print_exc()
        traces["inputs"] += 1
        try:
            traces["crashes_found"] += len(parse_log(text))
        except Exception:  # noqa: BLE001
            traces["crashes"] += 1
            traceback.print_exc()
    return {"list reader": lists, "trace parser": traces}


def seeds() -> list[bytes]:
    from conftest import build_wat
    from asyncify_doctor.commands.demo import demo_wasm
    tmp = Path(tempfile.mkdtemp())
    return [build_wat("features", tmp).read_bytes(), build_wat("memory64", tmp).read_bytes(), demo_wasm().read_bytes()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-validate", action="store_true", help="skip wasm-tools validate on accepted mutants")
    ap.add_argument("--php", type=int, default=0, metavar="N", help="also N mutants of the real PHP builds (slow)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    dec = fuzz_decoder(seeds(), args.n, rng, not args.no_validate)
    print(f"decoder:      {dec}")
    if args.php:
        from php import php_wasm
        php = [php_wasm(f).read_bytes() for f in ("jspi", "asyncify")]
        print(f"decoder, PHP: {fuzz_decoder(php, args.php, rng, False)}")
    for name, st in fuzz_text(args.n, rng).items():
        print(f"{name + ':':13s} {st}")
    return 1 if dec["crashes"] or dec["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
