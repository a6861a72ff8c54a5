"""The decoder against the WebAssembly spec test suite (github.com/WebAssembly/testsuite, the core tests
and the proposals it carries): every `module` that `wasm-tools validate --features all` accepts must
decode, every `assert_malformed` binary must be rejected, and the C and pure-Python scanners must
agree on each (same result, or the same error at the same offset). `assert_invalid` modules are
counted, not judged: they are well-formed, and this tool decodes, it does not type-check.

    python bench/spec_testsuite.py [--repo PATH]

The suite is downloaded once (a pinned commit) into the cache; `--repo` (or the environment variable
ASYNCIFY_DOCTOR_SPEC_TESTSUITE) uses a checkout or a bare git directory of it instead. Each .wast is
turned into binaries by `wasm-tools json-from-wast`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from github_tree import unpack  # noqa: E402

COMMIT = "193e551ff22663995b1ac95dc62344133669e14b"
CACHE = Path(os.environ.get("ASYNCIFY_DOCTOR_CACHE", Path.home() / ".cache" / "asyncify-doctor")) / f"testsuite-{COMMIT[:7]}"


def fetch(repo: str | None = None) -> Path:
    repo = repo or os.environ.get("ASYNCIFY_DOCTOR_SPEC_TESTSUITE")
    if repo and (Path(repo) / "binary.wast").exists():
        return Path(repo)
    if (CACHE / "binary.wast").exists():
        return CACHE
    unpack("WebAssembly/testsuite", COMMIT, CACHE, lambda parts: parts[-1].endswith(".wast"), git_dir=repo)
    return CACHE


def outcome(data: bytes, pure: bool) -> tuple:
    """What decoding makes of `data`: with the C twins, or (`pure`) with the pure-Python ones."""
    from contextlib import nullcontext

    from asyncify_doctor import accel
    from asyncify_doctor.decode import decode
    from asyncify_doctor.errors import DecodeError
    try:
        with accel.pure_python() if pure else nullcontext():
            m = decode(data, "spec.wasm")
    except DecodeError as exc:
        return ("error", exc.offset, exc.message)
    return ("ok", len(m.functions), m.code, m.data_uses)


def run(repo: str | None = None) -> dict:
    from independent import validate, wasm_tools
    root = fetch(repo)
    stats: dict = {"files": 0, "valid decoded": 0, "valid rejected": [], "malformed rejected": 0,
                   "malformed accepted": [], "invalid (not judged)": 0, "scanners disagree": []}
    for wast in sorted(root.rglob("*.wast")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            conv = subprocess.run([wasm_tools(), "json-from-wast", str(wast), "-o", str(out / "x.json"),
                                   "--wasm-dir", str(out)], capture_output=True)
            if conv.returncode:   # text this wasm-tools cannot parse (a proposal's syntax it lacks)
                continue
            stats["files"] += 1
            for cmd in json.loads((out / "x.json").read_text())["commands"]:
                if cmd.get("module_type") != "binary" or "filename" not in cmd:
                    continue
                path = out / cmd["filename"]
                data = path.read_bytes()
                fast, slow = outcome(data, False), outcome(data, True)
                where = f"{wast.relative_to(root)}:{cmd['line']}"
                if fast != slow:
                    stats["scanners disagree"].append(where)
                if cmd["type"] == "module" and validate(path) is None:
                    if fast[0] == "ok":
                        stats["valid decoded"] += 1
                    else:
                        stats["valid rejected"].append(f"{where}: {fast[2]}")
                elif cmd["type"] == "assert_malformed":
                    if fast[0] == "error":
                        stats["malformed rejected"] += 1
                    else:
                        stats["malformed accepted"].append(f"{where}: {cmd.get('text')}")
                elif cmd["type"] == "assert_invalid":
                    stats["invalid (not judged)"] += 1
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", help="a checkout or bare git directory of WebAssembly/testsuite")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    stats = run(args.repo)
    for key, value in stats.items():
        print(f"{key:22s} {value if isinstance(value, int) else len(value)}")
        if isinstance(value, list):
            for item in value[:20]:
                print(f"    {item}")
    bad = stats["valid rejected"] or stats["malformed accepted"] or stats["scanners disagree"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
